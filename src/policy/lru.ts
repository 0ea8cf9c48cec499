/**
 * Least-recently-used: a doubly linked list over slot ids, most recent at the head.
 * Every hit moves the slot to the head (two link updates), every eviction takes the tail.
 */
import { type Allocator, heapAllocator, layout, measureLayout, type Carver } from "../primitives/carver.ts";
import { checkCapacity, checkHash, checkSlot } from "../primitives/carver.ts";
import type { EvictionPolicy, PolicyName } from "./policy.ts";

const HEAD = 0;
const TAIL = 1;
const SIZE = 2;
const NONE = -1;

function build(c: Carver, capacity: number) {
  return { st: c.i32(4), prev: c.i32(capacity), next: c.i32(capacity), live: c.u8(capacity) };
}

/** LRU over slot ids. */
export class LruPolicy implements EvictionPolicy {
  readonly name: PolicyName = "lru";
  /** Every hit moves the slot in a linked list. */
  readonly touchRelinks = true;

  /**
   * Bytes of state for `capacity` slots (what {@link buffer} holds).
   * @throws `ERR_INVALID` for a capacity that is not an integer in 1 .. 2^30 - 1.
   */
  static bytes(capacity: number): number {
    checkCapacity(capacity);
    return measureLayout((c) => build(c, capacity));
  }
  readonly buffer: ArrayBufferLike;
  private readonly st: Int32Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly live: Uint8Array;

  /**
   * A new policy, or a view of an existing one when `buffer` is given.
   * @throws `ERR_INVALID` for a bad capacity, or a `buffer` smaller than
   * `bytes(capacity)`; what `allocate` throws.
   */
  constructor(readonly capacity: number, buffer?: ArrayBufferLike, allocate: Allocator = heapAllocator) {
    checkCapacity(capacity);
    const l = layout((c) => build(c, capacity), buffer, allocate);
    this.buffer = l.buffer;
    ({ st: this.st, prev: this.prev, next: this.next, live: this.live } = l.arrays);
    if (l.fresh) this.clear();
  }

  get size(): number {
    return this.st[SIZE]!;
  }

  insert(slot: number, _keyHash: number): void {
    checkSlot(slot, this.capacity);
    checkHash(_keyHash);
    if (this.live[slot] === 1) this.unlink(slot);
    this.live[slot] = 1;
    this.pushHead(slot);
    this.st[SIZE]!++;
  }

  touch(slot: number): void {
    checkSlot(slot, this.capacity);
    if (this.live[slot] !== 1 || this.st[HEAD] === slot) return;
    this.unlink(slot);
    this.st[SIZE]!++;
    this.pushHead(slot);
  }

  remove(slot: number): void {
    checkSlot(slot, this.capacity);
    if (this.live[slot] !== 1) return;
    this.unlink(slot);
    this.live[slot] = 0;
  }

  evict(): number {
    const slot = this.st[TAIL]!;
    if (slot === NONE) return NONE;
    this.unlink(slot);
    this.live[slot] = 0;
    return slot;
  }

  clear(): void {
    this.st[HEAD] = NONE;
    this.st[TAIL] = NONE;
    this.st[SIZE] = 0;
    this.live.fill(0);
  }

  private pushHead(slot: number): void {
    const head = this.st[HEAD]!;
    this.prev[slot] = NONE;
    this.next[slot] = head;
    if (head !== NONE) this.prev[head] = slot;
    else this.st[TAIL] = slot;
    this.st[HEAD] = slot;
  }

  private unlink(slot: number): void {
    const p = this.prev[slot]!;
    const n = this.next[slot]!;
    if (p !== NONE) this.next[p] = n;
    else this.st[HEAD] = n;
    if (n !== NONE) this.prev[n] = p;
    else this.st[TAIL] = p;
    this.st[SIZE]!--;
  }
}
