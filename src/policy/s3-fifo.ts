/**
 * S3-FIFO (Yang et al., SOSP '23): a small FIFO (10% of the entries) that filters
 * one-hit wonders, a main FIFO with 2-bit-clock reinsertion, and a ghost FIFO of the
 * hashes of keys recently evicted from the small queue. A new key goes to the small
 * queue unless its hash is in the ghost, then straight to main. Follows libCacheSim's
 * S3FIFO.c: a hit increments a 2-bit counter; the small queue's tail moves to main when
 * it was read at least twice (`freq >= 2`), else leaves to the ghost; main's tail is
 * reinserted with `freq - 1` while `freq > 0`; main is evicted from when it holds more
 * than 90% of the entries (or small is empty). Sizes are relative to the number of
 * resident entries at eviction time, since the cache is bounded by bytes, not count.
 */
import { carveHashIndex, HashIndex, hashIndexCells } from "./hash-index.ts";
import { type Allocator, heapAllocator, type Carver, checkHash, checkSlot } from "../primitives/carver.ts";
import { CarvedPolicy, type EvictionPolicy, type PolicyName } from "./policy.ts";

const NONE = -1;
const NOWHERE = 0;
const SMALL = 1;
const MAIN = 2;
/** Reads in the small queue needed to be promoted to main. */
const MOVE_TO_MAIN = 2;

// st[] fields: per queue head (newest), tail (oldest), size.
const S_HEAD = 0;
const S_TAIL = 1;
const S_SIZE = 2;
const M_HEAD = 3;
const M_TAIL = 4;
const M_SIZE = 5;
const G_NEXT = 6; // ring cell the next ghost goes into
const G_COUNT = 7; // ring cells in use

function build(c: Carver, capacity: number) {
  return {
    st: c.i32(8),
    newer: c.i32(capacity),
    older: c.i32(capacity),
    queue: c.u8(capacity),
    freq: c.u8(capacity),
    hash: c.u32(capacity),
    ring: c.u32(capacity),
    ghost: carveHashIndex(c, hashIndexCells(capacity)),
  };
}

/** S3-FIFO over slot ids, with its ghost queue keyed by key hash. */
export class S3FifoPolicy extends CarvedPolicy<ReturnType<typeof build>> implements EvictionPolicy {
  readonly name: PolicyName = "s3-fifo";
  /** A hit stores one per-slot flag or counter. */
  readonly touchRelinks = false;

  /** @internal How {@link CarvedPolicy.bytes} and the constructor lay out the state. */
  static readonly carve = build;
  private readonly st: Int32Array;
  private readonly newer: Int32Array;
  private readonly older: Int32Array;
  private readonly queue: Uint8Array;
  private readonly freq: Uint8Array;
  private readonly hash: Uint32Array;
  private readonly ring: Uint32Array;
  private readonly ghost: HashIndex;

  /** A new policy, or a view of an existing one over `buffer`. @throws as the {@link CarvedPolicy} constructor. */
  constructor(capacity: number, buffer?: ArrayBufferLike, allocate: Allocator = heapAllocator) {
    super(capacity, build, buffer, allocate);
    const a = this.state;
    this.st = a.st;
    this.newer = a.newer;
    this.older = a.older;
    this.queue = a.queue;
    this.freq = a.freq;
    this.hash = a.hash;
    this.ring = a.ring;
    this.ghost = new HashIndex(a.ghost);
    if (this.fresh) this.clear();
  }

  get size(): number {
    return this.st[S_SIZE]! + this.st[M_SIZE]!;
  }

  /** Entries in the small queue (for tests and stats). */
  get smallSize(): number {
    return this.st[S_SIZE]!;
  }

  /** Entries in the main queue (for tests and stats). */
  get mainSize(): number {
    return this.st[M_SIZE]!;
  }

  /**
   * Whether `keyHash` is remembered in the ghost queue.
   * @throws `ERR_INVALID` for a hash that is not a 32-bit integer.
   */
  inGhost(keyHash: number): boolean {
    checkHash(keyHash);
    return this.ghost.find(keyHash) >= 0;
  }

