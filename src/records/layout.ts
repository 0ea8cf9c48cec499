/**
 * The record store's file layout, shared by the store and by inspect/verify.
 *
 * ```
 *   0  shared header (src/primitives/header.ts), kind "RECS": recordSize, schemaVersion, schemaHash,
 *      fieldCount, schemaBytes, dataOffset
 * 128  live words, Int32 each, changed with Atomics while the file is open:
 *      count (records appended), capacity (records the file holds), growths
 * 192  schema JSON: { name, recordSize, fields: [[name, type, size, offset], …] }
 * dataOffset (multiple of 64)  records, recordSize bytes each: sequence word, CRC word
 *      (crc.ts), fields
 * ```
 * The count is one aligned word, stored after the record it publishes, so a crash leaves
 * the old or the new count. Capacity is stored after the file has been extended, so the
 * file always holds at least `capacity` records.
 */
import type { File } from "../../ffi/index.ts";
import { MAX_MAPPING_BYTES } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";
import { decodeHeader, encodeHeader, headerBytes, registerKind, type HeaderSpec } from "../primitives/header.ts";
import { crc32 } from "../primitives/crc.ts";
import { alignUp, identityOf, RECORD_HEADER_BYTES, type Schema, type StoredField } from "./schema.ts";
import { typeFromName } from "./types.ts";

/** Header spec of record store files. */
export const RECORDS_HEADER: HeaderSpec<"recordSize" | "schemaVersion" | "schemaHash" | "fieldCount" | "schemaBytes" | "dataOffset"> = {
  kind: "RECS",
  name: "record store",
  // 2: an 8-byte record header (sequence word, CRC word) instead of the sequence word alone.
  // 3: the stale CRC marker is CRC_STALE, not 0 (a zeroed record is damage); space is
  // allocated at create and growth; the count is checked against the records at open.
  // Older files are refused with ERR_FORMAT.
  version: 3,
  fields: ["recordSize", "schemaVersion", "schemaHash", "fieldCount", "schemaBytes", "dataOffset"],
};
registerKind(RECORDS_HEADER);

/** Byte offset of the live words. */
export const LIVE_OFFSET = 128;
/** Index (in Int32 words from {@link LIVE_OFFSET}) of the record count. */
export const COUNT_WORD = 0;
/** Index of the capacity word. */
export const CAPACITY_WORD = 1;
/** Index of the growth counter. */
export const GROWTHS_WORD = 2;
/** Byte offset of the schema JSON. */
export const SCHEMA_OFFSET = 192;
const MAX_SCHEMA_BYTES = 1 << 20;

if (headerBytes(RECORDS_HEADER) > LIVE_OFFSET) throw new Error("records header overlaps the live words");

/** The schema as stored in a file. */
export interface StoredSchema {
  name: string;
  recordSize: number;
  fields: StoredField[];
}

/** Everything the first `dataOffset` bytes of a record store file say, validated. */
export interface FileLayout {
  recordSize: number;
  schemaVersion: number;
  schemaHash: number;
  dataOffset: number;
  stored: StoredSchema;
  count: number;
  capacity: number;
  growths: number;
  fileSize: number;
}

/** Bytes of the file for `capacity` records. */
export function fileBytesFor(dataOffset: number, recordSize: number, capacity: number): number {
  return dataOffset + capacity * recordSize;
}

/** The most records one mapping (4 GiB) can hold. */
export function maxCapacity(dataOffset: number, recordSize: number): number {
  return Math.min(0x7fff_ffff, Math.floor((MAX_MAPPING_BYTES - dataOffset) / recordSize));
}

/** The bytes before the first record of a new file: header, live words, schema. */
export function newFileImage(schema: Schema, capacity: number): Uint8Array {
  const json = new TextEncoder().encode(
    JSON.stringify({ name: schema.name, recordSize: schema.recordSize, fields: JSON.parse(schema.identity).fields }),
  );
  if (json.length > MAX_SCHEMA_BYTES) throw new OffheapError("ERR_TOO_LARGE", `schema ${schema.name} describes to ${json.length} bytes; at most ${MAX_SCHEMA_BYTES}`);
  const dataOffset = alignUp(SCHEMA_OFFSET + json.length, 64);
  const image = new Uint8Array(dataOffset);
  image.set(
    encodeHeader(RECORDS_HEADER, {
      recordSize: schema.recordSize,
      schemaVersion: schema.version,
      schemaHash: schema.hash,
      fieldCount: schema.layout.length,
      schemaBytes: json.length,
      dataOffset,
    }),
    0,
  );
  new DataView(image.buffer).setInt32(LIVE_OFFSET + CAPACITY_WORD * 4, capacity, true);
  image.set(json, SCHEMA_OFFSET);
  return image;
}

/**
 * Read and check the layout of an existing file without mapping it. Throws `ERR_FORMAT`
 * for a file that is not a record store, `ERR_CORRUPT` when the header contradicts itself
 * or claims more records than the file holds.
 */
