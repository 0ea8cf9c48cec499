/**
 * One stripe of an ArenaCache: an open-addressing index, per-slot metadata, an eviction
 * policy and an arena of slabs, all in typed arrays over three buffers (shareable with
 * Workers). No locking here: the cache takes the stripe's lock around every call.
 *
 * The arena is log-structured. Records (header, key, value) are appended to the head
 * slab; slabs form a ring, and each slab is a generation. When the head is full, the
 * oldest generation is recycled: its live entries are moved forward into the spare slab
 * (which becomes the new head), its expired entries are dropped, and the slab becomes the
 * next spare. So memory of deleted, replaced and expired entries comes back without
 * per-entry timers or a free-list allocator, and the arena never fragments for good.
 */
import { OffheapError } from "../errors.ts";
import type { LockContext } from "../primitives/shared-mutex.ts";
import { keyEquals, readKey, writeKey } from "./keys.ts";
import { attachPolicy, createPolicy, type EvictionPolicy, type PolicyName } from "../policy/index.ts";
import { type Allocator, layout, measureLayout, type Carver } from "../primitives/carver.ts";

/** Bytes charged per entry on top of its record (header, key, value, padding to 8, all
 * counted exactly): this covers the slot metadata (8 B) and index cells (16 B). */
export const ENTRY_OVERHEAD = 24;
/**
 * Record header, u32 words: slot id, record length, key bytes, value bytes; then the
 * expiry time as f64 (0: never). Records start 8-byte aligned. Everything a hit needs is
 * in the record, next to the key it compares: the index cell points at the record, so a
 * lookup costs the cell's cache miss and the record's, not a third for slot metadata.
 */
const HEADER = 24;
const INVALID = 0xffffffff;

/** Eviction reasons, in the order of their counters. */
export const REASONS = ["capacity", "expired", "deleted", "replaced"] as const;
/** Why an entry left the cache. */
export type EvictionReason = (typeof REASONS)[number];
/** Index of "capacity" in {@link REASONS}. */
export const CAPACITY = 0;
/** Index of "expired" in {@link REASONS}. */
export const EXPIRED = 1;
/** Index of "deleted" in {@link REASONS}. */
export const DELETED = 2;
/** Index of "replaced" in {@link REASONS}. */
export const REPLACED = 3;

/** Word of the stripe's state array holding its lock (byte 0 of the meta buffer: a futex word). */
export const LOCK = 0;
const COUNT = 1;
const FREE_TOP = 2;
const HEAD = 3;
const HEAD_OFF = 4;
/**
 * Word of the state array that is 1 while a change is under way. A lock holder sets it
 * before changing anything and clears it when the stripe is whole again, so a thread that
 * takes the lock and finds it set knows the last holder died mid-change.
 */
export const DIRTY = 5;
/** Word of the state array counting leases held (see lease.ts). */
export const LEASES_HELD = 6;

// ctr[] (Float64Array) indexes, changed only under the stripe's lock.
/** Counter index: bytes charged. */
export const C_BYTES = 0;
/** Counter index: hits. */
export const C_HITS = 1;
/** Counter index: misses. */
export const C_MISSES = 2;
/** Counter index: entries stored. */
export const C_SETS = 3;
/** Counter index of the first eviction reason; add the reason's index. */
export const C_EVICT = 4;
/** Counter index: generations recycled. */
export const C_COMPACTIONS = 8;
/** Counter index: bytes moved forward by recycling. */
export const C_MOVED = 9;
/** Counter index: sets refused as too large. */
export const C_REJECTED = 10;
/** Counter index: locks taken over from a holder that died. */
export const C_TAKEOVERS = 11;
/** Counter index: stripes reset because a holder died mid-change. */
export const C_RESETS = 12;
/** Counter index: entries those resets dropped. */
export const C_RESET_DROPS = 13;
const C_COUNT = 16;

/** Load leases per stripe (see lease.ts): distinct keys loading at once across processes. */
export const LEASES = 16;

/** Sizes that fix a stripe's layout. */
export interface ShardConfig {
  maxBytes: number;
  maxEntries: number;
  slabBytes: number;
  slabs: number;
  policy: PolicyName;
}

/** The buffers behind one stripe; what a Worker needs to attach. */
export interface ShardBuffers {
  meta: ArrayBufferLike;
  arena: ArrayBufferLike;
  policy: ArrayBufferLike;
}

function tableCells(entries: number): number {
  let n = 16;
  while (n < entries * 2) n *= 2;
  return n;
}