  insert(slot: number, keyHash: number): void {
    checkSlot(slot, this.capacity);
    checkHash(keyHash);
    if (this.queue[slot] !== NOWHERE) this.remove(slot);
    this.hash[slot] = keyHash;
    this.freq[slot] = 0;
    const cell = this.ghost.find(keyHash);
    if (cell >= 0) {
      this.ghost.removeAt(cell);
      this.push(slot, MAIN);
    } else {
      this.push(slot, SMALL);
    }
  }

  touch(slot: number): void {
    checkSlot(slot, this.capacity);
    const f = this.freq[slot]!;
    if (f < 3) this.freq[slot] = f + 1;
  }

  remove(slot: number): void {
    checkSlot(slot, this.capacity);
    if (this.queue[slot] === NOWHERE) return;
    this.unlink(slot);
  }

  evict(): number {
    const size = this.size;
    if (size === 0) return NONE;
    const mainCap = size - Math.floor(size * 0.1);
    if (this.st[M_SIZE]! > mainCap || this.st[S_SIZE] === 0) return this.evictMain();
    const slot = this.evictSmall(size);
    return slot !== NONE ? slot : this.evictMain();
  }

  clear(): void {
    this.st.fill(0);
    this.st[S_HEAD] = NONE;
    this.st[S_TAIL] = NONE;
    this.st[M_HEAD] = NONE;
    this.st[M_TAIL] = NONE;
    this.queue.fill(NOWHERE);
    this.freq.fill(0);
    this.ghost.clear();
  }

  private evictSmall(size: number): number {
    while (this.st[S_SIZE]! > 0) {
      const t = this.st[S_TAIL]!;
      this.unlink(t);
      if (this.freq[t]! >= MOVE_TO_MAIN) {
        this.freq[t] = 0;
        this.push(t, MAIN);
      } else {
        this.remember(this.hash[t]!, size);
        return t;
      }
    }
    return NONE;
  }

  private evictMain(): number {
    while (this.st[M_SIZE]! > 0) {
      const t = this.st[M_TAIL]!;
      this.unlink(t);
      const f = this.freq[t]!;
      if (f > 0) {
        this.freq[t] = f - 1;
        this.push(t, MAIN);
      } else {
        return t;
      }
    }
    return NONE;
  }

  /** Add a hash to the ghost FIFO, keeping it at 90% of the resident entry count. */
  private remember(keyHash: number, size: number): void {
    const cap = this.capacity;
    const limit = Math.max(1, Math.floor(size * 0.9));
    while (this.st[G_COUNT]! >= limit) {
      const oldest = (this.st[G_NEXT]! - this.st[G_COUNT]! + cap) % cap;
      // The index maps each hash to the ring cell of its latest copy; an older copy (or
      // one a ghost hit already consumed) must not delete it.
      const cell = this.ghost.findPair(this.ring[oldest]!, oldest);
      if (cell >= 0) this.ghost.removeAt(cell);
      this.st[G_COUNT]!--;
    }
    const at = this.st[G_NEXT]!;
    const prior = this.ghost.find(keyHash);
    if (prior >= 0) this.ghost.removeAt(prior);
    this.ring[at] = keyHash;
    this.ghost.add(keyHash, at);
    this.st[G_NEXT] = (at + 1) % cap;
    this.st[G_COUNT]!++;
  }

  private push(slot: number, q: number): void {
    const hi = q === SMALL ? S_HEAD : M_HEAD;
    const head = this.st[hi]!;
    this.queue[slot] = q;
    this.older[slot] = head;
    this.newer[slot] = NONE;
    if (head !== NONE) this.newer[head] = slot;
    else this.st[hi + 1] = slot;
    this.st[hi] = slot;
    this.st[hi + 2]!++;
  }

  private unlink(slot: number): void {
    const hi = this.queue[slot] === SMALL ? S_HEAD : M_HEAD;
    const n = this.newer[slot]!;
    const o = this.older[slot]!;
    if (n !== NONE) this.older[n] = o;
    else this.st[hi] = o;
    if (o !== NONE) this.newer[o] = n;
    else this.st[hi + 1] = n;
    this.st[hi + 2]!--;
    this.queue[slot] = NOWHERE;
  }
}
