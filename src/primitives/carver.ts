/**
 * Carves typed arrays out of one buffer, so a policy's whole state lives in a single
 * `ArrayBuffer` (or `SharedArrayBuffer`, which is what lets a Worker attach to it).
 */

import { describeValue, integerArg, invalidArg } from "./arguments.ts";
import { OffheapError } from "../errors.ts";

const ALIGN = 8;

/** Most slots a policy tracks. */
export const MAX_POLICY_CAPACITY = 0x3fffffff;

/**
 * Throw unless `slot` is an integer in `0 .. capacity - 1`: `ERR_INVALID` for anything but
 * an integer, `ERR_RANGE` for one outside. Cheap enough for every hit (a type test and two
 * comparisons).
 */
export function checkSlot(slot: number, capacity: number): void {
  if (typeof slot !== "number" || (slot >>> 0) !== slot || slot >= capacity) throw slotError(slot, capacity);
}

function slotError(slot: unknown, capacity: number): OffheapError {
  if (typeof slot !== "number" || !Number.isInteger(slot)) return invalidArg("slot", `an integer in 0..${capacity - 1}`, slot);
  return new OffheapError("ERR_RANGE", `slot must be an integer in 0..${capacity - 1}; got ${describeValue(slot)}`);
}

/** Throw `ERR_INVALID` unless `keyHash` is a 32-bit integer (signed or unsigned). */
export function checkHash(keyHash: number): void {
  if (typeof keyHash !== "number" || ((keyHash | 0) !== keyHash && (keyHash >>> 0) !== keyHash)) throw invalidArg("keyHash", "a 32-bit integer", keyHash);
}

/** A policy's slot count: an integer in `1 ..` {@link MAX_POLICY_CAPACITY}. */
export function checkCapacity(capacity: unknown): number {
  return integerArg("capacity", capacity, { min: 1, max: MAX_POLICY_CAPACITY });
}

/** Hands out consecutive, 8-byte aligned typed arrays from one buffer. */
export class Carver {
  private offset = 0;
  /** `buffer` null means "measure only": arrays are empty and only {@link bytes} counts. */
  constructor(private readonly buffer: ArrayBufferLike | null) {}

  /** Bytes carved so far. */
  get bytes(): number {
    return this.offset;
  }

  private take(bytes: number): number {
    const at = this.offset;
    this.offset += Math.ceil(bytes / ALIGN) * ALIGN;
    if (this.buffer !== null && this.offset > this.buffer.byteLength) {
      throw new RangeError(`layout needs ${this.offset} bytes, buffer has ${this.buffer.byteLength}`);
    }
    return at;
  }

  /** The next `n`-element Int32Array. */
  i32(n: number): Int32Array {
    const at = this.take(n * 4);
    return this.buffer === null ? new Int32Array(0) : new Int32Array(this.buffer, at, n);
  }
  /** The next `n`-element Uint32Array. */
  u32(n: number): Uint32Array {
    const at = this.take(n * 4);
    return this.buffer === null ? new Uint32Array(0) : new Uint32Array(this.buffer, at, n);
  }
  /** The next `n`-element Uint16Array. */
  u16(n: number): Uint16Array {
    const at = this.take(n * 2);
    return this.buffer === null ? new Uint16Array(0) : new Uint16Array(this.buffer, at, n);
  }
  /** The next `n`-element Uint8Array. */
  u8(n: number): Uint8Array {
    const at = this.take(n);
    return this.buffer === null ? new Uint8Array(0) : new Uint8Array(this.buffer, at, n);
  }
  /** The next `n`-element Float64Array. */
  f64(n: number): Float64Array {
    const at = this.take(n * 8);
    return this.buffer === null ? new Float64Array(0) : new Float64Array(this.buffer, at, n);
  }
}

/** Returns a fresh zero-filled buffer of at least `bytes` bytes. */
export type Allocator = (bytes: number) => ArrayBufferLike;

/** Plain `ArrayBuffer`s. */
export const heapAllocator: Allocator = (bytes) => new ArrayBuffer(bytes);
/** `SharedArrayBuffer`s, which Workers can attach to. */
export const sharedAllocator: Allocator = (bytes) => new SharedArrayBuffer(bytes);

/** Bytes the arrays `build` carves take (at least one aligned word). */
export function measureLayout(build: (c: Carver) => unknown): number {
  const measure = new Carver(null);
  build(measure);
  return Math.max(measure.bytes, ALIGN);
}

/**
 * Lays out `build` twice: once to measure, once over a real buffer (the given one when
 * attaching, else a fresh one from `allocate`).
 */
export function layout<T>(
  build: (c: Carver) => T,
  buffer: ArrayBufferLike | undefined,
  allocate: Allocator,
): { arrays: T; buffer: ArrayBufferLike; fresh: boolean } {
  const bytes = measureLayout(build);
  const fresh = buffer === undefined;
  if (!fresh && !isBuffer(buffer)) throw invalidArg("buffer", "an ArrayBuffer or SharedArrayBuffer (a policy's buffer)", buffer);
  if (typeof allocate !== "function") throw invalidArg("allocate", "a function returning a buffer", allocate);
  const buf = buffer ?? allocate(bytes);
  if (!isBuffer(buf)) throw invalidArg("allocate's result", "an ArrayBuffer or SharedArrayBuffer", buf);
  if (buf.byteLength < bytes) {
    throw new OffheapError("ERR_INVALID", `buffer of ${buf.byteLength} bytes is smaller than the ${bytes} the layout needs`);
  }
  return { arrays: build(new Carver(buf)), buffer: buf, fresh };
}

function isBuffer(b: unknown): b is ArrayBufferLike {
  return b instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && b instanceof SharedArrayBuffer);
}
