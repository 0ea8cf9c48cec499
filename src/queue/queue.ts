/**
 * `DurableQueue`: a FIFO of variable-size items on disk with random reads by index,
 * soft deletes, several producer processes and durable named readers.
 *
 * Concurrency model: every mutation (append, delete, shift, truncate) holds the exclusive
 * `flock` on the directory file for its duration only, so producers in several processes
 * take turns. An `exclusive` handle instead takes the lock at open and holds it until
 * close: no other process can mutate meanwhile, so its calls skip the per-call flock pair
 * (about half of a small append) and the catch-up with other writers; everything they
 * publish (counters, dirty word, wake-ups) is the same, so readers and recovery can't tell. The shared state (first, next, counts) lives in the mapped directory file
 * and is only written under the lock; a holder that dies mid-mutation leaves a "dirty"
 * word set, and the next holder rebuilds the state from the index files. Readers need no
 * lock: an item is published (its index below `next`) only after its entry is complete.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { File, futexWake, Lock, Mapping } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";
import { assertSameOptions, decodeHeader, encodeHeader, readHeader } from "../format.ts";
import { listDir, makeDir, publishFile, removeFile } from "./fsops.ts";
import {
  DATA_START,
  DIR_BYTES,
  DIR_CHANGES,
  DIR_COUNT,
  DIR_DIRTY,
  DIR_EPOCH,
  DIR_FILE_BYTES,
  DIR_FIRST,
  DIR_NEXT,
  DIR_SEGGEN,
  DIR_SPEC,
  dirFileName,
  FLOORS,
  HEADER_ROOM,
  NAME_PATTERN,
  parseSegmentName,
  RECORD_HEADER,
  WAKE_FILE_BYTES,
  WAKE_SPEC,
  WAKE_WAITERS,
  wakeFileName,
} from "./layout.ts";
import { QueueReader, type ReaderHost } from "./reader.ts";
import { encodeRecord, Segment, type SegmentGeometry } from "./segment.ts";

/** When writes reach the disk. */
export type QueueSync = "none" | "batch" | "always";

/** Options for {@link DurableQueue.open}. */
export interface QueueOptions {
  /** File name prefix, so several queues can share a directory. Default `"queue"`. */
  prefix?: string;
  /** Size of each segment's data file; an item must fit in one (minus a 64-byte header). Default 64 MiB. Fixed at creation. */
  segmentBytes?: number;
  /** Most items per segment (index entries, 16 bytes each). Default `segmentBytes / 64`, at least 16. Fixed at creation. */
  segmentItems?: number;
  /** Most live bytes (`q.bytes`) the queue holds; an append past it throws `ERR_FULL`. Default unlimited. Fixed at creation. */
  maxBytes?: number;
  /**
   * `"none"`: the OS writes back when it likes (a process crash loses nothing; a power loss may).
   * `"batch"`: each mutating call ends with one flush, data before index.
   * `"always"`: every item is flushed as it is written. Default `"none"`.
   */
  sync?: QueueSync;
  /** Open for reading only: no lock, no writes (named readers may still commit). */
  readonly?: boolean;
  /**
   * How long a mutation waits for another process's lock, in ms, before `ERR_TIMEOUT`. 0: fail at once with `ERR_LOCKED`. Default 5000.
   * With `exclusive`, how long the open waits for the lock; when omitted, the open fails at once with `ERR_LOCKED`.
   */
  lockTimeout?: number;
  /**
   * Single-writer mode: hold the exclusive lock from open until close, so mutations skip
   * the per-call lock. While this handle is open, other writers' opens and mutations get
   * `ERR_LOCKED` (or `ERR_TIMEOUT` after their `lockTimeout`); read-only handles and
   * followers in any process see its appends live. Not with `readonly`. Default `false`.
   */
  exclusive?: boolean;
}

/** What {@link DurableQueue.stats} reports. */
export interface QueueStats {
  length: number;
  bytes: number;
  first: number;
  next: number;
  segments: number;
  appends: number;
  gets: number;
  shifts: number;
  deletes: number;
  recoveries: number;
  [key: string]: number;
}

const DEFAULT_SEGMENT_BYTES = 64 << 20;
const MIN_SEGMENT_BYTES = 256;
const MAX_SEGMENT_BYTES = 2 ** 32;
const MAX_SEGMENT_ITEMS = 2 ** 26;
const SYNC_MODES: readonly QueueSync[] = ["none", "batch", "always"];

// Shared words are read with plain loads, never Atomics.load: JSC's optimizing tiers
// compile Atomics.load to a locked read-modify-write, which faults on a read-only mapping.
// Plain aligned loads are atomic on x86-64 and arm64, and ordered on x86-64.
const W_CHANGES = DIR_CHANGES / 4;
const W_WAITERS = WAKE_WAITERS / 4;
const W_DIRTY = DIR_DIRTY / 4;
const W_SEGGEN = DIR_SEGGEN / 4;
const F_FIRST = DIR_FIRST / 8;
const F_NEXT = DIR_NEXT / 8;
const F_COUNT = DIR_COUNT / 8;
const F_BYTES = DIR_BYTES / 8;
const F_EPOCH = DIR_EPOCH / 8;

const encoder = new TextEncoder();

/** appendMany calls with at least this many bytes stage their records and pwrite them. */
const STAGE_THRESHOLD = 4 << 10;
/** Largest UTF-8 buffer a handle keeps for string items. */
const SCRATCH_MAX = 256 << 10;
/** Largest staging buffer a handle keeps. */
const STAGE_MAX = 8 << 20;
/**
 * With a sync mode, staged records go out in pieces of this size, each followed by a
 * request to start writeback, so the disk works while the next piece is encoded and the
 * call's final fdatasync has less left to wait for.
 */
const WRITEBACK_PIECE = 1 << 20;

function invalid(message: string): OffheapError {
  return new OffheapError("ERR_INVALID", message);
}

function checkIndex(index: unknown, what: string): number {
  if (typeof index !== "number" || !Number.isSafeInteger(index) || index < 0) {
    throw invalid(`${what} must be a non-negative integer, got ${String(index)}`);
  }
  return index;
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === "string") return encoder.encode(data);
  throw invalid(`an item must be a Uint8Array or a string, got ${data === null ? "null" : typeof data}`);
}

/** Data written in this call and not yet flushed (sync "batch"/"always"). */
interface Pending {
  segment: Segment;
  fromOffset: number;
}