export function readFileLayout(file: File): FileLayout {
  const path = file.path;
  const fileSize = file.size;
  const head = new Uint8Array(Math.min(SCHEMA_OFFSET, fileSize));
  file.read(head, 0);
  const h = decodeHeader(RECORDS_HEADER, head, path);
  const corrupt = (what: string) => new OffheapError("ERR_CORRUPT", `${path}: ${what}`, { path });
  if (fileSize < SCHEMA_OFFSET) throw corrupt(`file of ${fileSize} bytes is shorter than the ${SCHEMA_OFFSET} bytes of header and counters`);
  if (h.recordSize < RECORD_HEADER_BYTES + 4 || h.recordSize % 4 !== 0 || h.recordSize > 0x7fff_ffff) {
    throw corrupt(`record size ${h.recordSize} is not a multiple of 4 from ${RECORD_HEADER_BYTES + 4} up`);
  }
  if (h.schemaBytes > MAX_SCHEMA_BYTES || h.dataOffset < SCHEMA_OFFSET + h.schemaBytes || h.dataOffset % 64 !== 0 || h.dataOffset > MAX_MAPPING_BYTES) {
    throw corrupt(`data offset ${h.dataOffset} does not fit a schema of ${h.schemaBytes} bytes`);
  }
  if (fileSize < h.dataOffset) throw corrupt(`file of ${fileSize} bytes ends before its first record at ${h.dataOffset}`);
  const live = new DataView(head.buffer, LIVE_OFFSET, 16);
  const count = live.getInt32(COUNT_WORD * 4, true);
  const capacity = live.getInt32(CAPACITY_WORD * 4, true);
  const growths = live.getInt32(GROWTHS_WORD * 4, true);
  const held = Math.floor((fileSize - h.dataOffset) / h.recordSize);
  if (capacity < 1 || capacity > maxCapacity(h.dataOffset, h.recordSize)) throw corrupt(`capacity ${capacity} is outside 1..${maxCapacity(h.dataOffset, h.recordSize)}`);
  if (count < 0 || count > capacity) throw corrupt(`header claims ${count} records but a capacity of ${capacity}`);
  if (capacity > held) throw corrupt(`header claims room for ${capacity} records (${count} used) but the file holds ${held}`);

  const jsonBytes = new Uint8Array(h.schemaBytes);
  file.read(jsonBytes, SCHEMA_OFFSET);
  let stored: StoredSchema;
  try {
    stored = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(jsonBytes)) as StoredSchema;
  } catch (cause) {
    throw new OffheapError("ERR_CORRUPT", `${path}: the stored schema is not valid JSON`, { path, cause });
  }
  if (!isStoredSchema(stored) || stored.recordSize !== h.recordSize || stored.fields.length !== h.fieldCount) {
    throw corrupt("the stored schema does not match the header");
  }
  const identity = identityOf(stored.recordSize, stored.fields);
  if (crc32(new TextEncoder().encode(identity)) !== h.schemaHash) throw corrupt("the stored schema does not match the header's schema hash");
  return { recordSize: h.recordSize, schemaVersion: h.schemaVersion, schemaHash: h.schemaHash, dataOffset: h.dataOffset, stored, count, capacity, growths, fileSize };
}

function isStoredSchema(s: unknown): s is StoredSchema {
  if (typeof s !== "object" || s === null) return false;
  const o = s as Record<string, unknown>;
  if (typeof o.name !== "string" || typeof o.recordSize !== "number" || !Array.isArray(o.fields)) return false;
  return o.fields.every(
    (f: unknown) =>
      Array.isArray(f) && f.length === 4 && typeof f[0] === "string" && typeof f[1] === "string" &&
      typeof f[2] === "number" && typeof f[3] === "number" && typeOf(f[1]) !== undefined &&
      f[3] >= RECORD_HEADER_BYTES && f[3] + f[2] <= (o.recordSize as number),
  );
}

function typeOf(name: string) {
  try {
    return typeFromName(name);
  } catch {
    return undefined;
  }
}

/**
 * Throw `ERR_MISMATCH` naming every difference between a file's schema and `schema`.
 * Nothing is written.
 */
export function assertSameSchema(path: string, layout: FileLayout, schema: Schema): void {
  if (layout.schemaHash === schema.hash && layout.schemaVersion === schema.version && layout.recordSize === schema.recordSize) return;
  const diffs: string[] = [];
  if (layout.schemaVersion !== schema.version) diffs.push(`version: file has ${layout.schemaVersion}, given ${schema.version}`);
  const stored = layout.stored.fields;
  const given = schema.layout;
  const n = Math.max(stored.length, given.length);
  for (let i = 0; i < n; i++) {
    const s = stored[i];
    const g = given[i];
    const sDesc = s ? `${s[0]}: ${s[1]} at ${s[3]}` : "nothing";
    const gDesc = g ? `${g.name}: ${g.type.name} at ${g.offset}` : "nothing";
    if (sDesc !== gDesc) diffs.push(`field ${i + 1}: file has ${sDesc}, given ${gDesc}`);
  }
  if (diffs.length === 0) diffs.push(`layout hash: file has ${layout.schemaHash}, given ${schema.hash}`);
  throw new OffheapError(
    "ERR_MISMATCH",
    `${path}: record store was created with schema ${JSON.stringify(layout.stored.name)} differing from ${JSON.stringify(schema.name)} (${diffs.join("; ")}); open it with the schema it was made with, or use another path`,
    { path },
  );
}
