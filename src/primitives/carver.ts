/**
 * Carves typed arrays out of one buffer, so a policy's whole state lives in a single
 * `ArrayBuffer` (or `SharedArrayBuffer`, which is what lets a Worker attach to it).
 */

import { OffheapError } from "../errors.ts";

const ALIGN = 8;

/** Throw `ERR_RANGE` unless `slot` is an integer in `0 .. capacity - 1`. */
export function checkSlot(slot: number, capacity: number): void {
  if (!(Number.isInteger(slot) && slot >= 0 && slot < capacity)) {
    throw new OffheapError("ERR_RANGE", `slot must be an integer in 0..${capacity - 1}; got ${slot}`);
  }
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
  const buf = buffer ?? allocate(bytes);
  if (buf.byteLength < bytes) {
    throw new RangeError(`buffer of ${buf.byteLength} bytes is smaller than the ${bytes} the layout needs`);
  }
  return { arrays: build(new Carver(buf)), buffer: buf, fresh };
}
