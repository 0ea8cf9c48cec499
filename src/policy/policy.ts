/**
 * The interface every eviction policy implements. Policies track integer slot ids
 * (0 .. capacity-1) in typed arrays, never per-entry JS objects, so the caches that use
 * them (ArenaCache, TieredCache's stores) keep the GC's work independent of entry count.
 *
 * The cache owns the slots and the keys; a policy only orders slots. Policies with
 * history of evicted keys (S3-FIFO's ghost queue, CLOCK-Pro's non-resident pages) key
 * that history by the 32-bit key hash passed to {@link EvictionPolicy.insert}.
 */
import { type Allocator, type Carver, checkCapacity, layout, measureLayout } from "../primitives/carver.ts";

/** Names of the built-in policies. */
export type PolicyName = "lru" | "sieve" | "s3-fifo" | "clock-pro";

/** An eviction policy over slot ids. */
export interface EvictionPolicy {
  /** Which algorithm this is. */
  readonly name: PolicyName;
  /** Slot ids range over `0 .. capacity - 1`. */
  readonly capacity: number;
  /** Number of resident slots tracked. */
  readonly size: number;
  /**
   * A new entry now lives in `slot`; `keyHash` identifies its key for ghost history.
   * @throws `ERR_INVALID` for a slot outside `0 .. capacity - 1` or a hash that is not a 32-bit integer.
   */
  insert(slot: number, keyHash: number): void;
  /**
   * Whether {@link touch} changes the policy's structure (links between slots) rather than
   * storing one per-slot flag or counter. A thread killed inside a structural touch can
   * leave the state inconsistent, so a cache shared across threads treats such a hit as a
   * change.
   */
  readonly touchRelinks: boolean;
  /**
   * The entry in `slot` was read. Must be cheap: it runs on every hit.
   * @throws `ERR_INVALID` for a slot outside `0 .. capacity - 1`.
   */
  touch(slot: number): void;
  /**
   * The cache removed the entry in `slot` itself (delete, expiry, replacement).
   * @throws `ERR_INVALID` for a slot outside `0 .. capacity - 1`.
   */
  remove(slot: number): void;
  /**
   * Pick the entry to evict, stop tracking it, and return its slot; -1 when empty.
   * @throws nothing.
   */
  evict(): number;
  /**
   * Forget every slot and all history.
   * @throws nothing.
   */
  clear(): void;
  /**
   * The buffer holding all of the policy's state. When the policy was created with
   * `shared: true` it is a `SharedArrayBuffer`, and {@link attachPolicy} over it in a
   * Worker gives a view of the same policy (callers must serialize access themselves).
   */
  readonly buffer: ArrayBufferLike;
}

/** Options for {@link createPolicy}. */
export interface PolicyOptions {
  /** Keep the state in a `SharedArrayBuffer` so other threads can attach. Default false. */
  shared?: boolean;
  /**
   * Where the state lives: returns a zero-filled buffer of at least `bytes` bytes (for
   * example an anonymous mmap, to keep it out of the GC's accounting). Overrides `shared`.
   */
  allocate?: (bytes: number) => ArrayBufferLike;
}

/**
 * What the built-in policies share: their whole state is typed arrays that a `build`
 * function carves out of one buffer, so another thread can attach to the same policy by
 * passing the buffer back in.
 */
export abstract class CarvedPolicy<State> {
  /**
   * Bytes of state for `capacity` slots (what a policy's {@link buffer} holds).
   * @throws `ERR_INVALID` for a capacity that is not an integer in 1 .. 2^30 - 1.
   */
  static bytes(this: { readonly carve: (c: Carver, capacity: number) => unknown }, capacity: number): number {
    checkCapacity(capacity);
    return measureLayout((c) => this.carve(c, capacity));
  }

  /** {@inheritDoc EvictionPolicy.buffer} */
  readonly buffer: ArrayBufferLike;
  /** The typed arrays over {@link buffer}, as `build` named them. */
  protected readonly state: State;
  /** True when {@link buffer} was allocated here (zero-filled), so the subclass initialises it. */
  protected readonly fresh: boolean;

  /**
   * Carve `build`'s arrays over `buffer`, or over a fresh buffer from `allocate`.
   * @throws `ERR_INVALID` for a capacity that is not an integer in 1 .. 2^30 - 1, or a
   * `buffer` smaller than the state needs; what `allocate` throws.
   */
  protected constructor(
    readonly capacity: number,
    build: (c: Carver, capacity: number) => State,
    buffer: ArrayBufferLike | undefined,
    allocate: Allocator,
  ) {
    checkCapacity(capacity);
    const l = layout((c) => build(c, capacity), buffer, allocate);
    this.buffer = l.buffer;
    this.state = l.arrays;
    this.fresh = l.fresh;
  }
}