function buildMeta(c: Carver, cfg: ShardConfig) {
  const cap = cfg.maxEntries;
  return {
    st: c.i32(8),
    ctr: c.f64(C_COUNT),
    // Per-slot metadata, u32 [hash, record offset]: what removal and recycling need to
    // find a slot's index cell and record. Lookups never read it.
    meta: c.u32(cap * 2),
    free: c.i32(cap),
    // Index cells are (hash, record offset / 8 + 1) pairs: a probe compares hashes in the
    // cell and goes straight to the record, whose header holds the rest.
    table: c.i32(tableCells(cap) * 2),
    slabUsed: c.u32(cfg.slabs),
    // Load leases: (hash, token) pairs and deadlines.
    leases: c.i32(LEASES * 2),
    leaseUntil: c.f64(LEASES),
  };
}

/** Bytes one entry is charged: its padded record plus {@link ENTRY_OVERHEAD}. */
export function entryCost(keyBytes: number, valueBytes: number): number {
  return recordBytes(keyBytes, valueBytes) + ENTRY_OVERHEAD;
}

function recordBytes(keyBytes: number, valueBytes: number): number {
  return (HEADER + keyBytes + valueBytes + 7) & ~7;
}

/** One stripe. */
export class Shard {
  readonly st: Int32Array;
  readonly ctr: Float64Array;
  readonly policy: EvictionPolicy;
  readonly buffers: ShardBuffers;
  /** The arena's bytes. */
  readonly u8: Uint8Array;
  /** Slot metadata: `[s*2]` key hash, `[s*2+1]` record offset (INVALID: free slot). */
  private readonly m32: Uint32Array;
  /** The arena as u32 words and as f64 (record headers). */
  private readonly u32: Uint32Array;
  private readonly f64: Float64Array;
  private readonly free: Int32Array;
  private readonly table: Int32Array;
  private readonly mask: number;
  private readonly slabUsed: Uint32Array;
  /** Load leases: `[2i]` key hash, `[2i+1]` holder token (0: free), with `leaseUntil[i]`. */
  readonly leases: Int32Array;
  readonly leaseUntil: Float64Array;
  /**
   * Removed entries waiting for `onEvict`, as flat triples (key, value bytes, reason);
   * null when nobody listens, so removal copies nothing.
   */
  events: Array<string | Uint8Array | number> | null = null;
  /** How this handle takes the stripe's lock (shared caches; set by the cache). */
  lockCtx: LockContext | null = null;

  /** A new stripe with memory from `allocate`, or a view of `buffers` (attach). */
  constructor(readonly cfg: ShardConfig, allocate: Allocator, buffers?: ShardBuffers) {
    const meta = layout((c) => buildMeta(c, cfg), buffers?.meta, allocate);
    const a = meta.arrays;
    this.st = a.st;
    this.ctr = a.ctr;
    this.m32 = a.meta;
    this.free = a.free;
    this.table = a.table;
    this.mask = (a.table.length >>> 1) - 1;
    this.slabUsed = a.slabUsed;
    this.leases = a.leases;
    this.leaseUntil = a.leaseUntil;
    const arenaBytes = cfg.slabBytes * cfg.slabs;
    const arena = buffers?.arena ?? allocate(arenaBytes);
    if (arena.byteLength < arenaBytes) throw new RangeError(`arena of ${arena.byteLength} bytes, expected ${arenaBytes}`);
    this.u8 = new Uint8Array(arena, 0, arenaBytes);
    this.u32 = new Uint32Array(arena, 0, arenaBytes >>> 2);
    this.f64 = new Float64Array(arena, 0, arenaBytes >>> 3);
    this.policy = buffers
      ? attachPolicy(cfg.policy, cfg.maxEntries, buffers.policy)
      : createPolicy(cfg.policy, cfg.maxEntries, { allocate });
    this.buffers = { meta: meta.buffer, arena, policy: this.policy.buffer };
    if (meta.fresh) this.reset();
  }

  /** Bytes of the meta buffer of a stripe of `cfg` (state, counters, metadata, index, leases). */
  static metaBytes(cfg: ShardConfig): number {
    return measureLayout((c) => buildMeta(c, cfg));
  }

  /** Live entries. */
  get count(): number {
    return this.st[COUNT]!;
  }

  /**
   * The record holding `key` (hash `h`): its arena offset, or -1. Expiry is the caller's
   * business. With `use` (a read that counts as a use) the policy is told of the hit.
   */
  lookup(key: string, h: number, use = false): number {
    const table = this.table;
    const mask = this.mask;
    const hi = h | 0;
    // At most one lap: a table the index never fills still ends a lookup in a bad mapping.
    for (let i = h & mask, n = 0; n <= mask; i = (i + 1) & mask, n++) {
      const v = table[(i << 1) + 1]!;
      if (v === 0) return -1;
      if (table[i << 1] === hi) {
        const r = (v - 1) * 8;
        const w = r >>> 2;
        if (keyEquals(key, this.u8, r + HEADER, this.u32[w + 2]!)) {
          if (use) this.policy.touch(this.u32[w]!);
          return r;
        }
      }
    }
    return -1;
  }

