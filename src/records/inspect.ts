/**
 * Inspection of record store files for the CLI: what a file holds (without knowing its
 * schema in code), and a scan for records a writer left mid-update.
 *
 * `verifyRecords` checks the header, the schema stored with it, the count against the file
 * size, and every record: its sequence word is even and its CRC matches its fields.
 */
import { File, Mapping, loadOrdered } from "../../ffi/index.ts";
import { functionOption, pathArg } from "../primitives/arguments.ts";
import { CRC_NEVER, CRC_STALE, CRC_WORD, crcFieldsOf, makeRecordCrc } from "./crc.ts";
import { fileBytesFor, RECORDS_HEADER, readFileLayout } from "./layout.ts";
import type { Description, VerifyReport } from "../primitives/inspection.ts";



/**
 * Header, schema and counts of the record store at `path`. Throws `OffheapError`
 * (`ERR_FORMAT`, `ERR_CORRUPT`, `ERR_SYSTEM`) when the file can't be read as one.
 * @throws `ERR_INVALID` for a bad path, `ERR_FORMAT` for a file that is not a record store, `ERR_CORRUPT` for a damaged header or schema, `ERR_SYSTEM` when it cannot be read.
 */
export function describeRecords(path: string): Description {
  pathArg("path", path);
  using file = File.open(path, { readonly: true });
  const layout = readFileLayout(file);
  return {
    kind: RECORDS_HEADER.kind,
    version: RECORDS_HEADER.version,
    options: {
      schema: layout.stored.name,
      schemaVersion: layout.schemaVersion,
      schemaHash: layout.schemaHash,
      recordSize: layout.recordSize,
      dataOffset: layout.dataOffset,
      fields: layout.stored.fields.map(([name, type, , offset]) => `${name}:${type}@${offset}`).join(" "),
    },
    counts: {
      records: layout.count,
      capacity: layout.capacity,
      growths: layout.growths,
      fileBytes: layout.fileSize,
    },
  };
}

/**
 * Check the store at `path`: header and stored schema (throws `OffheapError` when they
 * are unreadable), then every record. Listed as bad: an odd sequence word (a writer died
 * mid-update, or is writing right now; the next writable open resets it) and a CRC that
 * does not match the fields (the file was damaged). A stale CRC (live-view stores since
 * the writer's last sync) can't be checked and is not listed.
 * @throws as {@link describeRecords}; `ERR_INVALID` for an `onProgress` that is not a function.
 */
export function verifyRecords(path: string, onProgress?: (done: number, total: number) => void): VerifyReport {
  pathArg("path", path);
  functionOption("onProgress", onProgress);
  using file = File.open(path, { readonly: true });
  const layout = readFileLayout(file);
  const bad: Array<{ id: number; reason: string }> = [];
  const total = layout.count;
  if (total === 0) {
    onProgress?.(0, 0);
    return { checked: 0, bad };
  }
  using mapping = Mapping.file(file, { length: fileBytesFor(layout.dataOffset, layout.recordSize, layout.capacity), readonly: true });
  const u8 = new Uint8Array(mapping.buffer, 0, mapping.length);
  const i32 = new Int32Array(mapping.buffer, 0, mapping.length >>> 2);
  const u32 = new Uint32Array(mapping.buffer, 0, mapping.length >>> 2);
  const rs = layout.recordSize;
  const crc = makeRecordCrc(crcFieldsOf(layout.stored.fields), rs);
  const step = rs >>> 2;
  let w = layout.dataOffset >>> 2;
  for (let id = 0; id < total; id++, w += step) {
    const seq = loadOrdered(i32, w);
    if ((seq & 1) !== 0) {
      bad.push({ id, reason: `sequence word ${seq} is odd: a writer died or is mid-update` });
    } else {
      const computed = crc(u8, u32, w << 2);
      const stored = loadOrdered(i32, w + CRC_WORD);
      // A live writer may change the record meanwhile: a mismatch counts only if the
      // sequence word did not move.
      if (stored !== CRC_STALE && stored !== computed && loadOrdered(i32, w) === seq) {
        const what = stored === CRC_NEVER ? "its CRC word is 0, as in a record never written (a zeroed page?)" : `stored ${(stored >>> 0).toString(16)}, computed ${(computed >>> 0).toString(16)} from the fields`;
        bad.push({ id, reason: `CRC mismatch: ${what}` });
      }
    }
    if ((id & 0xffff) === 0xffff) onProgress?.(id + 1, total);
  }
  onProgress?.(total, total);
  return { checked: total, bad };
}