/**
 * A durable FIFO queue in a directory.
 *
 * @example
 * ```ts
 * using q = DurableQueue.open("/var/lib/app/jobs", { sync: "batch" });
 * q.append(JSON.stringify({ job: 1 }));
 * const item = q.shift(); // Uint8Array | undefined
 * ```
 */
export class DurableQueue {
  /** The queue's directory. */
  readonly dir: string;
  /** File name prefix. */
  readonly prefix: string;
  /** Whether this handle is read-only. */
  readonly readonly: boolean;
  /** Whether this handle holds the write lock from open until close (see {@link QueueOptions.exclusive}). */
  readonly exclusive: boolean;
  /** Durability mode of this handle. */
  readonly syncMode: QueueSync;
  /** Data file size of each segment. */
  readonly segmentBytes: number;
  /** Most items per segment. */
  readonly segmentItems: number;
  /** Most live bytes, or `Infinity`. */
  readonly maxBytes: number;
  readonly #lockTimeout: number;
  readonly #geometry: SegmentGeometry;
  #dirFile: File | undefined;
  #lock: Lock | undefined;
  #dirMap: Mapping;
  #dirBytes: Uint8Array;
  #words: Int32Array;
  #state: Float64Array;
  #segments: Segment[] = [];
  #segGen = -1;
  #last: Segment | undefined;
  #closed = false;
  #readers = new Set<QueueReader>();
  #pending: Pending | undefined;
  #staging = false;
  #stage = new Uint8Array(0);
  #stageSegment: Segment | undefined;
  #stageAt = 0;
  #stageLen = 0;
  #wakeMap: Mapping | undefined;
  #wakeWords: Int32Array;
  #wakeWritable = false;
  #stats = { appends: 0, gets: 0, shifts: 0, deletes: 0, recoveries: 0 };
  /** Largest item a segment can hold. */
  readonly #maxItem: number;
  /** Reused item list of appendMany, and whether a call is using it. */
  #list: Uint8Array[] = [];
  #listBusy = false;
  /** Reused UTF-8 buffer for string items of append. */
  #scratch = new Uint8Array(256);
  /** The segment the last lookup found (sequential reads hit it). */
  #hot: Segment | undefined;
  /**
   * Lookup table over #segments: entry j is the position of the last segment whose base is
   * at most `#tableLow + j * #tableStep`. Rebuilt lazily when the list changes; at most
   * 4 entries per segment, so its memory follows the segment count, not the item count.
   */
  #table = new Int32Array(0);
  #tableLen = 0;
  #tableLow = 0;
  #tableStep = 1;
  #tableStale = true;

  private constructor(dir: string, prefix: string, options: Required<Pick<QueueOptions, "sync" | "readonly" | "lockTimeout" | "exclusive">>, stored: { segmentBytes: number; segmentItems: number; maxBytes: number }, dirFile: File, dirMap: Mapping) {
    this.dir = dir;
    this.prefix = prefix;
    this.readonly = options.readonly;
    this.exclusive = options.exclusive;
    this.syncMode = options.sync;
    this.#lockTimeout = options.lockTimeout;
    this.segmentBytes = stored.segmentBytes;
    this.segmentItems = stored.segmentItems;
    this.maxBytes = stored.maxBytes === 0 ? Infinity : stored.maxBytes;
    this.#geometry = { segmentBytes: stored.segmentBytes, segmentItems: stored.segmentItems };
    this.#maxItem = stored.segmentBytes - DATA_START - RECORD_HEADER;
    this.#dirMap = dirMap;
    this.#dirBytes = dirMap.bytes;
    this.#words = new Int32Array(dirMap.buffer, 0, DIR_FILE_BYTES / 4);
    this.#state = new Float64Array(dirMap.buffer, 0, DIR_FILE_BYTES / 8);
    this.#wakeWords = new Int32Array(WAKE_FILE_BYTES / 4);
    this.#openWake();
    if (options.readonly) {
      dirFile.close();
    } else {
      this.#dirFile = dirFile;
      this.#lock = new Lock(dirFile, "exclusive");
    }
  }

  /**
   * Open the queue in `dir`, creating it (and the directory) unless `readonly`.
   * Options fixed at creation (`segmentBytes`, `segmentItems`, `maxBytes`) may be omitted on
   * reopen; differing ones throw `ERR_MISMATCH` and change nothing. A writable open checks
   * the files and drops a torn tail left by a crash.
   */
  static open(dir: string, options: QueueOptions = {}): DurableQueue {
    const prefix = options.prefix ?? "queue";
    if (typeof prefix !== "string" || !NAME_PATTERN.test(prefix)) {
      throw invalid(`prefix must be 1-64 letters, digits, "_", "." or "-" (not starting with "." or "-"), got ${JSON.stringify(prefix)}`);
    }
    const sync = options.sync ?? "none";
    if (!SYNC_MODES.includes(sync)) throw invalid(`sync must be "none", "batch" or "always", got ${JSON.stringify(sync)}`);
    const readonly = options.readonly ?? false;
    const lockTimeout = options.lockTimeout ?? 5000;
    if (typeof lockTimeout !== "number" || !(lockTimeout >= 0)) throw invalid(`lockTimeout must be a non-negative number of ms, got ${lockTimeout}`);
    const exclusive = options.exclusive ?? false;
    if (typeof exclusive !== "boolean") throw invalid(`exclusive must be a boolean, got ${JSON.stringify(exclusive)}`);
    if (exclusive && readonly) throw invalid("exclusive and readonly exclude each other: an exclusive handle is the queue's only writer, a read-only one never writes");
    const given = DurableQueue.#checkLayoutOptions(options);
    const path = join(dir, dirFileName(prefix));
    if (!readonly) {
      makeDir(dir);
      const segmentBytes = given.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
      const values = {
        segmentBytes,
        segmentItems: given.segmentItems ?? Math.min(MAX_SEGMENT_ITEMS, Math.max(16, Math.floor(segmentBytes / 64))),
        maxBytes: given.maxBytes ?? 0,
      };
      const header = new Uint8Array(DIR_FILE_BYTES);
      header.set(encodeHeader(DIR_SPEC, values));
      if (!existsSync(path)) publishFile(dir, dirFileName(prefix), header, DIR_FILE_BYTES, true);
      if (!existsSync(join(dir, wakeFileName(prefix)))) {
        const wake = new Uint8Array(HEADER_ROOM);
        wake.set(encodeHeader(WAKE_SPEC, { reserved: 0 }));
        publishFile(dir, wakeFileName(prefix), wake, WAKE_FILE_BYTES, false);
      }
    }
    const file = File.open(path, { readonly });
    let mapping: Mapping | undefined;
    let queue: DurableQueue | undefined;
    try {
      const head = new Uint8Array(HEADER_ROOM);
      const got = file.read(head, 0);
      const stored = decodeHeader(DIR_SPEC, head.subarray(0, got), path);
      assertSameOptions(path, "the queue", stored, given);
      if (stored.segmentBytes < MIN_SEGMENT_BYTES || stored.segmentBytes > MAX_SEGMENT_BYTES || stored.segmentItems < 1 || stored.segmentItems > MAX_SEGMENT_ITEMS) {
        throw new OffheapError("ERR_CORRUPT", `${path}: header holds impossible sizes (segmentBytes ${stored.segmentBytes}, segmentItems ${stored.segmentItems})`, { path });
      }
      const size = file.size;
      if (size < DIR_FILE_BYTES) {
        throw new OffheapError("ERR_CORRUPT", `${path}: directory file cut short: expected ${DIR_FILE_BYTES} bytes, found ${size}`, { path });
      }
      mapping = Mapping.file(file, { length: DIR_FILE_BYTES, readonly });
      queue = new DurableQueue(dir, prefix, { sync, readonly, lockTimeout, exclusive }, stored, file, mapping);
      if (readonly) {
        queue.#checkState();
        queue.#relist();
      }
      else if (exclusive) {
        // Held until close (a killed process's lock goes with it); the next opener recovers.
        if (options.lockTimeout === undefined) queue.#lock!.tryLock();
        else queue.#lock!.lockSync(lockTimeout);
        queue.#recover();
      } else {
        queue.#lock!.lockSync(lockTimeout);
        try {
          queue.#recover();
        } finally {
          queue.#lock!.unlock();
        }
      }
      return queue;
    } catch (e) {
      if (queue !== undefined) queue.close();
      else {
        mapping?.close();
        file.close();
      }
      throw e;
    }
  }

