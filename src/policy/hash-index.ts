/**
 * A small open-addressing multimap from 32-bit key hashes to non-negative ints, in typed
 * arrays (linear probing, backward-shift deletion, so no tombstones pile up). Policies use
 * it for the history of evicted keys, which they know only by hash.
 */
import type { Carver } from "../primitives/carver.ts";

/** Typed arrays backing a {@link HashIndex}. */
export interface HashIndexArrays {
  keys: Uint32Array;
  /** value + 1; 0 marks an empty cell. */
  vals: Int32Array;
}

/** Table size for at most `items` entries: a power of two, at most half full. */
export function hashIndexCells(items: number): number {
  let n = 8;
  while (n < items * 2) n *= 2;
  return n;
}

/** Carve the arrays for a table of `cells` cells. */
export function carveHashIndex(c: Carver, cells: number): HashIndexArrays {
  return { keys: c.u32(cells), vals: c.i32(cells) };
}

/** Spread a hash so clustered inputs don't cluster in the table. */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Operations over {@link HashIndexArrays}; holds no state of its own. */
export class HashIndex {
  private readonly mask: number;
  constructor(private readonly a: HashIndexArrays) {
    this.mask = a.keys.length - 1;
  }

  /** Cell of the first entry with `key`, or -1. */
  find(key: number): number {
    const { keys, vals } = this.a;
    key >>>= 0;
    for (let i = mix(key) & this.mask; ; i = (i + 1) & this.mask) {
      if (vals[i] === 0) return -1;
      if (keys[i] === key) return i;
    }
  }

  /** Cell holding exactly (`key`, `val`), or -1. */
  findPair(key: number, val: number): number {
    const { keys, vals } = this.a;
    key >>>= 0;
    for (let i = mix(key) & this.mask; ; i = (i + 1) & this.mask) {
      const v = vals[i]!;
      if (v === 0) return -1;
      if (keys[i] === key && v === val + 1) return i;
    }
  }

  /** The value stored in `cell`. */
  valueAt(cell: number): number {
    return this.a.vals[cell]! - 1;
  }

  /** Overwrite the value stored in `cell`. */
  setValueAt(cell: number, val: number): void {
    this.a.vals[cell] = val + 1;
  }

  /** Add an entry (duplicates of `key` allowed). The caller bounds the entry count. */
  add(key: number, val: number): void {
    const { keys, vals } = this.a;
    key >>>= 0;
    let i = mix(key) & this.mask;
    while (vals[i] !== 0) i = (i + 1) & this.mask;
    keys[i] = key;
    vals[i] = val + 1;
  }

  /** Delete the entry in `cell`, shifting later entries of its cluster back. */
  removeAt(cell: number): void {
    const { keys, vals } = this.a;
    const mask = this.mask;
    let hole = cell;
    let i = cell;
    for (;;) {
      i = (i + 1) & mask;
      if (vals[i] === 0) break;
      const home = mix(keys[i]!) & mask;
      // Move i back into the hole unless its home lies cyclically in (hole, i].
      const dist = (i - home) & mask;
      const holeDist = (i - hole) & mask;
      if (dist >= holeDist) {
        keys[hole] = keys[i]!;
        vals[hole] = vals[i]!;
        hole = i;
      }
    }
    vals[hole] = 0;
    keys[hole] = 0;
  }

  /** Remove everything. */
  clear(): void {
    this.a.vals.fill(0);
  }
}
