/**
 * CLOCK-Pro (Jiang, Chen & Zhang, USENIX ATC '05). One clock holds hot pages, resident
 * cold pages and non-resident cold pages still in their test period (known only by key
 * hash). Three hands sweep it: HAND_cold evicts unreferenced cold pages (keeping them as
 * non-resident test entries) and promotes referenced ones to hot; HAND_hot demotes
 * unreferenced hot pages to cold when hot pages exceed `m - coldTarget`; HAND_test ends
 * test periods when non-resident entries exceed `m`. A miss on a key still in its test
 * period makes it hot and grows `coldTarget`; a test period ending without a re-access
 * shrinks it. The hand moves follow the widely used reference implementations
 * (every resident cold page is in its test period), with `m` taken as the number of
 * resident entries when an eviction is asked for, since the cache is bounded by bytes.
 *
 * Clock nodes are separate from slots (a slot is reused as soon as its page becomes
 * non-resident), so there are `2 * capacity + 2` nodes.
 */
import { carveHashIndex, HashIndex, hashIndexCells } from "./hash-index.ts";
import { type Allocator, heapAllocator, type Carver, checkHash, checkSlot } from "../primitives/carver.ts";
import { CarvedPolicy, type EvictionPolicy, type PolicyName } from "./policy.ts";

const NONE = -1;
const FREE = 0;
const HOT = 1;
const COLD = 2;
const TEST = 3;
/** Bound on hand recursion (hands call each other when they meet). */
const MAX_DEPTH = 32;

const H_HOT = 0;
const H_COLD = 1;
const H_TEST = 2;
const N_HOT = 3;
const N_COLD = 4;
const N_TEST = 5;
const COLD_TARGET = 6;
const FREE_TOP = 7;
const MEM = 8;
const PEND_HEAD = 9;
const PEND_COUNT = 10;

function build(c: Carver, capacity: number) {
  const nodes = 2 * capacity + 2;
  return {
    st: c.i32(12),
    prev: c.i32(nodes),
    next: c.i32(nodes),
    type: c.u8(nodes),
    ref: c.u8(nodes),
    hash: c.u32(nodes),
    slotOf: c.i32(nodes),
    nodeOf: c.i32(capacity),
    free: c.i32(nodes),
    pending: c.i32(capacity),
    test: carveHashIndex(c, hashIndexCells(nodes)),
  };
}

/** CLOCK-Pro over slot ids. */
export class ClockProPolicy extends CarvedPolicy<ReturnType<typeof build>> implements EvictionPolicy {
  readonly name: PolicyName = "clock-pro";
  /** A hit stores one per-slot flag or counter. */
  readonly touchRelinks = false;

  /** @internal How {@link CarvedPolicy.bytes} and the constructor lay out the state. */
  static readonly carve = build;
  private readonly st: Int32Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly type: Uint8Array;
  private readonly ref: Uint8Array;
  private readonly hash: Uint32Array;
  private readonly slotOf: Int32Array;
  private readonly nodeOf: Int32Array;
  private readonly free: Int32Array;
  private readonly pending: Int32Array;
  private readonly test: HashIndex;
  private depth = 0;

  /** A new policy, or a view of an existing one over `buffer`. @throws as the {@link CarvedPolicy} constructor. */
  constructor(capacity: number, buffer?: ArrayBufferLike, allocate: Allocator = heapAllocator) {
    super(capacity, build, buffer, allocate);
    const a = this.state;
    this.st = a.st;
    this.prev = a.prev;
    this.next = a.next;
    this.type = a.type;
    this.ref = a.ref;
    this.hash = a.hash;
    this.slotOf = a.slotOf;
    this.nodeOf = a.nodeOf;
    this.free = a.free;
    this.pending = a.pending;
    this.test = new HashIndex(a.test);
    if (this.fresh) this.clear();
  }

  get size(): number {
    return this.st[N_HOT]! + this.st[N_COLD]! + this.st[PEND_COUNT]!;
  }

