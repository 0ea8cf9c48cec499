/**
 * The per-record checksum. A record's CRC word (at {@link CRC_OFFSET}) holds the CRC-32 of
 * the record's field bytes with the top bit forced to 1, or {@link CRC_STALE} (top bit 0):
 * a raw field store through a live view changed the record without recomputing it (a CRC
 * of a small record costs 20-50 ns, ten times the store). `sync` and the next writable
 * open recompute stale words; checked reads and `verifyRecords` skip them. Any other word
 * with the top bit clear — 0 above all, what a zeroed page leaves — is damage: a record
 * that was appended always has a CRC or the stale marker, and a record past the count has
 * 0 (nothing was ever written there).
 *
 * "Field bytes" are the bytes after the record header, except that a string or bytes
 * field counts only its length prefix and the bytes the prefix says are used (clamped to
 * its maximum, as reads do): bytes past a value are never read, and a 1 GiB `bytes` field
 * holding little costs little to checksum.
 */
import { CRC_OFFSET, RECORD_HEADER_BYTES } from "./schema.ts";
import { typeFromName } from "./types.ts";

/** Int32 index, relative to a record's first word, of its CRC word. */
export const CRC_WORD = CRC_OFFSET >>> 2;
/**
 * The CRC word value that means "not maintained since the last sync": not 0, so that a
 * zeroed record never passes as one whose CRC is merely stale (format version 3).
 */
export const CRC_STALE = 0x5354_414c;
/** The CRC word of a record never written (past the count). */
export const CRC_NEVER = 0;

/** Computes the CRC word (an int32, never 0) of the record at byte `o`; `u32` views the same buffer as `u8`. */
export type RecordCrc = (u8: Uint8Array, u32: Uint32Array, o: number) => number;

/** Slicing-by-4 tables of the CRC-32 (IEEE) polynomial, as zlib and `Bun.hash.crc32` use. */
const T = new Int32Array(4 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb8_8320 ^ (c >>> 1) : c >>> 1;
  T[n] = c;
}
for (let n = 0; n < 256; n++) {
  for (let k = 1; k < 4; k++) T[k * 256 + n] = (T[(k - 1) * 256 + n]! >>> 8) ^ T[T[(k - 1) * 256 + n]! & 0xff]!;
}
/** Below this many bytes the JS loop beats `Bun.hash.crc32`, whose `subarray` alone costs ~30 ns. */
const NATIVE_FROM = 256;

/**
 * CRC-32 of `u8[start..end)` continuing from `crc` (0 to start), equal to
 * `Bun.hash.crc32(u8.subarray(start, end), crc)`. Short ranges run here, in JS, without
 * allocating; long ones go to the native code.
 */
export function crcRange(u8: Uint8Array, u32: Uint32Array, start: number, end: number, crc: number): number {
  if (end - start >= NATIVE_FROM) return Bun.hash.crc32(u8.subarray(start, end), crc >>> 0) | 0;
  let c = ~crc;
  let i = start;
  for (; i < end && (i & 3) !== 0; i++) c = T[(c ^ u8[i]!) & 0xff]! ^ (c >>> 8);
  for (; i + 4 <= end; i += 4) {
    c ^= u32[i >>> 2]!; // little-endian word: byte i in the low bits
    c = T[768 + (c & 0xff)]! ^ T[512 + ((c >>> 8) & 0xff)]! ^ T[256 + ((c >>> 16) & 0xff)]! ^ T[c >>> 24]!;
  }
  for (; i < end; i++) c = T[(c ^ u8[i]!) & 0xff]! ^ (c >>> 8);
  return ~c;
}

/** What a checksum needs of a field: where it is and, for strings and bytes, its prefix and maximum. */
export interface CrcField {
  offset: number;
  prefix: number;
  maxBytes: number;
}

/** The fields of a stored schema entry list (`[name, type, size, offset]`), for {@link makeRecordCrc}. */
export function crcFieldsOf(stored: ReadonlyArray<readonly [string, string, number, number]>): CrcField[] {
  return stored.map(([, type, , offset]) => {
    const t = typeFromName(type);
    return { offset, prefix: t?.prefix ?? 0, maxBytes: t?.maxBytes ?? 0 };
  });
}

/** The checksum function of records of `recordSize` bytes with these fields. */
export function makeRecordCrc(fields: readonly CrcField[], recordSize: number): RecordCrc {
  const vars = fields.filter((f) => f.prefix !== 0).sort((a, b) => a.offset - b.offset);
  const rs = recordSize;
  const H = RECORD_HEADER_BYTES;
  if (vars.length === 0) return (u8, u32, o) => (crcRange(u8, u32, o + H, o + rs, 0) | 0x8000_0000) | 0;
  const at = vars.map((f) => f.offset);
  const prefix = vars.map((f) => f.prefix);
  const max = vars.map((f) => f.maxBytes);
  const n = vars.length;
  return (u8, u32, o) => {
    let c = 0;
    let cur = o + H;
    for (let k = 0; k < n; k++) {
      const p = o + at[k]!;
      const size = prefix[k]!;
      const data = p + size;
      c = crcRange(u8, u32, cur, data, c);
      let len = size === 1 ? u8[p]! : size === 2 ? u8[p]! | (u8[p + 1]! << 8) : (u8[p]! | (u8[p + 1]! << 8) | (u8[p + 2]! << 16) | (u8[p + 3]! << 24)) >>> 0;
      const m = max[k]!;
      if (len > m) len = m;
      c = crcRange(u8, u32, data, data + len, c);
      cur = data + m;
    }
    return (crcRange(u8, u32, cur, o + rs, c) | 0x8000_0000) | 0;
  };
}
