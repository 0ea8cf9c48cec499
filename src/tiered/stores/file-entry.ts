/**
 * The file store's entry format (kind "TFEN", version 2): the shared header with fields
 * `keyBytes, metaBytes, headCrc` (CRC-32 of the key and metadata bytes), then the key
 * (UTF-8), the metadata (JSON, see `meta.ts`), the body, and a 16-byte trailer
 * `{ bodyBytes u64, bodyCrc u32, "TEND" }`. Version 1 entries (no `headCrc`) read as
 * corrupt.
 */
import { crc32 } from "../../primitives/crc.ts";
import type { File } from "../../../ffi/index.ts";
import { OffheapError } from "../../errors.ts";
import { decodeHeader, encodeHeader, headerBytes, registerKind, type HeaderSpec } from "../../primitives/header.ts";
import { metaFromRecord, metaRecord } from "../meta.ts";
import type { EntryMeta } from "../types.ts";

/** Each entry file's header. */
export const FILE_ENTRY_SPEC: HeaderSpec<"keyBytes" | "metaBytes" | "headCrc"> = {
  kind: "TFEN",
  name: "tiered cache entry",
  version: 2,
  fields: ["keyBytes", "metaBytes", "headCrc"],
};
registerKind(FILE_ENTRY_SPEC);

/** Bytes of an entry's header. */
export const ENTRY_HEADER = headerBytes(FILE_ENTRY_SPEC);
/** Bytes of an entry's trailer. */
export const TRAILER = 16;
const TRAILER_MAGIC = 0x444e4554; // "TEND"
/** Largest metadata record. */
export const MAX_META = 64 * 1024;
/** Largest key. */
export const MAX_KEY = 4096;

