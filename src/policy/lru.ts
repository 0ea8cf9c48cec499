/**
 * Least-recently-used: a doubly linked list over slot ids, most recent at the head.
 * Every hit moves the slot to the head (two link updates), every eviction takes the tail.
 */
import { type Allocator, heapAllocator, type Carver, checkHash, checkSlot } from "../primitives/carver.ts";
import { CarvedPolicy, type EvictionPolicy, type PolicyName } from "./policy.ts";

const HEAD = 0;
const TAIL = 1;
const SIZE = 2;
const NONE = -1;

function build(c: Carver, capacity: number) {
  return { st: c.i32(4), prev: c.i32(capacity), next: c.i32(capacity), live: c.u8(capacity) };
}

/** LRU over slot ids. */
export class LruPolicy extends CarvedPolicy<ReturnType<typeof build>> implements EvictionPolicy {
  readonly name: PolicyName = "lru";
  /** Every hit moves the slot in a linked list. */
  readonly touchRelinks = true;

  /** @internal How {@link CarvedPolicy.bytes} and the constructor lay out the state. */
  static readonly carve = build;
  private readonly st: Int32Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly live: Uint8Array;

  /** A new policy, or a view of an existing one over `buffer`. @throws as the {@link CarvedPolicy} constructor. */
  constructor(capacity: number, buffer?: ArrayBufferLike, allocate: Allocator = heapAllocator) {
    super(capacity, build, buffer, allocate);
    ({ st: this.st, prev: this.prev, next: this.next, live: this.live } = this.state);
    if (this.fresh) this.clear();
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