  /** Resident hot pages (for tests and stats). */
  get hotCount(): number {
    return this.st[N_HOT]!;
  }
  /** Resident cold pages. */
  get coldCount(): number {
    return this.st[N_COLD]!;
  }
  /** Non-resident pages in their test period. */
  get testCount(): number {
    return this.st[N_TEST]!;
  }
  /** The adaptive target for resident cold pages. */
  get coldTarget(): number {
    return this.st[COLD_TARGET]!;
  }
  /**
   * Whether `keyHash` is a non-resident page in its test period.
   * @throws `ERR_INVALID` for a hash that is not a 32-bit integer.
   */
  inTest(keyHash: number): boolean {
    checkHash(keyHash);
    return this.test.find(keyHash) >= 0;
  }

  insert(slot: number, keyHash: number): void {
    checkSlot(slot, this.capacity);
    checkHash(keyHash);
    if (this.nodeOf[slot] !== NONE) this.remove(slot);
    const st = this.st;
    const cell = this.test.find(keyHash);
    let kind = COLD;
    if (cell >= 0) {
      // A miss within the test period: its reuse distance beats the cold pages'.
      const mem = Math.max(1, st[MEM]!);
      if (st[COLD_TARGET]! < mem) st[COLD_TARGET]!++;
      this.deleteNode(this.test.valueAt(cell));
      kind = HOT;
    }
    const node = this.free[--st[FREE_TOP]!]!;
    this.type[node] = kind;
    this.ref[node] = 0;
    this.hash[node] = keyHash;
    this.slotOf[node] = slot;
    this.nodeOf[slot] = node;
    st[kind === HOT ? N_HOT : N_COLD]!++;
    this.link(node);
  }

  touch(slot: number): void {
    checkSlot(slot, this.capacity);
    const node = this.nodeOf[slot]!;
    if (node !== NONE) this.ref[node] = 1;
  }

  remove(slot: number): void {
    checkSlot(slot, this.capacity);
    const node = this.nodeOf[slot]!;
    if (node === NONE) {
      this.dropPending(slot);
      return;
    }
    this.st[this.type[node] === HOT ? N_HOT : N_COLD]!--;
    this.nodeOf[slot] = NONE;
    this.slotOf[node] = NONE;
    this.deleteNode(node);
  }

  evict(): number {
    const st = this.st;
    if (st[PEND_COUNT]! > 0) return this.popPending();
    const resident = st[N_HOT]! + st[N_COLD]!;
    if (resident === 0) return NONE;
    st[MEM] = resident;
    if (st[COLD_TARGET]! > resident) st[COLD_TARGET] = resident;
    if (st[COLD_TARGET]! < 1) st[COLD_TARGET] = 1;
    const limit = 8 * (2 * this.capacity + 2);
    for (let i = 0; st[PEND_COUNT] === 0 && i < limit; i++) this.runHandCold();
    if (st[PEND_COUNT] === 0) this.forceDemote();
    return this.popPending();
  }

  clear(): void {
    const nodes = this.free.length;
    this.st.fill(0);
    this.st[H_HOT] = NONE;
    this.st[H_COLD] = NONE;
    this.st[H_TEST] = NONE;
    this.st[COLD_TARGET] = 1;
    for (let i = 0; i < nodes; i++) this.free[i] = nodes - 1 - i;
    this.st[FREE_TOP] = nodes;
    this.type.fill(FREE);
    this.nodeOf.fill(NONE);
    this.slotOf.fill(NONE);
    this.test.clear();
  }

  private runHandCold(): void {
    const st = this.st;
    const n = st[H_COLD]!;
    if (n === NONE) return;
    this.depth++;
    if (this.type[n] === COLD) {
      if (this.ref[n] === 1) {
        this.type[n] = HOT;
        this.ref[n] = 0;
        st[N_COLD]!--;
        st[N_HOT]!++;
      } else {
        this.demote(n);
        while (st[MEM]! < st[N_TEST]! && this.depth < MAX_DEPTH) this.runHandTest();
      }
    }
    if (st[H_COLD] !== NONE) st[H_COLD] = this.next[st[H_COLD]!]!;
    while (st[MEM]! - st[COLD_TARGET]! < st[N_HOT]! && this.depth < MAX_DEPTH) this.runHandHot();
    this.depth--;
  }

