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
import { crc32Aligned } from "../primitives/crc.ts";
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
  if (vars.length === 0) return (u8, u32, o) => (crc32Aligned(u8, u32, o + H, o + rs, 0) | 0x8000_0000) | 0;
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
      c = crc32Aligned(u8, u32, cur, data, c);
      let len = size === 1 ? u8[p]! : size === 2 ? u8[p]! | (u8[p + 1]! << 8) : (u8[p]! | (u8[p + 1]! << 8) | (u8[p + 2]! << 16) | (u8[p + 3]! << 24)) >>> 0;
      const m = max[k]!;
      if (len > m) len = m;
      c = crc32Aligned(u8, u32, data, data + len, c);
      cur = data + m;
    }
    return (crc32Aligned(u8, u32, cur, o + rs, c) | 0x8000_0000) | 0;
  };
}
