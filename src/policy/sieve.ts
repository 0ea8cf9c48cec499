/**
 * SIEVE (Zhang et al., NSDI '24): one FIFO queue plus a visited bit and a hand. A hit
 * only sets the bit (no list update). Eviction moves the hand from the oldest entry
 * toward the newest, clearing visited bits, and evicts the first unvisited entry; the
 * hand stays where it stopped, so survivors keep their place in the queue.
 */
import { type Allocator, heapAllocator, type Carver, checkHash, checkSlot } from "../primitives/carver.ts";
import { CarvedPolicy, type EvictionPolicy, type PolicyName } from "./policy.ts";

const HEAD = 0; // newest
const TAIL = 1; // oldest
const HAND = 2;
const SIZE = 3;
const NONE = -1;

function build(c: Carver, capacity: number) {
  return {
    st: c.i32(4),
    newer: c.i32(capacity),
    older: c.i32(capacity),
    visited: c.u8(capacity),
    live: c.u8(capacity),
  };
}

/** SIEVE over slot ids. */
export class SievePolicy extends CarvedPolicy<ReturnType<typeof build>> implements EvictionPolicy {
  readonly name: PolicyName = "sieve";
  /** A hit stores one per-slot flag or counter. */
  readonly touchRelinks = false;

  /** @internal How {@link CarvedPolicy.bytes} and the constructor lay out the state. */
  static readonly carve = build;
  private readonly st: Int32Array;
  private readonly newer: Int32Array;
  private readonly older: Int32Array;
  private readonly visited: Uint8Array;
  private readonly live: Uint8Array;

  /** A new policy, or a view of an existing one over `buffer`. @throws as the {@link CarvedPolicy} constructor. */
  constructor(capacity: number, buffer?: ArrayBufferLike, allocate: Allocator = heapAllocator) {
    super(capacity, build, buffer, allocate);
    ({ st: this.st, newer: this.newer, older: this.older, visited: this.visited, live: this.live } = this.state);
    if (this.fresh) this.clear();
  }

  get size(): number {
    return this.st[SIZE]!;
  }

  insert(slot: number, _keyHash: number): void {
    checkSlot(slot, this.capacity);
    checkHash(_keyHash);
    if (this.live[slot] === 1) this.remove(slot);
    this.live[slot] = 1;
    this.visited[slot] = 0;
    const head = this.st[HEAD]!;
    this.older[slot] = head;
    this.newer[slot] = NONE;
    if (head !== NONE) this.newer[head] = slot;
    else this.st[TAIL] = slot;
    this.st[HEAD] = slot;
    this.st[SIZE]!++;
  }

  touch(slot: number): void {
    checkSlot(slot, this.capacity);
    this.visited[slot] = 1;
  }

  remove(slot: number): void {
    checkSlot(slot, this.capacity);
    if (this.live[slot] !== 1) return;
    if (this.st[HAND] === slot) this.st[HAND] = this.newer[slot]!;
    this.unlink(slot);
  }

  evict(): number {
    const tail = this.st[TAIL]!;
    if (tail === NONE) return NONE;
    let obj = this.st[HAND]!;
    if (obj === NONE) obj = tail;
    while (this.visited[obj] === 1) {
      this.visited[obj] = 0;
      const n = this.newer[obj]!;
      obj = n !== NONE ? n : this.st[TAIL]!;
    }
    this.st[HAND] = this.newer[obj]!;
    this.unlink(obj);
    return obj;
  }

  clear(): void {
    this.st[HEAD] = NONE;
    this.st[TAIL] = NONE;
    this.st[HAND] = NONE;
    this.st[SIZE] = 0;
    this.live.fill(0);
    this.visited.fill(0);
  }

  private unlink(slot: number): void {
    const n = this.newer[slot]!;
    const o = this.older[slot]!;
    if (n !== NONE) this.older[n] = o;
    else this.st[HEAD] = o;
    if (o !== NONE) this.newer[o] = n;
    else this.st[TAIL] = n;
    this.live[slot] = 0;
    this.visited[slot] = 0;
    this.st[SIZE]!--;
  }
}