/** A parsed entry file head. */
export interface EntryHead {
  key: string;
  meta: EntryMeta;
  /** Offset of the body in the file. */
  bodyStart: number;
  bodyBytes: number;
  bodyCrc: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The 24 fixed bytes every entry header starts with (magic, kind, version, field count). */
const ENTRY_PREFIX = encodeHeader(FILE_ENTRY_SPEC, { keyBytes: 0, metaBytes: 0, headCrc: 0 }).slice(0, 24);

function u32le(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

function u64le(b: Uint8Array, at: number): number {
  return u32le(b, at) + u32le(b, at + 4) * 0x1_0000_0000;
}

/** The entry header's fields; the common case is checked inline, anything odd goes through decodeHeader for its precise error. */
function entryHeader(bytes: Uint8Array, path: string): { keyBytes: number; metaBytes: number; headCrc: number } {
  if (bytes.length >= ENTRY_HEADER) {
    let same = true;
    for (let i = 0; i < 24; i++) {
      if (bytes[i] !== ENTRY_PREFIX[i]) {
        same = false;
        break;
      }
    }
    if (same && crc32(bytes.subarray(0, ENTRY_HEADER - 4)) === u32le(bytes, ENTRY_HEADER - 4)) {
      return { keyBytes: u64le(bytes, 24), metaBytes: u64le(bytes, 32), headCrc: u64le(bytes, 40) };
    }
  }
  return decodeHeader(FILE_ENTRY_SPEC, bytes.subarray(0, Math.min(bytes.length, ENTRY_HEADER)), path);
}

/** Parse the head of an entry from `bytes` (which must hold at least header, key and meta). Throws ERR_FORMAT / ERR_CORRUPT. */
export function parseHead(bytes: Uint8Array, fileSize: number, path: string): { key: string; meta: EntryMeta; bodyStart: number } {
  const h = entryHeader(bytes, path);
  const bodyStart = ENTRY_HEADER + h.keyBytes + h.metaBytes;
  if (h.keyBytes > MAX_KEY || h.metaBytes > MAX_META || bodyStart + TRAILER > fileSize) {
    throw new OffheapError("ERR_CORRUPT", `${path}: key ${h.keyBytes} B and meta ${h.metaBytes} B do not fit in a ${fileSize}-byte entry`, { path });
  }
  if (bytes.length < bodyStart) throw new RangeError("head not fully read");
  if (crc32(bytes.subarray(ENTRY_HEADER, bodyStart)) !== h.headCrc) {
    throw new OffheapError("ERR_CORRUPT", `${path}: key or metadata bytes fail their checksum`, { path });
  }
  let key: string;
  let meta: EntryMeta;
  try {
    key = decoder.decode(bytes.subarray(ENTRY_HEADER, ENTRY_HEADER + h.keyBytes));
    const parsed = metaFromRecord(JSON.parse(decoder.decode(bytes.subarray(ENTRY_HEADER + h.keyBytes, bodyStart))));
    if (parsed === undefined) throw new Error("not an entry metadata record");
    meta = parsed;
  } catch (e) {
    throw new OffheapError("ERR_CORRUPT", `${path}: key or metadata unreadable (${(e as Error).message})`, { path, cause: e });
  }
  return { key, meta, bodyStart };
}

/** Check the trailer at `bytes` (16 bytes) against the file; returns `{ bodyBytes, bodyCrc }`. */
export function parseTrailer(bytes: Uint8Array, bodyStart: number, fileSize: number, path: string): { bodyBytes: number; bodyCrc: number } {
  const bodyBytes = u64le(bytes, 0);
  const bodyCrc = u32le(bytes, 8);
  if (u32le(bytes, 12) !== TRAILER_MAGIC || bodyStart + bodyBytes + TRAILER !== fileSize) {
    throw new OffheapError("ERR_CORRUPT", `${path}: entry trailer missing or says ${bodyBytes} body bytes where the file holds ${fileSize - bodyStart - TRAILER}`, { path });
  }
  return { bodyBytes, bodyCrc };
}

/** Read and check an entry's head and trailer from an open file. */
export function readHead(file: File, path: string): EntryHead & { fileSize: number } {
  const fileSize = file.size;
  if (fileSize < ENTRY_HEADER + TRAILER) throw new OffheapError("ERR_CORRUPT", `${path}: entry cut short at ${fileSize} bytes`, { path });
  let buf = new Uint8Array(Math.min(fileSize, 4096));
  file.read(buf, 0);
  let head: ReturnType<typeof parseHead>;
  try {
    head = parseHead(buf, fileSize, path);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    const h = decodeHeader(FILE_ENTRY_SPEC, buf.subarray(0, ENTRY_HEADER), path);
    buf = new Uint8Array(ENTRY_HEADER + h.keyBytes + h.metaBytes);
    file.read(buf, 0);
    head = parseHead(buf, fileSize, path);
  }
  const tail = new Uint8Array(TRAILER);
  file.read(tail, fileSize - TRAILER);
  const t = parseTrailer(tail, head.bodyStart, fileSize, path);
  head.meta.size = t.bodyBytes;
  return { ...head, ...t, fileSize };
}

/** The head of an entry for `key` and `meta`: header, key and metadata (ERR_TOO_LARGE past the limits). */
export function encodeEntryHead(key: string, meta: EntryMeta): Uint8Array {
  const keyBytes = encoder.encode(key);
  if (keyBytes.length > MAX_KEY) throw new OffheapError("ERR_TOO_LARGE", `key of ${keyBytes.length} bytes; the file store takes at most ${MAX_KEY}`);
  const metaBytes = encoder.encode(JSON.stringify(metaRecord(meta)));
  if (metaBytes.length > MAX_META) throw new OffheapError("ERR_TOO_LARGE", `metadata of ${metaBytes.length} bytes; at most ${MAX_META}`);
  const head = new Uint8Array(ENTRY_HEADER + keyBytes.length + metaBytes.length);
  head.set(keyBytes, ENTRY_HEADER);
  head.set(metaBytes, ENTRY_HEADER + keyBytes.length);
  const headCrc = crc32(head.subarray(ENTRY_HEADER));
  head.set(encodeHeader(FILE_ENTRY_SPEC, { keyBytes: keyBytes.length, metaBytes: metaBytes.length, headCrc }), 0);
  return head;
}

/** The trailer of a body of `bodyBytes` bytes with CRC-32 `bodyCrc`. */
export function encodeTrailer(bodyBytes: number, bodyCrc: number): Uint8Array {
  const trailer = new Uint8Array(TRAILER);
  const view = new DataView(trailer.buffer);
  view.setUint32(0, bodyBytes >>> 0, true);
  view.setUint32(4, Math.floor(bodyBytes / 0x1_0000_0000), true);
  view.setUint32(8, bodyCrc >>> 0, true);
  view.setUint32(12, TRAILER_MAGIC, true);
  return trailer;
}
