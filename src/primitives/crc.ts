/**
 * CRC-32 (IEEE, reflected; the zlib and `Bun.hash.crc32` polynomial), the one checksum
 * every offheap format uses. Every function returns the finished CRC (an unsigned 32-bit
 * number), and all but `crc32Words3` (which starts a CRC) take one to continue from, so
 * `crc32(b, crc32(a))` is the CRC of `a` then `b` whichever function computed each part.
 *
 * Short ranges are computed here in JS: a native call and the `subarray` it needs cost
 * ~30 ns, more than the table loop for the few dozen bytes of a header word, a counter
 * copy or a small record.
 */

/** Slicing-by-4 tables: `T[0..255]` is the classic table, `T[k*256..]` advances k more bytes. */
const T = new Int32Array(4 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb8_8320 ^ (c >>> 1) : c >>> 1;
  T[n] = c;
}
for (let n = 0; n < 256; n++) {
  for (let k = 1; k < 4; k++) T[k * 256 + n] = (T[(k - 1) * 256 + n]! >>> 8) ^ T[T[(k - 1) * 256 + n]! & 0xff]!;
}

/** From this many bytes on, the native `Bun.hash.crc32` is faster than the JS loops. */
const NATIVE_FROM = 256;

/** CRC-32 of `bytes`, continuing from `crc` (0 to start). Native. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  return Bun.hash.crc32(bytes, crc >>> 0) >>> 0;
}

/** CRC-32 of `bytes[start, end)`, continuing from `crc`; allocates nothing below 256 bytes. */
export function crc32Range(bytes: Uint8Array, start: number, end: number, crc = 0): number {
  if (end - start >= NATIVE_FROM) return Bun.hash.crc32(bytes.subarray(start, end), crc >>> 0) >>> 0;
  let c = ~crc;
  for (let i = start; i < end; i++) c = T[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * {@link crc32Range} four bytes at a time where `bytes[start, end)` is 4-byte aligned;
 * `words` views the same buffer as `bytes` (for records, whose checksum is on the hot
 * path of every checked read).
 */
export function crc32Aligned(bytes: Uint8Array, words: Uint32Array, start: number, end: number, crc = 0): number {
  if (end - start >= NATIVE_FROM) return Bun.hash.crc32(bytes.subarray(start, end), crc >>> 0) >>> 0;
  let c = ~crc;
  let i = start;
  for (; i < end && (i & 3) !== 0; i++) c = T[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  for (; i + 4 <= end; i += 4) {
    c ^= words[i >>> 2]!; // little-endian word: byte i in the low bits
    c = T[768 + (c & 0xff)]! ^ T[512 + ((c >>> 8) & 0xff)]! ^ T[256 + ((c >>> 16) & 0xff)]! ^ T[c >>> 24]!;
  }
  for (; i < end; i++) c = T[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * CRC-32 (from 0) of the twelve little-endian bytes of the 32-bit words `a`, `b`, `c`
 * (int32 or unsigned alike): a slot header's, four bytes a table step.
 */
export function crc32Words3(a: number, b: number, c: number): number {
  let x = ~0 ^ a;
  x = T[768 + (x & 0xff)]! ^ T[512 + ((x >>> 8) & 0xff)]! ^ T[256 + ((x >>> 16) & 0xff)]! ^ T[x >>> 24]!;
  x ^= b;
  x = T[768 + (x & 0xff)]! ^ T[512 + ((x >>> 8) & 0xff)]! ^ T[256 + ((x >>> 16) & 0xff)]! ^ T[x >>> 24]!;
  x ^= c;
  x = T[768 + (x & 0xff)]! ^ T[512 + ((x >>> 8) & 0xff)]! ^ T[256 + ((x >>> 16) & 0xff)]! ^ T[x >>> 24]!;
  return ~x >>> 0;
}
