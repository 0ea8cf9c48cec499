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
 * Index and data files are created at full size, allocated (a store into a hole on a full
 * disk is SIGBUS), and never resized, so a mapping of them can never reach past the end of
 * the file or need a new block, in this process or another; a file of another size is
 * `ERR_CORRUPT`.
 */
import { CounterBlock, headerBytes, registerKind, type HeaderSpec } from "../primitives/header.ts";

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
  // 2: the flags word carries a check of the entry in its upper 16 bits.
  version: 2,
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
 * Crash-safe floors `[firstFloor, nextFloor, epoch]`, raised at rollover, close, truncate,
 * segment removal and recovery (with a sync mode, the first floor also after every removal). Indexes below
 * `firstFloor` are gone, whatever their entries say; `next` is never below `nextFloor`,
 * so an index is never handed out twice even when every segment was removed; and every
 * item below `nextFloor` had its entry written (and, with a sync mode, flushed) before
 * the floor rose, so recovery treats a blank entry there as damage (see recovery.ts).
 * `epoch` grows at every recovery (see {@link RECORD_HEADER}).
 */
export const FLOORS = new CounterBlock(HEADER_ROOM, 3);
if (FLOORS.offset + FLOORS.size > 192) throw new Error("queue floors overlap the shared words");
/** Int32 word bumped after every change; followers futex-wait on it. */
export const DIR_CHANGES = 192;
/** Int32 word: 1 while a lock holder is mid-mutation; a later holder that sees 1 repairs. */
export const DIR_DIRTY = 196;
/** Int32 word bumped when a segment file is created or removed. */
export const DIR_SEGGEN = 200;
/** Float64 shared state, valid under the lock (recomputed on writable open). */
export const DIR_FIRST = 208;
export const DIR_NEXT = 216;
export const DIR_COUNT = 224;
export const DIR_BYTES = 232;
/** Float64: the current epoch (a copy of the floors' third value). */
export const DIR_EPOCH = 240;
/**
 * Int32 word: how many handles wait for the producer lock. A holder that keeps the lock past
 * its call (mutation.ts) lets it go after the call while this is non-zero. Zero in files
 * made before it existed, which is what they mean.
 */
export const DIR_WANTED = 248;

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
/**
 * Bytes per entry: offset u32, length u32, crc u32, flags u32. The flags word holds the
 * flags in its low 16 bits and {@link entryCheck} of the whole entry in its high 16 bits,
 * so a damaged flag (a live item reading as deleted, or the reverse), offset, length or
 * CRC is detected rather than read as a missing item. All zeros is a blank entry.
 */
export const ENTRY_BYTES = 16;
export const ENTRY_OFFSET = 0;
export const ENTRY_LENGTH = 4;
export const ENTRY_CRC = 8;
export const ENTRY_FLAGS = 12;
/** Entry flag: the entry was written completely (stored last, after the data). */
export const FLAG_VALID = 1;
/** Entry flag: the item was deleted, shifted or truncated. */
export const FLAG_DELETED = 2;

/** The low half of the flags word: the flags themselves. */
export const FLAG_BITS = 0xffff;

/** The 16-bit check of an entry: a mix of its offset, length, CRC and flags. */
export function entryCheck(offset: number, length: number, crc: number, flags: number): number {
  let h = Math.imul(offset ^ 0x51494458, 0x9e3779b1);
  h = Math.imul(h ^ length ^ (h >>> 15), 0x85ebca77);
  h = Math.imul(h ^ crc ^ (h >>> 13), 0xc2b2ae3d);
  h = Math.imul(h ^ flags ^ (h >>> 16), 0x27d4eb2f);
  return (h ^ (h >>> 15)) >>> 16;
}

/** The flags word of an entry: `flags` plus the entry's check. */
export function entryFlagsWord(offset: number, length: number, crc: number, flags: number): number {
  return ((entryCheck(offset, length, crc, flags) << 16) | flags) >>> 0;
}

/** Byte length of an index file holding `items` entries. */
export function indexFileBytes(items: number): number {
  return IDX_ENTRIES + items * ENTRY_BYTES;
}

/** Where the first record starts in a data file. */
export const DATA_START = HEADER_ROOM;

/**
 * Each item in a data file is a record: a 20-byte header, then the item's bytes.
 * ```
 * 0 length u32   4 crc u32 (of the bytes)   8 position u32 (its entry in the segment)
 * 12 epoch u32   16 check u32 (a mix of the other four; never matches zeros)
 * ```
 * The data file is therefore self-describing: with `sync: "batch"`/`"always"` only the
 * data is flushed per call, and index entries lost in a crash are rebuilt on reopen by
 * walking the records after the last entry. Records written after a recovery carry a
 * higher epoch, so stale records of a batch that died half-written are never mistaken for
 * new ones (a record whose epoch is lower than the one before it ends the walk).
 */
export const RECORD_HEADER = 20;
export const REC_LENGTH = 0;
export const REC_CRC = 4;
export const REC_POSITION = 8;
export const REC_EPOCH = 12;
export const REC_CHECK = 16;

/** The check word of a record header. */
export function recordCheck(length: number, crc: number, position: number, epoch: number): number {
  let h = Math.imul(length ^ 0x51524543, 0x9e3779b1);
  h = Math.imul(h ^ crc ^ (h >>> 15), 0x85ebca77);
  h = Math.imul(h ^ position ^ (h >>> 13), 0xc2b2ae3d);
  h = Math.imul(h ^ epoch ^ (h >>> 16), 0x27d4eb2f);
  return (h ^ (h >>> 15) ^ 0x5a5a5a5a) >>> 0;
}

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

/** The prefix of any queue's segment file name; `undefined` when `name` is not one. */
export function segmentPrefix(name: string): string | undefined {
  const m = /^(.+)-\d{16}\.(?:idx|dat)$/.exec(name);
  return m !== null && NAME_PATTERN.test(m[1]!) ? m[1] : undefined;
}

/** File name of a named reader's position file. */
export function readerFileName(prefix: string, name: string): string {
  return `${prefix}.reader-${name}`;
}

/** Prefixes and reader names: safe as file names on every platform. */
export const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
