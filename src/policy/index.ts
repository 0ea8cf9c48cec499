/**
 * Eviction policies over integer slot ids, shared by ArenaCache and TieredCache's stores.
 *
 * @example
 * ```ts
 * const p = createPolicy("s3-fifo", 1024);
 * p.insert(slot, keyHash);   // on set
 * p.touch(slot);             // on hit
 * const victim = p.evict();  // when full
 * ```
 */
import { ClockProPolicy } from "./clock-pro.ts";
import { LruPolicy } from "./lru.ts";
import type { EvictionPolicy, PolicyName, PolicyOptions } from "./policy.ts";
import { S3FifoPolicy } from "./s3-fifo.ts";
import { SievePolicy } from "./sieve.ts";
import { booleanOption, functionOption, invalidArg, oneOfArg, optionsArg } from "../primitives/arguments.ts";
import { type Allocator, checkCapacity, heapAllocator, sharedAllocator } from "../primitives/carver.ts";

export type { EvictionPolicy, PolicyName, PolicyOptions } from "./policy.ts";
export { LruPolicy } from "./lru.ts";
export { SievePolicy } from "./sieve.ts";
export { S3FifoPolicy } from "./s3-fifo.ts";
export { ClockProPolicy } from "./clock-pro.ts";

/** Every built-in policy name. */
export const POLICY_NAMES: readonly PolicyName[] = ["lru", "sieve", "s3-fifo", "clock-pro"];

function check(name: string, capacity: number): void {
  oneOfArg("policy", name, POLICY_NAMES);
  checkCapacity(capacity);
}

function make(name: PolicyName, capacity: number, buffer: ArrayBufferLike | undefined, shared: Allocator): EvictionPolicy {
  switch (name) {
    case "lru":
      return new LruPolicy(capacity, buffer, shared);
    case "sieve":
      return new SievePolicy(capacity, buffer, shared);
    case "s3-fifo":
      return new S3FifoPolicy(capacity, buffer, shared);
    case "clock-pro":
      return new ClockProPolicy(capacity, buffer, shared);
  }
}

/**
 * A new eviction policy tracking slots `0 .. capacity - 1`.
 * @throws `ERR_INVALID` for an unknown name, a capacity that is not an integer in
 * 1 .. 2^30 - 1, or bad options; what `options.allocate` throws.
 */
export function createPolicy(name: PolicyName, capacity: number, options: PolicyOptions = {}): EvictionPolicy {
  check(name, capacity);
  optionsArg("options", options);
  const allocate = functionOption<Allocator>("allocate", options.allocate);
  return make(name, capacity, undefined, allocate ?? (booleanOption("shared", options.shared) ? sharedAllocator : heapAllocator));
}

/** Bytes of state a policy `name` over `capacity` slots keeps (the size of its `buffer`). */
export function policyBytes(name: PolicyName, capacity: number): number {
  check(name, capacity);
  switch (name) {
    case "lru":
      return LruPolicy.bytes(capacity);
    case "sieve":
      return SievePolicy.bytes(capacity);
    case "s3-fifo":
      return S3FifoPolicy.bytes(capacity);
    case "clock-pro":
      return ClockProPolicy.bytes(capacity);
  }
}

/**
 * A view of an existing policy's state (`policy.buffer`, typically a `SharedArrayBuffer`
 * received by a Worker). Name and capacity must be the ones it was created with.
 * @throws `ERR_INVALID` for an unknown name, a bad capacity, or a buffer that is not an
 * `ArrayBuffer`/`SharedArrayBuffer` of at least the policy's bytes.
 */
export function attachPolicy(name: PolicyName, capacity: number, buffer: ArrayBufferLike): EvictionPolicy {
  check(name, capacity);
  if (buffer === undefined) throw invalidArg("buffer", "the policy's buffer (an ArrayBuffer or SharedArrayBuffer)", buffer);
  return make(name, capacity, buffer, heapAllocator);
}
