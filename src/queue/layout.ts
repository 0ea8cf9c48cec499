/**
 * The on-disk layout of a DurableQueue: file names, headers, and byte offsets.
 *
 * A queue in `dir` with prefix `p` is:
 * ```
 * p.qdir                 directory file: header (QDIR), crash-safe floors, shared live state
 * p-<base>.idx           per segment: header (QIDX), live area, fixed 16-byte entries
 * p-<base>.dat           per segment: header (QDAT), then the items' bytes
 * p.reader-<name>        a named reader's position (header QRDR + counter block)
 * ```
 * `<base>` is the segment's first index, 16 decimal digits, so names sort in index order.
 * Index and data files are created at full size (sparse) and never resized, so a mapping of
 * them can never reach past the end of the file (no SIGBUS), in this process or another.
 */
import { CounterBlock, headerBytes, registerKind, type HeaderSpec } from "../format.ts";

/** Header of the directory file. `maxBytes` 0 means unlimited. */
export const DIR_SPEC: HeaderSpec<"segmentBytes" | "segmentItems" | "maxBytes"> = {
  kind: "QDIR",
  name: "durable queue",
  version: 1,
  fields: ["segmentBytes", "segmentItems", "maxBytes"],
};

/** Header of a segment's index file. */
export const INDEX_SPEC: HeaderSpec<"base" | "segmentItems" | "segmentBytes"> = {
  kind: "QIDX",
  name: "durable queue index segment",
  version: 1,
  fields: ["base", "segmentItems", "segmentBytes"],
};

/** Header of a segment's data file. */
export const DATA_SPEC: HeaderSpec<"base" | "segmentBytes"> = {
  kind: "QDAT",
  name: "durable queue data segment",
  version: 1,
  fields: ["base", "segmentBytes"],
};

/** Header of a named reader's position file. */
export const READER_SPEC: HeaderSpec<"reserved"> = {
  kind: "QRDR",
  name: "durable queue reader position",
  version: 1,
  fields: ["reserved"],
};

/** Header of the wake file, which any follower may write (even through a read-only queue handle). */
export const WAKE_SPEC: HeaderSpec<"reserved"> = {
  kind: "QWAK",
  name: "durable queue wake-up file",
  version: 1,
  fields: ["reserved"],
};

registerKind(WAKE_SPEC);
registerKind(DIR_SPEC);
registerKind(INDEX_SPEC);
registerKind(DATA_SPEC);
registerKind(READER_SPEC);

/** Room reserved for any header (all of ours are shorter). */
export const HEADER_ROOM = 64;
for (const spec of [DIR_SPEC, INDEX_SPEC, DATA_SPEC, READER_SPEC, WAKE_SPEC]) {
  if (headerBytes(spec) > HEADER_ROOM) throw new Error(`${spec.kind} header does not fit in ${HEADER_ROOM} bytes`);
}

// --- directory file -------------------------------------------------------------------

/** Size of the directory file (one page). */
export const DIR_FILE_BYTES = 4096;
/**
 * Crash-safe floors, written (and flushed) before a segment is removed or on truncate:
 * `[firstFloor, nextFloor]`. Indexes below `firstFloor` are gone; `next` is never below
 * `nextFloor`, so an index is never handed out twice even when every segment was removed.
 */
export const FLOORS = new CounterBlock(HEADER_ROOM, 2);
/** Int32 word bumped after every change; followers futex-wait on it. */
export const DIR_CHANGES = 128;
/** Int32 word: 1 while a lock holder is mid-mutation; a later holder that sees 1 repairs. */
export const DIR_DIRTY = 132;
/** Int32 word bumped when a segment file is created or removed. */
export const DIR_SEGGEN = 136;
/** Float64 shared state, valid under the lock (recomputed on writable open). */
export const DIR_FIRST = 144;
export const DIR_NEXT = 152;
export const DIR_COUNT = 160;
export const DIR_BYTES = 168;

// --- wake file ------------------------------------------------------------------------

/** Size of the wake file. */
export const WAKE_FILE_BYTES = 4096;
/**
 * Int32: how many followers may be waiting. Producers call futex wake only when it is
 * above zero, which keeps a syscall off every append when nobody follows.
 */
export const WAKE_WAITERS = 64;

/** File name of the wake file. */
export function wakeFileName(prefix: string): string {
  return `${prefix}.qwake`;
}

// --- index file -----------------------------------------------------------------------

/** Float64 fields of a segment's live area (recomputed on writable open). */
export const IDX_LIVE = 64; // live items in this segment
export const IDX_WRITTEN = 72; // entry positions used (next position to write)
export const IDX_DATA_END = 80; // first free byte in the data file
export const IDX_LIVE_BYTES = 88; // bytes of the live items
/** Where entries start. */
export const IDX_ENTRIES = 128;
/** Bytes per entry: offset u32, length u32, crc u32, flags u32. */
export const ENTRY_BYTES = 16;
export const ENTRY_OFFSET = 0;
export const ENTRY_LENGTH = 4;
export const ENTRY_CRC = 8;
export const ENTRY_FLAGS = 12;
/** Entry flag: the entry was written completely (stored last, after the data). */
export const FLAG_VALID = 1;
/** Entry flag: the item was deleted, shifted or truncated. */
export const FLAG_DELETED = 2;

/** Byte length of an index file holding `items` entries. */
export function indexFileBytes(items: number): number {
  return IDX_ENTRIES + items * ENTRY_BYTES;
}

/** Where the items' bytes start in a data file. */
export const DATA_START = HEADER_ROOM;

// --- names ----------------------------------------------------------------------------

const BASE_DIGITS = 16;

/** File name of the directory file. */
export function dirFileName(prefix: string): string {
  return `${prefix}.qdir`;
}

/** File name of a segment's index (`ext` "idx") or data (`ext` "dat") file. */
export function segmentFileName(prefix: string, base: number, ext: "idx" | "dat"): string {
  return `${prefix}-${String(base).padStart(BASE_DIGITS, "0")}.${ext}`;
}

/** Parse a segment file name of `prefix`; `undefined` when it is not one. */
export function parseSegmentName(prefix: string, name: string): { base: number; ext: "idx" | "dat" } | undefined {
  if (!name.startsWith(`${prefix}-`)) return undefined;
  const rest = name.slice(prefix.length + 1);
  const m = /^(\d{16})\.(idx|dat)$/.exec(rest);
  if (!m) return undefined;
  const base = Number(m[1]);
  if (!Number.isSafeInteger(base)) return undefined;
  return { base, ext: m[2] as "idx" | "dat" };
}

/** File name of a named reader's position file. */
export function readerFileName(prefix: string, name: string): string {
  return `${prefix}.reader-${name}`;
}

/** Prefixes and reader names: safe as file names on every platform. */
export const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