  private runHandHot(): void {
    const st = this.st;
    this.depth++;
    if (st[H_HOT] === st[H_TEST] && this.depth < MAX_DEPTH) this.runHandTest();
    const n = st[H_HOT]!;
    if (n !== NONE) {
      if (this.type[n] === HOT) {
        if (this.ref[n] === 1) {
          this.ref[n] = 0;
        } else {
          this.type[n] = COLD;
          st[N_HOT]!--;
          st[N_COLD]!++;
        }
      }
      st[H_HOT] = this.next[st[H_HOT]!]!;
    }
    this.depth--;
  }

  private runHandTest(): void {
    const st = this.st;
    this.depth++;
    if (st[H_TEST] === st[H_COLD] && this.depth < MAX_DEPTH) this.runHandCold();
    const n = st[H_TEST]!;
    if (n !== NONE) {
      if (this.type[n] === TEST) {
        this.deleteNode(n); // moves the hand back to the previous node
        if (st[COLD_TARGET]! > 1) st[COLD_TARGET]!--;
      }
      if (st[H_TEST] !== NONE) st[H_TEST] = this.next[st[H_TEST]!]!;
    }
    this.depth--;
  }

  /** Make resident cold node `n` a non-resident test entry and queue its slot. */
  private demote(n: number): void {
    const st = this.st;
    const slot = this.slotOf[n]!;
    this.type[n] = TEST;
    this.slotOf[n] = NONE;
    this.nodeOf[slot] = NONE;
    st[N_COLD]!--;
    st[N_TEST]!++;
    this.test.add(this.hash[n]!, n);
    const cap = this.capacity;
    this.pending[(st[PEND_HEAD]! + st[PEND_COUNT]!) % cap] = slot;
    st[PEND_COUNT]!++;
  }

  /** Safety net: if the hands found nothing, demote the first resident page. */
  private forceDemote(): void {
    const st = this.st;
    let n = st[H_COLD]!;
    for (let i = 0; i < this.free.length && n !== NONE; i++, n = this.next[n]!) {
      const t = this.type[n];
      if (t === HOT || t === COLD) {
        if (t === HOT) {
          st[N_HOT]!--;
          st[N_COLD]!++;
          this.type[n] = COLD;
        }
        this.demote(n);
        return;
      }
    }
  }

  private popPending(): number {
    const st = this.st;
    if (st[PEND_COUNT] === 0) return NONE;
    const slot = this.pending[st[PEND_HEAD]!]!;
    st[PEND_HEAD] = (st[PEND_HEAD]! + 1) % this.capacity;
    st[PEND_COUNT]!--;
    return slot;
  }

  private dropPending(slot: number): void {
    const st = this.st;
    const cap = this.capacity;
    const count = st[PEND_COUNT]!;
    const head = st[PEND_HEAD]!;
    let w = 0;
    for (let r = 0; r < count; r++) {
      const s = this.pending[(head + r) % cap]!;
      if (s !== slot) this.pending[(head + w++) % cap] = s;
    }
    st[PEND_COUNT] = w;
  }

  /** Insert `node` at the list head: just behind HAND_hot. */
  private link(node: number): void {
    const st = this.st;
    const h = st[H_HOT]!;
    if (h === NONE) {
      this.prev[node] = node;
      this.next[node] = node;
      st[H_HOT] = node;
      st[H_COLD] = node;
      st[H_TEST] = node;
      return;
    }
    const p = this.prev[h]!;
    this.prev[node] = p;
    this.next[node] = h;
    this.next[p] = node;
    this.prev[h] = node;
  }

  /** Unlink `node` from the clock (hands on it step back) and free it. */
  private deleteNode(node: number): void {
    const st = this.st;
    if (this.type[node] === TEST) {
      const cell = this.test.findPair(this.hash[node]!, node);
      if (cell >= 0) this.test.removeAt(cell);
      st[N_TEST]!--;
    }
    const p = this.prev[node]!;
    const nx = this.next[node]!;
    if (p === node) {
      st[H_HOT] = NONE;
      st[H_COLD] = NONE;
      st[H_TEST] = NONE;
    } else {
      if (st[H_HOT] === node) st[H_HOT] = p;
      if (st[H_COLD] === node) st[H_COLD] = p;
      if (st[H_TEST] === node) st[H_TEST] = p;
      this.next[p] = nx;
      this.prev[nx] = p;
    }
    this.type[node] = FREE;
    this.free[st[FREE_TOP]!++] = node;
  }
}
