/**
 * One segment of a queue: an index file of fixed-size entries and a data file, both mapped.
 *
 * The index is mapped (not read into the heap), so reading item n is one entry lookup and
 * one copy, whatever the size of the queue. File descriptors are closed right after
 * mapping: a queue with many segments holds mappings, not open files.
 *
 * Both files are created at their full size, allocated, and never resized; a file of any
 * other size was cut or grown by something else and is `ERR_CORRUPT` (never grown back,
 * never mapped for writing: a store past the end of a file is SIGBUS). A file that can't
 * be opened or mapped is an `ERR_SYSTEM` error, never read as "no items".
 *
 * Longer than 500 lines because it is the one place that knows a segment's two files: every
 * accessor of an index entry and a record is here, beside the checks that make them safe to
 * map, so that the write path, recovery and readers share one reading of the format.
 */
import { join } from "node:path";
import { File, Mapping, allocate } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";
import { decodeHeader, encodeHeader, headerBytes } from "../primitives/header.ts";
import { crc32 } from "../primitives/crc.ts";
import { publishFile, removeFile } from "../primitives/publish.ts";
import {
  DATA_SPEC,
  DATA_START,
  ENTRY_BYTES,
  entryCheck,
  entryFlagsWord,
  FLAG_BITS,
  FLAG_DELETED,
  FLAG_VALID,
  HEADER_ROOM,
  IDX_DATA_END,
  IDX_ENTRIES,
  IDX_LIVE,
  IDX_LIVE_BYTES,
  IDX_WRITTEN,
  INDEX_SPEC,
  indexFileBytes,
  REC_CHECK,
  REC_CRC,
  REC_EPOCH,
  REC_LENGTH,
  REC_POSITION,
  RECORD_HEADER,
  recordCheck,
  segmentFileName,
} from "./layout.ts";

/** The layout numbers every segment of one queue shares. */
export interface SegmentGeometry {
  segmentBytes: number;
  segmentItems: number;
}

const LIVE = IDX_LIVE / 8;
const WRITTEN = IDX_WRITTEN / 8;
const DATA_END = IDX_DATA_END / 8;
const LIVE_BYTES = IDX_LIVE_BYTES / 8;
const ENTRY_WORDS = ENTRY_BYTES / 4;
const FIRST_ENTRY_WORD = IDX_ENTRIES / 4;

function readHeaderBytes(file: File): Uint8Array {
  const bytes = new Uint8Array(HEADER_ROOM);
  const n = file.read(bytes, 0);
  return bytes.subarray(0, n);
}

function corrupt(path: string, message: string): OffheapError {
  return new OffheapError("ERR_CORRUPT", `${path}: ${message}`, { path });
}

/** Queue files never change size: any other size means something else cut or grew it. */
function checkSize(file: File, expected: number, what: string): void {
  const size = file.size;
  if (size !== expected) {
    throw corrupt(file.path, `${what} file is ${size} bytes, expected ${expected}: it was ${size < expected ? "cut short" : "grown"} by something else`);
  }
}

/** A mapped segment. Entry words and the live area are read straight from the mapping. */
export class Segment {
  readonly base: number;
  readonly indexPath: string;
  readonly dataPath: string;
  readonly readonly: boolean;
  readonly geometry: SegmentGeometry;
  /** Entry positions in the index file (segmentItems: the file is never shorter). */
  readonly limit: number;
  #index: Mapping;
  #words: Uint32Array;
  #live: Float64Array;
  #data: Mapping | undefined;
  #dataBytes: Uint8Array | undefined;
  #dataView: DataView | undefined;
  #writer: File | undefined;

  private constructor(base: number, dir: string, prefix: string, geometry: SegmentGeometry, readonly: boolean, index: Mapping) {
    this.base = base;
    this.indexPath = join(dir, segmentFileName(prefix, base, "idx"));
    this.dataPath = join(dir, segmentFileName(prefix, base, "dat"));
    this.geometry = geometry;
    this.readonly = readonly;
    this.#index = index;
    this.limit = geometry.segmentItems;
    this.#words = new Uint32Array(index.buffer, 0, index.length >>> 2);
    this.#live = new Float64Array(index.buffer, 0, IDX_ENTRIES / 8);
  }