  /** The slot of the record at `r`. */
  slotOf(r: number): number {
    return this.u32[r >>> 2]!;
  }

  /** Whether the record at `r` has expired at time `now`. */
  expiredRecord(r: number, now: number): boolean {
    const e = this.f64[(r >>> 3) + 2]!;
    return e !== 0 && e <= now;
  }

  /** Arena offset of the value bytes of the record at `r`. */
  valueStart(r: number): number {
    return r + HEADER + this.u32[(r >>> 2) + 2]!;
  }

  /** Length of the value of the record at `r`. */
  valueLength(r: number): number {
    return this.u32[(r >>> 2) + 3]!;
  }

  /** Whether the entry in `slot` has expired at time `now`. */
  expired(slot: number, now: number): boolean {
    return this.expiredRecord(this.m32[(slot << 1) + 1]!, now);
  }

  /**
   * Store `value` under `key`. Returns false (and drops any old entry) when the entry can
   * never fit. `expireAt` 0 means never.
   */
  set(key: string, h: number, keyBytes: number, value: Uint8Array, expireAt: number, now: number): boolean {
    const recLen = recordBytes(keyBytes, value.length);
    const cost = recLen + ENTRY_OVERHEAD;
    const existing = this.lookup(key, h);
    if (recLen > this.cfg.slabBytes || cost > this.cfg.maxBytes) {
      if (existing >= 0) this.remove(this.slotOf(existing), DELETED, false);
      this.ctr[C_REJECTED]!++;
      return false;
    }
    if (existing >= 0) this.remove(this.slotOf(existing), REPLACED, false);
    const ctr = this.ctr;
    while (ctr[C_BYTES]! + cost > this.cfg.maxBytes || this.st[FREE_TOP] === 0) {
      if (!this.evictOne(now)) break;
    }
    const off = this.alloc(recLen, now);
    const slot = this.free[--this.st[FREE_TOP]!]!;
    const w = off >>> 2;
    this.u32[w] = slot;
    this.u32[w + 1] = recLen;
    this.u32[w + 2] = keyBytes;
    this.u32[w + 3] = value.length;
    this.f64[(off >>> 3) + 2] = expireAt;
    writeKey(key, this.u8, off + HEADER);
    this.u8.set(value, off + HEADER + keyBytes);
    this.m32[slot << 1] = h;
    this.m32[(slot << 1) + 1] = off;
    this.tableInsert(off, h);
    this.policy.insert(slot, h);
    ctr[C_BYTES]! += cost;
    ctr[C_SETS]!++;
    this.st[COUNT]!++;
    return true;
  }

  /** Remove the entry in `slot`; `fromPolicy` when the policy already let go of it. */
  remove(slot: number, reason: number, fromPolicy: boolean): void {
    const off = this.m32[(slot << 1) + 1]!;
    const w = off >>> 2;
    const kl = this.u32[w + 2]!;
    const vl = this.u32[w + 3]!;
    if (this.events !== null) {
      const k = off + HEADER;
      this.events.push(readKey(this.u8, k, kl), this.u8.slice(k + kl, k + kl + vl), reason);
    }
    this.tableRemove(slot);
    if (!fromPolicy) this.policy.remove(slot);
    this.m32[(slot << 1) + 1] = INVALID;
    this.free[this.st[FREE_TOP]!++] = slot;
    this.st[COUNT]!--;
    this.ctr[C_BYTES]! -= recordBytes(kl, vl) + ENTRY_OVERHEAD;
    this.ctr[C_EVICT + reason]!++;
  }

  /** Drop every entry (reason "deleted"). */
  clear(): void {
    const n = this.st[COUNT]!;
    if (this.events !== null) {
      for (let i = 1; i < this.table.length; i += 2) {
        const v = this.table[i]!;
        if (v === 0) continue;
        const r = (v - 1) * 8;
        const k = r + HEADER;
        const kl = this.u32[(r >>> 2) + 2]!;
        this.events.push(readKey(this.u8, k, kl), this.u8.slice(k + kl, k + kl + this.u32[(r >>> 2) + 3]!), DELETED);
      }
    }
    this.reset();
    this.ctr[C_EVICT + DELETED]! += n;
  }

  /** Evict one entry chosen by the policy; false when there is none. */
  private evictOne(now: number): boolean {
    const v = this.policy.evict();
    if (v < 0) return false;
    this.remove(v, this.expired(v, now) ? EXPIRED : CAPACITY, true);
    return true;
  }