  static #checkLayoutOptions(options: QueueOptions): { segmentBytes?: number; segmentItems?: number; maxBytes?: number } {
    const out: { segmentBytes?: number; segmentItems?: number; maxBytes?: number } = {};
    if (options.segmentBytes !== undefined) {
      const v = options.segmentBytes;
      if (!Number.isSafeInteger(v) || v < MIN_SEGMENT_BYTES || v > MAX_SEGMENT_BYTES) {
        throw invalid(`segmentBytes must be an integer from ${MIN_SEGMENT_BYTES} to ${MAX_SEGMENT_BYTES}, got ${v}`);
      }
      out.segmentBytes = v;
    }
    if (options.segmentItems !== undefined) {
      const v = options.segmentItems;
      if (!Number.isSafeInteger(v) || v < 1 || v > MAX_SEGMENT_ITEMS) throw invalid(`segmentItems must be an integer from 1 to ${MAX_SEGMENT_ITEMS}, got ${v}`);
      out.segmentItems = v;
    }
    if (options.maxBytes !== undefined) {
      const v = options.maxBytes;
      if (!Number.isSafeInteger(v) || v < 1) throw invalid(`maxBytes must be a positive integer, got ${v}`);
      out.maxBytes = v;
    }
    return out;
  }

  // --- reading ---------------------------------------------------------------------------

  /** Oldest live index (equals {@link next} when the queue is empty). */
  get first(): number {
    this.#check();
    return this.#state[F_FIRST]!;
  }

  /** The index the next append gets. */
  get next(): number {
    this.#check();
    return this.#state[F_NEXT]!;
  }

  /** Number of live items. */
  get length(): number {
    this.#check();
    return this.#state[F_COUNT]!;
  }

  /** Bytes of the live items. */
  get bytes(): number {
    this.#check();
    return this.#state[F_BYTES]!;
  }

  /**
   * A copy of item `index`, or `undefined` when it was never appended, was deleted,
   * shifted or truncated. Throws `ERR_CORRUPT` when its bytes fail their CRC.
   */
  get(index: number): Uint8Array | undefined {
    this.#check();
    checkIndex(index, "index");
    this.#stats.gets++;
    if (index < this.#state[F_FIRST]! || index >= this.#state[F_NEXT]!) return undefined;
    const segment = this.#segmentFor(index);
    if (segment === undefined) return this.#absent(index);
    return segment.read(index - segment.base, index);
  }

  /**
   * `undefined` for an index below `next` that no segment covers, after checking that its
   * entry is blank: an entry is complete before its segment's `written` and `next` cover
   * it, so a set entry past `written` means that counter was damaged.
   */
  #absent(index: number): undefined {
    const k = this.#searchSegment(index);
    const segment = k >= 0 ? this.#segments[k] : undefined;
    if (segment === undefined) return undefined;
    const pos = index - segment.base;
    if (pos >= segment.written && !segment.isBlank(pos)) {
      throw new OffheapError("ERR_CORRUPT", `${segment.indexPath}: item ${index} has an entry, but the segment counts only ${segment.written} entries written`, { path: segment.indexPath });
    }
    return undefined;
  }

  /** The oldest live item without removing it. */
  peek(): Uint8Array | undefined {
    this.#check();
    for (let tries = 0; tries < 8; tries++) {
      const first = this.#state[F_FIRST]!;
      if (first >= this.#state[F_NEXT]!) return undefined;
      const item = this.get(first);
      if (item !== undefined) return item;
      // Another process shifted it between the two reads: look again.
    }
    return undefined;
  }

  // --- writing ---------------------------------------------------------------------------

  /** Append one item; returns its index. */
  append(data: Uint8Array | string): number {
    // The checks of #checkWritable/#checkSize/#checkRoom, inlined as comparisons: the
    // error paths run only when one fails.
    if (this.#closed || this.readonly) this.#checkWritable();
    const bytes = data instanceof Uint8Array ? data : this.#encode(data);
    const length = bytes.length;
    if (length > this.#maxItem) this.#checkSize(length);
    this.#enter();
    let ok = false;
    try {
      const state = this.#state;
      if (state[F_BYTES]! + length > this.maxBytes) this.#checkRoom(length);
      const index = state[F_NEXT]!;
      Atomics.store(this.#words, W_DIRTY, 1);
      this.#put(bytes, index);
      if (this.syncMode !== "none") this.#flushPending();
      state[F_NEXT] = index + 1;
      state[F_COUNT] = state[F_COUNT]! + 1;
      state[F_BYTES] = state[F_BYTES]! + length;
      this.#stats.appends++;
      ok = true;
      return index;
    } finally {
      this.#leave(ok);
    }
  }

  /** Append several items under one lock (and, with `sync: "batch"`, one flush); returns the first one's index. */
  appendMany(items: Iterable<Uint8Array | string>): number {
    if (this.#closed || this.readonly) this.#checkWritable();
    if (items === null || typeof (items as { [Symbol.iterator]?: unknown })?.[Symbol.iterator] !== "function") {
      throw invalid("appendMany takes an iterable of Uint8Array or string items");
    }
    // The item list is reused across calls (an iterable may call back into appendMany:
    // then the inner call gets its own list).
    const reuse = !this.#listBusy;
    const list = reuse ? this.#list : [];
    this.#listBusy = true;
    try {
      let total = 0;
      const maxItem = this.#maxItem;
      for (const item of items) {
        const bytes = toBytes(item);
        if (bytes.length > maxItem) this.#checkSize(bytes.length);
        list.push(bytes);
        total += bytes.length;
      }
      this.#enter();
      let ok = false;
      try {
        const state = this.#state;
        const first = state[F_NEXT]!;
        const count = list.length;
        if (count > 0) {
          if (state[F_BYTES]! + total > this.maxBytes) this.#checkRoom(total);
          Atomics.store(this.#words, W_DIRTY, 1);
          const always = this.syncMode === "always";
          if (!always && total >= STAGE_THRESHOLD) this.#startStaging(total + count * RECORD_HEADER);
          for (let i = 0; i < count; i++) {
            this.#put(list[i]!, first + i);
            if (always) this.#flushPending();
          }
          this.#flushPending();
          this.#publishAppends(first, count, total);
        }
        ok = true;
        return first;
      } finally {
        this.#leave(ok);
      }
    } finally {
      if (reuse) {
        list.length = 0;
        this.#listBusy = false;
      }
    }
  }

  /** Remove and return the oldest live item. */
  shift(): Uint8Array | undefined {
    this.#checkWritable();
    return this.#withLock(() => {
      const first = this.#state[F_FIRST]!;
      if (first >= this.#state[F_NEXT]!) return undefined;
      const segment = this.#segmentFor(first);
      if (segment === undefined) throw this.#lost(first);
      const item = segment.read(first - segment.base, first);
      if (item === undefined) throw this.#lost(first);
      this.#dirty();
      this.#deleteAt(segment, first - segment.base);
      this.#flushDeletes(segment, first - segment.base, first - segment.base + 1);
      this.#advanceFirst();
      this.#stats.shifts++;
      return item;
    });
  }

  /**
   * Remove and return up to `count` of the oldest live items, under one lock and (with
   * `sync: "batch"`) one flush.
   */
  shiftMany(count: number): Uint8Array[] {
    this.#checkWritable();
    checkIndex(count, "count");
    return this.#withLock(() => {
      const out: Uint8Array[] = [];
      const touched = new Map<Segment, [number, number]>();
      while (out.length < count) {
        const first = this.#state[F_FIRST]!;
        if (first >= this.#state[F_NEXT]!) break;
        const segment = this.#segmentFor(first);
        let item: Uint8Array | undefined;
        try {
          if (segment === undefined) throw this.#lost(first);
          item = segment.read(first - segment.base, first);
          if (item === undefined) throw this.#lost(first);
        } catch (e) {
          if (out.length > 0) break; // hand back what was taken; the next call reports the bad item
          throw e;
        }
        const pos = first - segment.base;
        if (out.length === 0) this.#dirty();
        const range = touched.get(segment);
        if (range === undefined) touched.set(segment, [pos, pos + 1]);
        else range[1] = pos + 1;
        this.#deleteAt(segment, pos);
        this.#advanceFirst();
        out.push(item);
      }
      for (const [segment, [from, to]] of touched) this.#flushDeletes(segment, from, to);
      this.#stats.shifts += out.length;
      return out;
    });
  }

  /**
   * Soft-delete one index or several; returns how many live items were deleted. Indexes
   * that are not live are ignored. A segment left with no live items is removed from disk.
   */
  delete(index: number | readonly number[]): number {
    this.#checkWritable();
    const list = typeof index === "number" ? [index] : Array.isArray(index) ? index : undefined;
    if (list === undefined) throw invalid("delete takes an index or an array of indexes");
    for (const i of list) checkIndex(i, "index");
    return this.#withLock(() => {
      const first = this.#state[F_FIRST]!;
      const next = this.#state[F_NEXT]!;
      const touched = new Map<Segment, [number, number]>();
      let deleted = 0;
      for (const i of list) {
        if (i < first || i >= next) continue;
        const segment = this.#segmentFor(i);
        if (segment === undefined) continue;
        const pos = i - segment.base;
        if (!segment.isLive(pos)) continue;
        if (deleted === 0) this.#dirty();
        const range = touched.get(segment);
        if (range === undefined) touched.set(segment, [pos, pos + 1]);
        else {
          range[0] = Math.min(range[0], pos);
          range[1] = Math.max(range[1], pos + 1);
        }
        this.#deleteAt(segment, pos);
        deleted++;
      }
      if (deleted === 0) return 0;
      for (const [segment, [from, to]] of touched) if (!segment.closed) this.#flushDeletes(segment, from, to);
      this.#advanceFirst();
      this.#stats.deletes += deleted;
      return deleted;
    });
  }

  /**
   * Drop every item before `before` (everything when omitted). Throws `ERR_RANGE` when
   * `before` is past {@link next}. Segments left empty are removed from disk.
   */
  truncate(before?: number): void {
    this.#checkWritable();
    if (before !== undefined) checkIndex(before, "before");
    this.#withLock(() => {
      const next = this.#state[F_NEXT]!;
      const until = before ?? next;
      if (until > next) {
        throw new OffheapError("ERR_RANGE", `truncate(${until}) is past the end of the queue: the next index is ${next}`, { path: this.dir });
      }
      if (until <= this.#state[F_FIRST]!) return;
      this.#dirty();
      this.#writeFloors(until, next);
      for (const segment of [...this.#segments]) {
        if (segment.base >= until) break;
        const end = Math.min(segment.base + segment.written, until);
        for (let pos = 0; pos < end - segment.base && !segment.closed; pos++) {
          if (segment.isLive(pos)) this.#deleteAt(segment, pos);
        }
        if (!segment.closed) this.#flushDeletes(segment, 0, end - segment.base);
      }
      this.#state[F_FIRST] = until;
      this.#advanceFirst();
    });
  }

  /** Flush everything written through any handle to disk (data first, then indexes). */
  sync(): void {
    this.#check();
    if (this.readonly) return;
    for (const segment of this.#segments) segment.syncAll();
    this.#dirMap.sync();
  }

  /**
   * The named reader `name`: a cursor that reads items in index order without consuming
   * them, with a position kept in its own file. Two names are independent.
   */
  reader(name: string): QueueReader {
    this.#check();
    if (typeof name !== "string" || !NAME_PATTERN.test(name)) {
      throw invalid(`reader name must be 1-64 letters, digits, "_", "." or "-" (not starting with "." or "-"), got ${JSON.stringify(name)}`);
    }
    const reader = new QueueReader(name, this.#readerHost());
    this.#readers.add(reader);
    return reader;
  }

  /** Counters for metrics, all numbers. */
  stats(): QueueStats {
    this.#check();
    return {
      length: this.length,
      bytes: this.bytes,
      first: this.first,
      next: this.next,
      segments: this.#segments.length,
      ...this.#stats,
    };
  }

  /** True until {@link close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Release every mapping, file and reader. Idempotent; later calls throw `ERR_CLOSED`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const reader of this.#readers) reader.close();
    this.#readers.clear();
    for (const segment of this.#segments) segment.close();
    this.#segments = [];
    this.#last = undefined;
    this.#listChanged();
    this.#dirMap.close();
    this.#wakeMap?.close();
    this.#lock?.unlock();
    this.#dirFile?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // --- internals -------------------------------------------------------------------------

  #check(): void {
    if (this.#closed) throw new OffheapError("ERR_CLOSED", `queue ${join(this.dir, this.prefix)} is closed`, { path: this.dir });
  }

  #checkWritable(): void {
    this.#check();
    if (this.readonly) throw new OffheapError("ERR_READONLY", `queue ${join(this.dir, this.prefix)} was opened read-only`, { path: this.dir });
  }

  #checkSize(length: number): void {
    const room = this.segmentBytes - DATA_START - RECORD_HEADER;
    if (length > room) {
      throw new OffheapError(
        "ERR_TOO_LARGE",
        `an item of ${length} bytes does not fit in a segment: at most ${room} (segmentBytes ${this.segmentBytes} minus a ${DATA_START}-byte file header and a ${RECORD_HEADER}-byte record header)`,
        { path: this.dir },
      );
    }
  }

  /**
   * UTF-8 bytes of a string item, encoded into a reused buffer (valid until the next
   * call); anything else that is not a Uint8Array is `ERR_INVALID`.
   */
  #encode(data: unknown): Uint8Array {
    if (typeof data !== "string") return toBytes(data);
    const most = data.length * 3;
    // Long strings: one allocation is small next to their copy, and the buffer stays small.
    if (most > SCRATCH_MAX) return encoder.encode(data);
    if (this.#scratch.length < most) this.#scratch = new Uint8Array(Math.min(SCRATCH_MAX, Math.max(most, this.#scratch.length * 2)));
    return this.#scratch.subarray(0, encoder.encodeInto(data, this.#scratch).written);
  }

  #checkRoom(adding: number): void {
    const bytes = this.#state[F_BYTES]!;
    if (bytes + adding > this.maxBytes) {
      throw new OffheapError("ERR_FULL", `the queue holds ${bytes} bytes; adding ${adding} would pass maxBytes ${this.maxBytes}`, { path: this.dir });
    }
  }

  #lost(index: number): OffheapError {
    return new OffheapError("ERR_CORRUPT", `item ${index} is counted as live but its segment entry is missing`, { path: this.dir });
  }

  /**
   * Run `fn` holding the lock, after repairing the shared state if a previous holder died
   * mid-mutation and catching up with segments other processes created or removed.
   * The dirty word is cleared only when `fn` completes.
   */
  #withLock<T>(fn: () => T): T {
    this.#enter();
    let ok = false;
    try {
      const result = fn();
      ok = true;
      return result;
    } finally {
      this.#leave(ok);
    }
  }

  /**
   * Take the lock, then repair or catch up (see {@link #withLock}). An exclusive handle
   * holds the lock already and nobody else writes, so there is nothing to catch up with;
   * the dirty word can only be its own, left by a call of its own that failed midway.
   */
  #enter(): void {
    if (this.exclusive) {
      if (this.#words[W_DIRTY] !== 0) this.#recover();
      return;
    }
    const lock = this.#lock!;
    lock.lockSync(this.#lockTimeout);
    try {
      const words = this.#words;
      if (words[W_DIRTY] !== 0) this.#recover();
      else if (words[W_SEGGEN] !== this.#segGen) this.#relist();
    } catch (e) {
      lock.unlock();
      throw e;
    }
  }

  /** Publish (when `ok` and something changed) and release the lock. */
  #leave(ok: boolean): void {
    this.#pending = undefined;
    if (this.#staging) {
      this.#staging = false;
      this.#stageLen = 0;
      this.#stageSegment = undefined;
    }
    const words = this.#words;
    if (ok && words[W_DIRTY] !== 0) {
      Atomics.store(words, W_DIRTY, 0);
      Atomics.add(words, W_CHANGES, 1);
      if (this.#wakeMap === undefined || this.#wakeWords[W_WAITERS] !== 0) futexWake(this.#dirMap, DIR_CHANGES);
    }
    if (!this.exclusive) this.#lock!.unlock();
  }

  /** Wake followers, in any process, if any may be waiting. */
  #wake(): void {
    if (this.#wakeMap === undefined || this.#wakeWords[W_WAITERS] !== 0) futexWake(this.#dirMap, DIR_CHANGES);
  }

  /**
   * Map the wake file read-write when the OS lets us (also for a read-only handle: it
   * holds no queue data), so followers can announce themselves.
   */
  #openWake(): void {
    const path = join(this.dir, wakeFileName(this.prefix));
    let file: File;
    try {
      file = File.open(path);
      this.#wakeWritable = true;
    } catch {
      try {
        file = File.open(path, { readonly: true });
      } catch {
        return; // no wake file: producers wake unconditionally, followers still wait on the futex
      }
    }
    try {
      readHeader(WAKE_SPEC, file);
      if (file.size < WAKE_FILE_BYTES) return;
      this.#wakeMap = Mapping.file(file, { length: WAKE_FILE_BYTES, readonly: !this.#wakeWritable });
      this.#wakeWords = new Int32Array(this.#wakeMap.buffer);
    } catch {
      this.#wakeWritable = false; // a damaged wake file only costs wake-ups, never data
    } finally {
      file.close();
    }
  }

  #dirty(): void {
    Atomics.store(this.#words, W_DIRTY, 1);
  }

  /** Write item `index` as a record into the tail segment (rolling over when full) and index it. */
  #put(bytes: Uint8Array, index: number): void {
    const length = bytes.length;
    let segment = this.#last;
    if (
      segment === undefined ||
      segment.base + segment.written !== index ||
      segment.written >= segment.limit ||
      segment.dataEnd + RECORD_HEADER + length > this.segmentBytes
    ) {
      this.#flushPending();
      segment = this.#createSegment(index);
    }
    const pos = segment.written;
    const at = segment.dataEnd;
    if (this.syncMode !== "none" && this.#pending === undefined) this.#pending = { segment, fromOffset: at };
    const crc = Bun.hash.crc32(bytes) >>> 0;
    const epoch = this.#state[F_EPOCH]!;
    let offset: number;
    const record = RECORD_HEADER + length;
    if (this.#staging && record <= this.#stage.length) {
      if (this.#stageSegment !== segment || this.#stageAt + this.#stageLen !== at || this.#stageLen + record > this.#stageLimit) {
        this.#flushStage();
        this.#stageSegment = segment;
        this.#stageAt = at;
      }
      encodeRecord(this.#stage, this.#stageLen, pos, bytes, crc, epoch);
      this.#stageLen += record;
      offset = at + RECORD_HEADER;
    } else {
      if (this.#staging) this.#flushStage();
      offset = segment.writeRecord(at, pos, bytes, crc, epoch);
    }
    // The entry may precede its staged bytes on disk for a moment: nobody sees it before
    // the call publishes `next`, and a crash in between leaves a CRC mismatch at the tail,
    // which reopen drops.
    segment.writeEntry(pos, offset, length, crc);
    segment.written = pos + 1;
    segment.dataEnd = offset + length;
    segment.live += 1;
    segment.liveBytes += length;
  }

  /**
   * Flush the records written in this call. Only the data file is flushed: index entries
   * a crash loses are rebuilt from the records on reopen.
   */
  #flushPending(): void {
    this.#flushStage();
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    pending.segment.syncData(pending.fromOffset, pending.segment.dataEnd);
  }

  #startStaging(bytes: number): void {
    const want = Math.min(STAGE_MAX, bytes);
    if (this.#stage.length < want) {
      this.#stage = new Uint8Array(want);
    }
    this.#staging = true;
    this.#stageLen = 0;
    this.#stageSegment = undefined;
  }

  /** How many bytes to stage before a pwrite: pieces when syncing (see WRITEBACK_PIECE). */
  get #stageLimit(): number {
    return this.syncMode === "none" ? this.#stage.length : Math.min(this.#stage.length, WRITEBACK_PIECE);
  }

  /** pwrite the staged records (and, when syncing, start their writeback). */
  #flushStage(): void {
    const segment = this.#stageSegment;
    if (segment === undefined || this.#stageLen === 0) return;
    segment.writeAt(this.#stage.subarray(0, this.#stageLen), this.#stageAt);
    if (this.syncMode !== "none") segment.startWriteback(this.#stageAt, this.#stageLen);
    this.#stageLen = 0;
    this.#stageSegment = undefined;
  }

  #publishAppends(first: number, count: number, bytes: number): void {
    const state = this.#state;
    state[F_NEXT] = first + count;
    state[F_COUNT] = state[F_COUNT]! + count;
    state[F_BYTES] = state[F_BYTES]! + bytes;
    this.#stats.appends += count;
  }

  #createSegment(base: number): Segment {
    this.#last?.releaseWriter();
    const segment = Segment.create(this.dir, this.prefix, base, this.#geometry, this.syncMode !== "none");
    this.#segments.push(segment);
    this.#last = segment;
    this.#listChanged();
    this.#segGen = Atomics.add(this.#words, W_SEGGEN, 1) + 1;
    return segment;
  }

  /** Mark entry `pos` deleted and update the counts; remove the segment when it empties. */
  #deleteAt(segment: Segment, pos: number): void {
    const length = segment.length(pos);
    segment.markDeleted(pos);
    segment.live -= 1;
    segment.liveBytes -= length;
    const state = this.#state;
    state[F_COUNT] = state[F_COUNT]! - 1;
    state[F_BYTES] = state[F_BYTES]! - length;
    if (segment.live <= 0) this.#removeSegment(segment);
  }

  #flushDeletes(segment: Segment, from: number, to: number): void {
    if (this.syncMode !== "none" && !segment.closed) segment.syncEntries(from, to);
  }

  /**
   * Remove a segment's files. The floors go to disk first, so that `next` survives even
   * when this was the last segment.
   */
  #removeSegment(segment: Segment): void {
    this.#writeFloors(undefined, this.#state[F_NEXT]!);
    removeFile(segment.indexPath);
    removeFile(segment.dataPath);
    segment.close();
    const i = this.#segments.indexOf(segment);
    if (i >= 0) this.#segments.splice(i, 1);
    if (this.#last === segment) this.#last = undefined;
    this.#listChanged();
    this.#segGen = Atomics.add(this.#words, W_SEGGEN, 1) + 1;
  }

  /**
   * For a read-only open, which trusts the shared state instead of recomputing it: every
   * value a writer stores is a non-negative integer, and once no mutation is under way
   * `count` fits between `first` and `next`, which are at or above the crash-safe floors.
   * A writer may be mid-call while we look; only a failure that persists while the change
   * counter stands still is damage. Plain loads: the mapping is read-only here.
   */
  #checkState(): void {
    const path = join(this.dir, dirFileName(this.prefix));
    const state = this.#state;
    const words = this.#words;
    let problem: string | undefined;
    for (let attempt = 0; attempt < 5; attempt++) {
      const changes = words[W_CHANGES];
      const dirty = words[W_DIRTY];
      const first = state[F_FIRST]!;
      const next = state[F_NEXT]!;
      const count = state[F_COUNT]!;
      const bytes = state[F_BYTES]!;
      problem = undefined;
      for (const [name, v] of [["first", first], ["next", next], ["count", count], ["bytes", bytes]] as const) {
        if (!Number.isSafeInteger(v) || v < 0) problem ??= `shared state says ${name} is ${v}; expected a non-negative integer`;
      }
      if (problem === undefined && dirty === 0) {
        const [firstFloor, nextFloor] = this.#readFloors();
        if (first > next) problem = `shared state says first ${first} is past next ${next}`;
        else if (count > next - first) problem = `shared state counts ${count} items between first ${first} and next ${next}`;
        else if (first < firstFloor) problem = `shared state says first is ${first}, below the floor ${firstFloor}`;
        else if (next < nextFloor) problem = `shared state says next is ${next}, below the floor ${nextFloor}`;
      }
      if (problem === undefined) return;
      // Values are stored whole, so a bad one is damage whatever a writer is doing; a
      // relation may be caught mid-call, so look again a little later.
      if (problem.includes("integer") || attempt === 4) break;
      if (words[W_CHANGES] === changes) Bun.sleepSync(1);
    }
    throw new OffheapError("ERR_CORRUPT", `${path}: ${problem}`, { path });
  }

  #readFloors(): [number, number, number] {
    const snapshot = FLOORS.read(this.#dirBytes, join(this.dir, dirFileName(this.prefix)));
    return snapshot === undefined ? [0, 0, 0] : [snapshot.values[0]!, snapshot.values[1]!, snapshot.values[2]!];
  }

  /** Raise the crash-safe floors (and the epoch) and flush them unless `sync: "none"`. */
  #writeFloors(first: number | undefined, next: number, epoch?: number): void {
    const path = join(this.dir, dirFileName(this.prefix));
    const snapshot = FLOORS.read(this.#dirBytes, path);
    const [oldFirst, oldNext, oldEpoch] = snapshot === undefined ? [0, 0, 0] : [snapshot.values[0]!, snapshot.values[1]!, snapshot.values[2]!];
    const newFirst = Math.max(oldFirst, first ?? 0);
    const newNext = Math.max(oldNext, next);
    const newEpoch = Math.max(oldEpoch, epoch ?? 0);
    if (newFirst === oldFirst && newNext === oldNext && newEpoch === oldEpoch && snapshot !== undefined) return;
    FLOORS.write(this.#dirBytes, (snapshot?.seq ?? 0) + 1, [newFirst, newNext, newEpoch]);
    if (this.syncMode !== "none") this.#dirMap.sync(FLOORS.offset, FLOORS.size);
  }

  /** Move `first` forward past items that are no longer live. */
  #advanceFirst(): void {
    const state = this.#state;
    const next = state[F_NEXT]!;
    let first = state[F_FIRST]!;
    if (state[F_COUNT]! <= 0) {
      state[F_FIRST] = next;
      return;
    }
    const segments = this.#segments;
    let k = this.#searchSegment(first);
    if (k < 0) k = 0;
    while (first < next && k < segments.length) {
      const segment = segments[k]!;
      if (first < segment.base) first = segment.base;
      const end = segment.base + segment.written;
      let found = false;
      while (first < end) {
        if (segment.isLive(first - segment.base)) {
          found = true;
          break;
        }
        first++;
      }
      if (found) break;
      k++;
    }
    state[F_FIRST] = Math.min(first, next);
    if (k >= segments.length) state[F_FIRST] = next;
  }

  /**
   * Position in #segments of the last segment with base ≤ index, or -1: a table lookup,
   * then a step forward past the segments that start inside the table's bucket (none or
   * one when segments hold similar numbers of items).
   */
  #searchSegment(index: number): number {
    const segments = this.#segments;
    const last = segments.length - 1;
    if (last < 0 || index < segments[0]!.base) return -1;
    if (index >= segments[last]!.base) return last;
    if (this.#tableStale) this.#buildTable();
    const bucket = Math.floor((index - this.#tableLow) / this.#tableStep);
    let k = bucket < this.#tableLen ? this.#table[bucket]! : last;
    while (k < last && segments[k + 1]!.base <= index) k++;
    return k;
  }

  /** Rebuild the lookup table of #searchSegment (after the segment list changed). */
  #buildTable(): void {
    this.#tableStale = false;
    const segments = this.#segments;
    const count = segments.length;
    if (count < 2) {
      this.#tableLen = 0;
      return;
    }
    const low = segments[0]!.base;
    const span = segments[count - 1]!.base - low;
    // A power-of-two step keeps the table within 4 entries per segment.
    let step = 1;
    while (span / step > 4 * count) step *= 2;
    const length = Math.ceil(span / step);
    if (this.#table.length < length) this.#table = new Int32Array(Math.max(length, this.#table.length * 2, 16));
    const table = this.#table;
    let k = 0;
    for (let j = 0; j < length; j++) {
      const at = low + j * step;
      while (k < count - 1 && segments[k + 1]!.base <= at) k++;
      table[j] = k;
    }
    this.#tableLow = low;
    this.#tableStep = step;
    this.#tableLen = length;
  }

  /** Forget the lookup cache and table: the segment list changed. */
  #listChanged(): void {
    this.#hot = undefined;
    this.#tableStale = true;
  }

  /**
   * The segment holding `index`, or `undefined`. An index is in a segment when it is
   * below the segment's `written` (shared through its index file), so a hit on the
   * segment of the previous lookup is O(1) and exact. A miss that may be explained by
   * segments another process created or removed relists once.
   */
  #segmentFor(index: number): Segment | undefined {
    const hot = this.#hot;
    if (hot !== undefined && index >= hot.base && index - hot.base < hot.written) return hot;
    for (let attempt = 0; attempt < 2; attempt++) {
      const k = this.#searchSegment(index);
      if (k >= 0) {
        const segment = this.#segments[k]!;
        if (index - segment.base < Math.min(segment.written, segment.limit)) {
          this.#hot = segment;
          return segment;
        }
      }
      if (attempt === 0 && this.#words[W_SEGGEN]! !== this.#segGen) this.#relist();
      else return undefined;
    }
    return undefined;
  }

  /** Catch up with the segment files on disk: drop removed ones, map new ones. */
  #relist(): void {
    this.#segGen = this.#words[W_SEGGEN]!;
    const bases = new Set<number>();
    for (const name of listDir(this.dir)) {
      const parsed = parseSegmentName(this.prefix, name);
      if (parsed?.ext === "idx") bases.add(parsed.base);
    }
    const kept: Segment[] = [];
    for (const segment of this.#segments) {
      if (bases.has(segment.base)) {
        kept.push(segment);
        bases.delete(segment.base);
      } else segment.close();
    }
    for (const base of bases) {
      try {
        kept.push(Segment.open(this.dir, this.prefix, base, this.#geometry, this.readonly));
      } catch (e) {
        if ((e as OffheapError).errno === "ENOENT") continue; // removed meanwhile
        for (const s of kept) if (!this.#segments.includes(s)) s.close();
        throw e;
      }
    }
    kept.sort((a, b) => a.base - b.base);
    this.#segments = kept;
    this.#last = kept[kept.length - 1];
    this.#listChanged();
  }

  /**
   * Rebuild the shared state from the files (under the lock): drop a torn tail, clear
   * stale entries, recount, and remove segments with nothing live.
   */
  #recover(): void {
    this.#stats.recoveries++;
    for (const segment of this.#segments) segment.close();
    this.#segments = [];
    this.#listChanged();
    const names = listDir(this.dir);
    const idx = new Set<number>();
    const dat = new Set<number>();
    for (const name of names) {
      if (name.startsWith(`${this.prefix}-`) && name.includes(".tmp-")) {
        removeFile(join(this.dir, name)); // a segment half made by a process that died holding the lock
        continue;
      }
      const parsed = parseSegmentName(this.prefix, name);
      if (parsed === undefined) continue;
      (parsed.ext === "idx" ? idx : dat).add(parsed.base);
    }
    for (const base of dat) {
      if (!idx.has(base)) removeFile(join(this.dir, `${this.prefix}-${String(base).padStart(16, "0")}.dat`));
    }
    const segments: Segment[] = [];
    try {
      for (const base of [...idx].sort((a, b) => a - b)) segments.push(Segment.open(this.dir, this.prefix, base, this.#geometry, false));
    } catch (e) {
      for (const s of segments) s.close();
      throw e;
    }
    this.#segments = segments;
    this.#last = segments[segments.length - 1];
    this.#listChanged();
    const [firstFloor, nextFloor, lastEpoch] = this.#readFloors();
    // Records written from now on carry a higher epoch than anything a dead writer left.
    const epoch = Math.min(lastEpoch + 1, 0xffffffff);
    this.#writeFloors(undefined, nextFloor, epoch);
    this.#state[F_EPOCH] = epoch;
    let next = nextFloor;
    let count = 0;
    let bytes = 0;
    for (let k = 0; k < segments.length; k++) {
      const segment = segments[k]!;
      const following = segments[k + 1];
      const room = following === undefined ? segment.limit : Math.min(segment.limit, following.base - segment.base);
      let written = 0;
      while (written < room && segment.entryOk(written)) written++;
      // A crash leaves an entry's flags word either unset or whole (it is stored last, in
      // one store): one that is set but fails its check was damaged, not torn, unless the
      // file was cut through it (the entry is then rebuilt from its record, like a torn one).
      if (segment.damaged(written) && written < segment.whole) {
        throw new OffheapError("ERR_CORRUPT", `${segment.indexPath}: entry ${written} (item ${segment.base + written}) is damaged: its check does not match its offset, length, CRC and flags`, { path: segment.indexPath });
      }
      if (following === undefined) {
        // The tail: drop entries whose data never fully reached the file.
        while (written > 0 && segment.isLive(written - 1) && segment.check(written - 1) !== undefined) written--;
      }
      // Rebuild entries a crash lost from the self-describing records that follow.
      let at = written > 0 ? segment.offset(written - 1) + segment.length(written - 1) : DATA_START;
      let minEpoch = written > 0 ? segment.recordEpoch(segment.offset(written - 1)) : 0;
      while (written < room) {
        const record = segment.readRecord(at, written, minEpoch);
        if (record === undefined) break;
        segment.writeEntry(written, at + RECORD_HEADER, record.length, record.crc);
        written++;
        at += RECORD_HEADER + record.length;
        minEpoch = record.epoch;
      }
      for (let pos = written; pos < segment.limit && !segment.isBlank(pos); pos++) segment.clearEntry(pos);
      let live = 0;
      let liveBytes = 0;
      let dataEnd = DATA_START;
      const words = segment.words;
      for (let pos = 0; pos < written; pos++) {
        const w = 32 + pos * 4;
        const end = words[w]! + words[w + 1]!;
        if (end > dataEnd && end <= this.segmentBytes) dataEnd = end;
        if (!segment.isLive(pos)) continue;
        if (segment.base + pos < firstFloor) {
          segment.markDeleted(pos);
          continue;
        }
        live++;
        liveBytes += words[w + 1]!;
      }
      segment.written = written;
      segment.live = live;
      segment.liveBytes = liveBytes;
      segment.dataEnd = dataEnd;
      count += live;
      bytes += liveBytes;
      next = Math.max(next, segment.base + written);
    }
    const state = this.#state;
    state[F_NEXT] = next;
    state[F_COUNT] = count;
    state[F_BYTES] = bytes;
    state[F_FIRST] = Math.min(Math.max(firstFloor, segments[0]?.base ?? next), next);
    for (const segment of [...segments]) if (segment.live <= 0) this.#removeSegment(segment);
    this.#advanceFirst();
    if (this.syncMode !== "none") for (const segment of this.#segments) segment.syncEntries(0, segment.written);
    this.#segGen = Atomics.add(this.#words, W_SEGGEN, 1) + 1;
    Atomics.store(this.#words, W_DIRTY, 0);
    Atomics.add(this.#words, W_CHANGES, 1);
    this.#wake();
  }

  #readerHost(): ReaderHost {
    return {
      dir: this.dir,
      prefix: this.prefix,
      mapping: this.#dirMap,
      changesOffset: DIR_CHANGES,
      check: () => this.#check(),
      isClosed: () => this.#closed,
      changes: () => this.#words[W_CHANGES]!,
      first: () => this.#state[F_FIRST]!,
      next: () => this.#state[F_NEXT]!,
      get: (index) => this.get(index),
      forget: (reader) => this.#readers.delete(reader),
      addWaiter: (delta) => {
        if (this.#wakeMap === undefined) return true; // producers wake unconditionally
        if (!this.#wakeWritable || !this.#wakeMap.isOpen) return false;
        Atomics.add(this.#wakeWords, W_WAITERS, delta);
        return true;
      },
    };
  }
}