  /**
   * Create the data and index files of a new segment starting at `base`. The data file is
   * published first: an index file is what makes a segment exist.
   */
  static create(dir: string, prefix: string, base: number, geometry: SegmentGeometry, durable: boolean): Segment {
    const dataHeader = encodeHeader(DATA_SPEC, { base, segmentBytes: geometry.segmentBytes });
    publishFile(dir, segmentFileName(prefix, base, "dat"), dataHeader, geometry.segmentBytes, durable, true);
    const indexHeader = encodeHeader(INDEX_SPEC, { base, ...geometry });
    try {
      publishFile(dir, segmentFileName(prefix, base, "idx"), indexHeader, indexFileBytes(geometry.segmentItems), durable, true);
    } catch (e) {
      removeFile(join(dir, segmentFileName(prefix, base, "dat"))); // holds nothing yet
      throw e;
    }
    const segment = Segment.open(dir, prefix, base, geometry, false);
    segment.dataEnd = DATA_START;
    return segment;
  }

  /**
   * Map the index file of the segment at `base`. Throws `ERR_FORMAT`/`ERR_CORRUPT` for a
   * bad header or a file of the wrong size, `ERR_SYSTEM` when it can't be opened or mapped.
   */
  static open(dir: string, prefix: string, base: number, geometry: SegmentGeometry, readonly: boolean): Segment {
    const path = join(dir, segmentFileName(prefix, base, "idx"));
    const file = File.open(path, { readonly });
    try {
      const head = readHeaderBytes(file);
      if (head.length < headerBytes(INDEX_SPEC)) throw corrupt(path, `index file cut short: ${head.length} bytes, its header alone is ${headerBytes(INDEX_SPEC)}`);
      const header = decodeHeader(INDEX_SPEC, head, path);
      if (header.base !== base || header.segmentItems !== geometry.segmentItems || header.segmentBytes !== geometry.segmentBytes) {
        throw corrupt(
          path,
          `index header says base ${header.base}, ${header.segmentItems} items, ${header.segmentBytes} bytes; ` +
            `expected base ${base}, ${geometry.segmentItems} items, ${geometry.segmentBytes} bytes`,
        );
      }
      checkSize(file, indexFileBytes(geometry.segmentItems), "index");
      // Files this version made are allocated already (a no-op); older ones had holes,
      // which a store on a full disk would fault on: ENOSPC now instead.
      if (!readonly) allocate(file, 0, indexFileBytes(geometry.segmentItems), { keepData: true });
      const index = Mapping.file(file, { length: indexFileBytes(geometry.segmentItems), readonly });
      const segment = new Segment(base, dir, prefix, geometry, readonly, index);
      // A writable open recomputes the live area (recovery); a read-only one relies on it.
      if (readonly) {
        const damage = segment.#checkLiveArea();
        if (damage !== undefined) {
          segment.close();
          throw corrupt(path, damage);
        }
      }
      return segment;
    } finally {
      file.close();
    }
  }