  /** Room for `recLen` bytes in the head slab, recycling generations as needed. */
  private alloc(recLen: number, now: number): number {
    const S = this.cfg.slabBytes;
    for (let rotations = 0; ; rotations++) {
      const headOff = this.st[HEAD_OFF]!;
      if (headOff + recLen <= S) {
        const head = this.st[HEAD]!;
        this.st[HEAD_OFF] = headOff + recLen;
        this.slabUsed[head] = headOff + recLen;
        return head * S + headOff;
      }
      // A whole cycle without room means records pack badly (entries near slab size):
      // free more by evicting before each further rotation. An empty cache always fits.
      if (rotations >= this.cfg.slabs) this.evictOne(now);
      this.rotate(now);
    }
  }

  /** Move the oldest generation's live entries into the spare slab, which becomes head. */
  private rotate(now: number): void {
    const N = this.cfg.slabs;
    const S = this.cfg.slabBytes;
    const head = this.st[HEAD]!;
    const spare = (head + 1) % N;
    const oldest = (head + 2) % N;
    const base = oldest * S;
    const dst = spare * S;
    const used = this.slabUsed[oldest]!;
    const cap = this.cfg.maxEntries;
    let w = 0;
    for (let r = 0; r < used; ) {
      const at = base + r;
      const slot = this.u32[at >>> 2]!;
      const len = this.u32[(at >>> 2) + 1]!;
      if (len < HEADER || (len & 7) !== 0) break; // never happens for our own records; don't loop forever
      if (slot < cap && this.m32[(slot << 1) + 1] === at) {
        if (this.expiredRecord(at, now)) this.remove(slot, EXPIRED, false);
        else {
          this.u8.copyWithin(dst + w, at, at + len);
          this.m32[(slot << 1) + 1] = dst + w;
          this.tableRepoint(this.m32[slot << 1]!, at, dst + w);
          w += len;
        }
      }
      r += len;
    }
    this.slabUsed[oldest] = 0;
    this.slabUsed[spare] = w;
    this.st[HEAD] = spare;
    this.st[HEAD_OFF] = w;
    this.ctr[C_COMPACTIONS]!++;
    this.ctr[C_MOVED]! += w;
  }

  /**
   * Empty the stripe: every structure rebuilt from nothing, whatever state it was in.
   * Counters other than bytes are kept.
   */
  reset(): void {
    const cap = this.cfg.maxEntries;
    for (let i = 0; i < cap; i++) this.free[i] = cap - 1 - i;
    this.st[FREE_TOP] = cap;
    this.st[COUNT] = 0;
    this.st[HEAD] = 0;
    this.st[HEAD_OFF] = 0;
    this.ctr[C_BYTES] = 0;
    for (let i = 0; i < cap; i++) this.m32[(i << 1) + 1] = INVALID;
    this.table.fill(0);
    this.slabUsed.fill(0);
    this.leases.fill(0);
    this.st[LEASES_HELD] = 0;
    this.policy.clear();
  }

  /** The cell of the record at `r` (hash `h`), or -1 when it is not indexed. */
  private cellOf(h: number, r: number): number {
    const table = this.table;
    const mask = this.mask;
    const v = r / 8 + 1;
    let i = h & mask;
    for (let n = 0; table[(i << 1) + 1] !== v; n++) {
      if (n > mask) return -1; // never happens for a consistent stripe
      i = (i + 1) & mask;
    }
    return i;
  }

  private tableInsert(r: number, h: number): void {
    const table = this.table;
    const mask = this.mask;
    let i = h & mask;
    for (let n = 0; table[(i << 1) + 1] !== 0; n++) {
      // The index has twice the cells of the entries it can hold: a full one was written
      // by something other than this code.
      if (n > mask) throw new OffheapError("ERR_CORRUPT", "a cache stripe's index has no free cell; the shared memory was changed from outside");
      i = (i + 1) & mask;
    }
    table[i << 1] = h | 0;
    table[(i << 1) + 1] = r / 8 + 1;
  }

  /** The record of hash `h` moved from `from` to `to` (recycling): point its cell there. */
  private tableRepoint(h: number, from: number, to: number): void {
    const i = this.cellOf(h, from);
    if (i >= 0) this.table[(i << 1) + 1] = to / 8 + 1;
  }

  /** Backward-shift deletion of `slot`'s cell, so no tombstones pile up. */
  private tableRemove(slot: number): void {
    const table = this.table;
    const mask = this.mask;
    const i = this.cellOf(this.m32[slot << 1]!, this.m32[(slot << 1) + 1]!);
    if (i < 0) return;
    let hole = i;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const v = table[(j << 1) + 1]!;
      if (v === 0) break;
      const home = table[j << 1]! & mask;
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        table[hole << 1] = table[j << 1]!;
        table[(hole << 1) + 1] = v;
        hole = j;
      }
    }
    table[hole << 1] = 0;
    table[(hole << 1) + 1] = 0;
  }
}