  /**
   * What is wrong with the live area, or `undefined`. Every value a writer stores is an
   * integer in range, entries below `written` are complete before `written` covers them,
   * and `live` is raised only after `written`, so reading `live` first these hold even
   * while another process appends. A recovery in another process may lower `written`
   * under us: a failure must persist over a few looks to count as damage.
   */
  #checkLiveArea(): string | undefined {
    let problem: string | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) Bun.sleepSync(1);
      problem = this.#liveAreaProblem();
      if (problem === undefined) return undefined;
    }
    return problem;
  }

  #liveAreaProblem(): string | undefined {
    const { segmentItems, segmentBytes } = this.geometry;
    const live = this.live;
    const liveBytes = this.liveBytes;
    const dataEnd = this.dataEnd;
    const written = this.written;
    if (!Number.isInteger(written) || written < 0 || written > segmentItems) return `index live area says ${written} entries written; expected an integer from 0 to ${segmentItems}`;
    if (!Number.isInteger(live) || live < 0 || live > written) return `index live area says ${live} live items; expected an integer from 0 to ${written} (the entries written)`;
    if (!Number.isInteger(liveBytes) || liveBytes < 0 || liveBytes > segmentBytes) return `index live area says ${liveBytes} live bytes; expected an integer from 0 to ${segmentBytes}`;
    if (!Number.isInteger(dataEnd) || dataEnd < 0 || dataEnd > segmentBytes) return `index live area says the data ends at ${dataEnd}; expected an integer from 0 to ${segmentBytes}`;
    if (written > 0 && !this.entryOk(written - 1)) {
      return `entry ${written - 1}, the last of the ${written} written, is ${this.isBlank(written - 1) ? "blank" : "damaged (its check does not match)"}`;
    }
    return undefined;
  }

  /** Live items in this segment (shared through the file). */
  get live(): number {
    return this.#live[LIVE]!;
  }
  set live(v: number) {
    this.#live[LIVE] = v;
  }
  /** Entry positions used so far. */
  get written(): number {
    return this.#live[WRITTEN]!;
  }
  set written(v: number) {
    this.#live[WRITTEN] = v;
  }
  /** First free byte of the data file. */
  get dataEnd(): number {
    return this.#live[DATA_END]!;
  }
  set dataEnd(v: number) {
    this.#live[DATA_END] = v;
  }
  /** Bytes of the live items. */
  get liveBytes(): number {
    return this.#live[LIVE_BYTES]!;
  }
  set liveBytes(v: number) {
    this.#live[LIVE_BYTES] = v;
  }

  /** Flags of entry `pos`, without its check (0 when beyond what is mapped). */
  flags(pos: number): number {
    if (pos >= this.limit) return 0;
    return this.#words[FIRST_ENTRY_WORD + pos * ENTRY_WORDS + 3]! & FLAG_BITS;
  }

  /** Whether entry `pos` is a complete entry (live or deleted) whose check matches. */
  entryOk(pos: number): boolean {
    if (pos >= this.limit) return false;
    const w = FIRST_ENTRY_WORD + pos * ENTRY_WORDS;
    const words = this.#words;
    const word = words[w + 3]!;
    const flags = word & FLAG_BITS;
    if (flags !== FLAG_VALID && flags !== (FLAG_VALID | FLAG_DELETED)) return false;
    return word >>> 16 === entryCheck(words[w]!, words[w + 1]!, words[w + 2]!, flags);
  }

  /**
   * Whether entry `pos` was damaged: its flags word is set (a writer stores it last, in
   * one store) but the entry is not a valid one.
   */
  damaged(pos: number): boolean {
    if (pos >= this.limit) return false;
    return this.#words[FIRST_ENTRY_WORD + pos * ENTRY_WORDS + 3] !== 0 && !this.entryOk(pos);
  }

  /** Length of entry `pos`. */
  length(pos: number): number {
    return this.#words[FIRST_ENTRY_WORD + pos * ENTRY_WORDS + 1]!;
  }

  /** Whether entry `pos` holds a live item. */
  isLive(pos: number): boolean {
    return (this.flags(pos) & (FLAG_VALID | FLAG_DELETED)) === FLAG_VALID;
  }

  /** Write entry `pos`; the flags word goes last so a half-written entry is never valid. */
  writeEntry(pos: number, offset: number, length: number, crc: number): void {
    const w = FIRST_ENTRY_WORD + pos * ENTRY_WORDS;
    const words = this.#words;
    words[w] = offset;
    words[w + 1] = length;
    words[w + 2] = crc;
    words[w + 3] = entryFlagsWord(offset, length, crc, FLAG_VALID);
  }

  /** Data offset of entry `pos` (where its bytes start). */
  offset(pos: number): number {
    return this.#words[FIRST_ENTRY_WORD + pos * ENTRY_WORDS]!;
  }

  /**
   * Write the record for entry `pos` at data offset `at`: header, then `bytes`. Returns
   * where the bytes start. The caller has checked that it fits.
   */
  writeRecord(at: number, pos: number, bytes: Uint8Array, crc: number, epoch: number): number {
    const data = this.#dataBytes ?? this.data();
    return encodeRecord(data, at, pos, bytes, crc, epoch);
  }

  /**
   * Write `bytes` (whole records staged by the caller) at data offset `at` with pwrite:
   * for large batches this is about twice as fast as filling fresh mapped pages.
   */
  writeAt(bytes: Uint8Array, at: number): void {
    if (at < DATA_START || at + bytes.length > this.geometry.segmentBytes) {
      throw new OffheapError("ERR_RANGE", `write of ${bytes.length} bytes at ${at} passes the end of ${this.dataPath}`, { path: this.dataPath });
    }
    this.#writer ??= File.open(this.dataPath);
    this.#writer.write(bytes, at);
  }

  /** Start writeback of data bytes `[at, at + length)` written with {@link writeAt}. */
  startWriteback(at: number, length: number): void {
    this.#writer?.startWriteback(at, length);
  }

  /**
   * The record at data offset `at` if it is whole and is the one for entry `pos`: its
   * header checks out, its epoch is at least `minEpoch`, it lies inside the file and its
   * bytes match their CRC. Never throws for bad data; throws when the data file can't be
   * read at all (that is not a torn record).
   */
  readRecord(at: number, pos: number, minEpoch: number): { length: number; crc: number; epoch: number } | undefined {
    const data = this.data();
    const view = this.#dataView!;
    if (at < DATA_START || at + RECORD_HEADER > data.length) return undefined;
    const length = view.getUint32(at + REC_LENGTH, true);
    const crc = view.getUint32(at + REC_CRC, true);
    const epoch = view.getUint32(at + REC_EPOCH, true);
    if (view.getUint32(at + REC_POSITION, true) !== pos || epoch < minEpoch) return undefined;
    if (view.getUint32(at + REC_CHECK, true) !== recordCheck(length, crc, pos, epoch)) return undefined;
    const start = at + RECORD_HEADER;
    if (start + length > data.length || crc32(data.subarray(start, start + length)) !== crc) return undefined;
    return { length, crc, epoch };
  }

  /** Epoch of the record whose bytes start at `dataOffset`, or 0 when out of bounds. */
  recordEpoch(dataOffset: number): number {
    const at = dataOffset - RECORD_HEADER;
    const data = this.data();
    if (at < DATA_START || at + RECORD_HEADER > data.length) return 0;
    return this.#dataView!.getUint32(at + REC_EPOCH, true);
  }

  /**
   * Zero the header of the record at data offset `at`, so that a walk over the records
   * (recovery rebuilding lost entries) stops there: used to take back records of a call
   * that failed. The data file is allocated, so the store can't fault.
   */
  eraseRecord(at: number): void {
    const data = this.data();
    if (at >= DATA_START && at + RECORD_HEADER <= data.length) data.fill(0, at, at + RECORD_HEADER);
  }

  /** Mark entry `pos` deleted. */
  markDeleted(pos: number): void {
    const w = FIRST_ENTRY_WORD + pos * ENTRY_WORDS;
    const words = this.#words;
    words[w + 3] = entryFlagsWord(words[w]!, words[w + 1]!, words[w + 2]!, FLAG_VALID | FLAG_DELETED);
  }

  /** Zero entry `pos` (a dropped torn entry). */
  clearEntry(pos: number): void {
    this.#words.fill(0, FIRST_ENTRY_WORD + pos * ENTRY_WORDS, FIRST_ENTRY_WORD + (pos + 1) * ENTRY_WORDS);
  }

  /** Whether entry `pos` is all zeros. */
  isBlank(pos: number): boolean {
    if (pos >= this.limit) return true;
    const w = FIRST_ENTRY_WORD + pos * ENTRY_WORDS;
    const words = this.#words;
    return words[w] === 0 && words[w + 1] === 0 && words[w + 2] === 0 && words[w + 3] === 0;
  }

  /**
   * Why the bytes of entry `pos` are bad, or `undefined` when they are in bounds and match
   * its CRC. Never throws for bad bytes; throws (`ERR_SYSTEM`, `ERR_CORRUPT`) when the
   * data file can't be read at all: that says nothing about the item.
   */
  check(pos: number): string | undefined {
    const w = FIRST_ENTRY_WORD + pos * ENTRY_WORDS;
    const words = this.#words;
    const offset = words[w]!;
    const length = words[w + 1]!;
    const data = this.data();
    if (offset < DATA_START || offset + length > data.length) {
      return `entry points at bytes ${offset}..${offset + length}, outside the data file's ${DATA_START}..${data.length}`;
    }
    const actual = crc32(data.subarray(offset, offset + length));
    if (actual !== words[w + 2]) return `data checksum mismatch (stored ${words[w + 2]}, computed ${actual})`;
    return undefined;
  }

  /**
   * A copy of the live item at `pos`, or `undefined` when there is none (a blank or
   * deleted entry). Throws `ERR_CORRUPT` when the entry is damaged (its check differs),
   * points outside the data file, or the CRC differs.
   */
  read(pos: number, index: number): Uint8Array | undefined {
    if (pos >= this.limit) return undefined;
    const w = FIRST_ENTRY_WORD + pos * ENTRY_WORDS;
    const words = this.#words;
    const word = words[w + 3]!;
    const offset = words[w]!;
    const length = words[w + 1]!;
    const crc = words[w + 2]!;
    if (word !== entryFlagsWord(offset, length, crc, FLAG_VALID)) return this.#notLive(pos, index);
    const data = this.#dataBytes ?? this.data();
    if (offset < DATA_START || offset + length > data.length) {
      throw corrupt(this.indexPath, `item ${index} points at bytes ${offset}..${offset + length}, outside the data file's ${DATA_START}..${data.length}`);
    }
    const out = data.slice(offset, offset + length);
    const actual = crc32(out);
    if (actual !== crc) {
      throw corrupt(this.dataPath, `item ${index} fails its checksum (stored 0x${crc.toString(16)}, computed 0x${actual.toString(16)})`);
    }
    return out;
  }

  /** `undefined` for a blank or deleted entry `pos`; throws `ERR_CORRUPT` for a damaged one. */
  #notLive(pos: number, index: number): undefined {
    if (this.isBlank(pos) || this.entryOk(pos)) return undefined;
    throw corrupt(this.indexPath, `the index entry of item ${index} is damaged: its check does not match its offset, length, CRC and flags`);
  }

  /** The mapped data file (mapped on first use). */
  data(): Uint8Array {
    if (this.#dataBytes !== undefined) return this.#dataBytes;
    const file = this.#openData(this.readonly);
    try {
      if (!this.readonly) allocate(file, 0, this.geometry.segmentBytes, { keepData: true }); // see open()
      this.#data = Mapping.file(file, { length: this.geometry.segmentBytes, readonly: this.readonly });
      this.#dataBytes = this.#data.bytes;
      this.#dataView = new DataView(this.#data.buffer);
      return this.#dataBytes;
    } finally {
      file.close();
    }
  }

  /**
   * Check that the data file can be opened and has the right header and size, without
   * mapping it: `ERR_SYSTEM` (missing, no permission) or `ERR_CORRUPT`/`ERR_FORMAT`.
   */
  probeData(): void {
    if (this.#dataBytes === undefined) this.#openData(true).close();
  }

  #openData(readonly: boolean): File {
    return openDataFile(this.dataPath, this.base, this.geometry, readonly);
  }

  /** Flush data bytes `[from, to)` to disk. */
  syncData(from: number, to: number): void {
    if (to <= from) return;
    if (this.#writer !== undefined) this.#writer.datasync();
    else this.#data?.sync(from, to - from);
  }

  /** Close the pwrite descriptor (the segment is no longer the tail). */
  releaseWriter(): void {
    this.#writer?.close();
    this.#writer = undefined;
  }

  /** Flush entries `[from, to)` (and the live area) to disk. */
  syncEntries(from: number, to: number): void {
    if (to <= from) return;
    const start = IDX_ENTRIES + from * ENTRY_BYTES;
    this.#index.sync(start, (to - from) * ENTRY_BYTES);
  }

  /** Flush everything mapped. */
  syncAll(): void {
    this.#writer?.datasync();
    this.#data?.sync();
    this.#index.sync();
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return !this.#index.isOpen;
  }

  /** Unmap both files. Idempotent. */
  close(): void {
    this.releaseWriter();
    this.#index.close();
    this.#data?.close();
    this.#data = undefined;
    this.#dataBytes = undefined;
    this.#dataView = undefined;
  }
}

/**
 * Open the data file at `path` of the segment at `base` and check its header and size
 * (the caller closes it): `ERR_SYSTEM` when it can't be opened, `ERR_FORMAT`/`ERR_CORRUPT`
 * when it is not that segment's data file.
 */
export function openDataFile(path: string, base: number, geometry: SegmentGeometry, readonly: boolean): File {
  const file = File.open(path, { readonly });
  try {
    const head = readHeaderBytes(file);
    if (head.length < headerBytes(DATA_SPEC)) throw corrupt(path, `data file cut short: ${head.length} bytes, its header alone is ${headerBytes(DATA_SPEC)}`);
    const header = decodeHeader(DATA_SPEC, head, path);
    if (header.base !== base || header.segmentBytes !== geometry.segmentBytes) {
      throw corrupt(path, `data header says base ${header.base}, ${header.segmentBytes} bytes; expected base ${base}, ${geometry.segmentBytes}`);
    }
    checkSize(file, geometry.segmentBytes, "data");
    return file;
  } catch (e) {
    file.close();
    throw e;
  }
}

/**
 * Whether the data file at `path` holds no record at all, as a segment create that died
 * before publishing its index leaves it. Throws when it can't be read or isn't one.
 */
export function dataFileIsEmpty(path: string, base: number, geometry: SegmentGeometry): boolean {
  const file = openDataFile(path, base, geometry, true);
  try {
    const first = new Uint8Array(RECORD_HEADER);
    file.read(first, DATA_START);
    return first.every((b) => b === 0);
  } finally {
    file.close();
  }
}

/**
 * Encode one record (header, then `bytes`) at `at` of `target`; returns where the bytes
 * start. Shared by mapped writes and the pwrite staging buffer. The header is stored byte
 * by byte: records are not 4-byte aligned, and JSC does not inline DataView stores here
 * (measured: five `setUint32` calls cost about half of the rest of an append).
 */
export function encodeRecord(target: Uint8Array, at: number, pos: number, bytes: Uint8Array, crc: number, epoch: number): number {
  const length = bytes.length;
  target.set(bytes, at + RECORD_HEADER);
  put32(target, at + REC_LENGTH, length);
  put32(target, at + REC_CRC, crc);
  put32(target, at + REC_POSITION, pos);
  put32(target, at + REC_EPOCH, epoch);
  put32(target, at + REC_CHECK, recordCheck(length, crc, pos, epoch));
  return at + RECORD_HEADER;
}

/** Store `v` little-endian at `at`. */
function put32(target: Uint8Array, at: number, v: number): void {
  target[at] = v;
  target[at + 1] = v >>> 8;
  target[at + 2] = v >>> 16;
  target[at + 3] = v >>> 24;
}
