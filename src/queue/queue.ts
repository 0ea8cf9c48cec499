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
import { DATA_EXPECTED, booleanOption, describeValue, elementName, integerArg, integerOption, invalidArg, iterableArg, optionsArg, pathArg } from "../primitives/arguments.ts";
import { DEFAULT_LOCK_TIMEOUT, lockTimeoutOption, syncOption, type SyncMode } from "../primitives/common-options.ts";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { File, futexWake, isNotFound, Lock, Mapping } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";
import { assertSameOptions, decodeHeader, encodeHeader, readHeader, type CounterSnapshot } from "../primitives/header.ts";
import { crc32 } from "../primitives/crc.ts";
import { WordWait } from "../primitives/word-wait.ts";
import { listDir, makeDir, publishFile, removeFile } from "../primitives/publish.ts";
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
import { Cursor, checkFollowOptions, type FollowOptions } from "./cursor.ts";
import { QueueReader } from "./reader.ts";
import type { QueueItem, ReaderHost } from "./reader-host.ts";
import { applySegmentPlan, countSegment, deriveState, holdsNothing, planRecovery, type DerivedState } from "./recovery.ts";
import { encodeRecord, Segment, type SegmentGeometry } from "./segment.ts";
import { describeStats } from "../metrics/describe.ts";
import { QUEUE_METRICS, type QueueStats } from "./stats.ts";

/** When writes reach the disk. */

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
   * When writes reach the disk (see {@link SyncMode}): `"batch"` flushes once per mutating
   * call, data before index; `"always"` every item as it is written. Default `"none"`.
   */
  sync?: SyncMode;
  /** Open for reading only: no lock, no writes (named readers may still commit). */
  readonly?: boolean;
  /**
   * How long a call waits for another handle's lock, in ms, before `ERR_TIMEOUT`; 0: fail
   * at once with `ERR_LOCKED`. Default 5000 ({@link DEFAULT_LOCK_TIMEOUT}). Producers
   * sharing a queue take the lock for each mutation; an `exclusive` open takes it until close.
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


const DEFAULT_SEGMENT_BYTES = 64 << 20;
const MIN_SEGMENT_BYTES = 256;
const MAX_SEGMENT_BYTES = 2 ** 32;
const MAX_SEGMENT_ITEMS = 2 ** 26;

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
  if (typeof index !== "number" || !Number.isSafeInteger(index) || index < 0) throw invalidArg(what, "an integer >= 0", index);
  return index;
}

/** An item's bytes (strings as UTF-8); `name` is the argument's, for the message. */
function toBytes(data: unknown, name: string): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === "string") return encoder.encode(data);
  throw invalidArg(name, DATA_EXPECTED, data);
}

/** A file name part (a prefix, a reader's name): `ERR_INVALID` unless it matches NAME_PATTERN. */
function nameArg(what: string, v: unknown): string {
  if (typeof v !== "string" || !NAME_PATTERN.test(v)) {
    throw invalid(`${what} must be 1-64 letters, digits, "_", "." or "-" (not starting with "." or "-"), got ${describeValue(v)}`);
  }
  return v;
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
  readonly syncMode: SyncMode;
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
  #dirView: DataView;
  /** The floors as this handle last read or wrote them (see #floorsSnapshot). */
  #floors: CounterSnapshot | undefined;
  #words: Int32Array;
  #state: Float64Array;
  #segments: Segment[] = [];
  #segGen = -1;
  #last: Segment | undefined;
  #closed = false;
  /** How every follower of this handle waits (one Worker for all; made on first use). */
  #wait: WordWait | undefined;
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
    this.#dirView = new DataView(dirMap.buffer);
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
   *
   * @throws `ERR_INVALID` for a bad `dir` or option (nothing is created), `ERR_FORMAT`
   * when `dir` is a file, not a directory, `ERR_MISMATCH`, `ERR_CORRUPT`, `ERR_LOCKED`,
   * `ERR_TIMEOUT`, `ERR_SYSTEM`.
   */
  static open(dir: string, options: QueueOptions = {}): DurableQueue {
    pathArg("dir", dir);
    optionsArg("options", options);
    const prefix = options.prefix === undefined ? "queue" : nameArg("prefix", options.prefix);
    const sync = syncOption(options.sync, "none");
    const readonly = booleanOption("readonly", options.readonly);
    const lockTimeout = lockTimeoutOption(options.lockTimeout);
    const exclusive = booleanOption("exclusive", options.exclusive);
    if (exclusive && readonly) throw invalid("exclusive and readonly exclude each other: an exclusive handle is the queue's only writer, a read-only one never writes");
    const given = DurableQueue.#checkLayoutOptions(options);
    const path = join(dir, dirFileName(prefix));
    assertNotAFile(dir);
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
      if (!existsSync(path)) {
        // Segments without their directory file: it was lost, not never made. A new one
        // would forget the floors (and with them which items were removed).
        const orphan = listDir(dir).find((name) => parseSegmentName(prefix, name) !== undefined);
        if (orphan !== undefined) {
          throw new OffheapError("ERR_CORRUPT", `${path} is missing, but ${join(dir, orphan)} and maybe other segment files are there: the queue's directory file was lost`, { path });
        }
        publishFile(dir, dirFileName(prefix), header, DIR_FILE_BYTES, true);
      }
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
      // It was published whole (written, then renamed into place): empty is damage.
      if (got === 0) throw new OffheapError("ERR_CORRUPT", `${path}: the queue's directory file is empty`, { path });
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
        queue.#checkAgainstIndex();
      }
      else if (exclusive) {
        // Held until close (a killed process's lock goes with it); the next opener recovers.
        queue.#lock!.lockSync(lockTimeout);
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
    const segmentBytes = integerOption("segmentBytes", options.segmentBytes, { min: MIN_SEGMENT_BYTES, max: MAX_SEGMENT_BYTES });
    const segmentItems = integerOption("segmentItems", options.segmentItems, { min: 1, max: MAX_SEGMENT_ITEMS });
    const maxBytes = integerOption("maxBytes", options.maxBytes, { min: 1 });
    if (segmentBytes !== undefined) out.segmentBytes = segmentBytes;
    if (segmentItems !== undefined) out.segmentItems = segmentItems;
    if (maxBytes !== undefined) out.maxBytes = maxBytes;
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
   * @throws `ERR_INVALID` unless `index` is an integer >= 0; `ERR_CORRUPT`, `ERR_CLOSED`.
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

  /**
   * Append one item; returns its index.
   * @throws `ERR_INVALID` when `data` is neither a Uint8Array nor a string, `ERR_TOO_LARGE`
   * for an item larger than a segment holds, `ERR_FULL` past `maxBytes`, `ERR_READONLY`,
   * `ERR_CLOSED`.
   */
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
    } catch (e) {
      this.#takeBack();
      throw e;
    } finally {
      this.#leave(ok);
    }
  }

  /**
   * Append several items under one lock (and, with `sync: "batch"`, one flush); returns the
   * first one's index. Every item is checked before any is written.
   * @throws `ERR_INVALID` when `items` is not iterable or an item is neither a Uint8Array
   * nor a string, `ERR_TOO_LARGE`, `ERR_FULL`, `ERR_READONLY`, `ERR_CLOSED`.
   */
  appendMany(items: Iterable<Uint8Array | string>): number {
    if (this.#closed || this.readonly) this.#checkWritable();
    iterableArg("items", items);
    // The item list is reused across calls (an iterable may call back into appendMany:
    // then the inner call gets its own list).
    const reuse = !this.#listBusy;
    const list = reuse ? this.#list : [];
    this.#listBusy = true;
    try {
      let total = 0;
      const maxItem = this.#maxItem;
      for (const item of items) {
        const bytes = item instanceof Uint8Array ? item : toBytes(item, elementName("items", list.length));
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
      } catch (e) {
        this.#takeBack();
        throw e;
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
      this.#floorAfterRemoval();
      this.#stats.shifts++;
      return item;
    });
  }

  /**
   * Remove and return up to `count` of the oldest live items, under one lock and (with
   * `sync: "batch"`) one flush.
   * @throws `ERR_INVALID` unless `count` is an integer >= 0; `ERR_READONLY`, `ERR_CLOSED`.
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
      if (out.length > 0) this.#floorAfterRemoval();
      this.#stats.shifts += out.length;
      return out;
    });
  }

  /**
   * Soft-delete one index or several; returns how many live items were deleted. Indexes
   * that are not live are ignored. A segment left with no live items is removed from disk.
   * @throws `ERR_INVALID` for anything but an index or an array of them (integers >= 0):
   * nothing is deleted then; `ERR_READONLY`, `ERR_CLOSED`.
   */
  delete(index: number | readonly number[]): number {
    this.#checkWritable();
    const list = typeof index === "number" ? [index] : Array.isArray(index) ? index : undefined;
    if (list === undefined) throw invalidArg("index", "an index or an array of indexes", index);
    for (let k = 0; k < list.length; k++) {
      const i: unknown = list[k];
      if (typeof i !== "number" || !Number.isSafeInteger(i) || i < 0) checkIndex(i, list === index ? elementName("index", k) : "index");
    }
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
      this.#floorAfterRemoval();
      this.#stats.deletes += deleted;
      return deleted;
    });
  }

  /**
   * Drop every item before `before` (everything when omitted). Throws `ERR_RANGE` when
   * `before` is past {@link next}. Segments left empty are removed from disk.
   * @throws `ERR_INVALID` unless `before` is an integer >= 0, `ERR_RANGE`, `ERR_READONLY`,
   * `ERR_CLOSED`.
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
      this.#raiseFloors({ first: until });
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
   * @throws `ERR_INVALID` for a name that is not 1-64 letters, digits, `_`, `.`, `-`;
   * `ERR_CLOSED`.
   */
  reader(name: string): QueueReader {
    this.#check();
    return new QueueReader(nameArg("the reader's name", name), this.#readerHost());
  }

  /**
   * Items from `from` (default: the oldest live item) as they arrive, without a named
   * reader: yields what is there, then waits (on the queue's change word, no polling) for
   * more. Ends when the queue closes; throws the signal's reason when `signal` aborts, as a
   * ring's follow does. Nothing is kept durable; a dropped iterator holds nothing.
   * @throws (at the call) `ERR_INVALID` for a bad `from` or option; `ERR_CLOSED`.
   */
  follow(from?: number, options: FollowOptions = {}): AsyncGenerator<QueueItem, void, undefined> {
    this.#check();
    const start = from === undefined ? this.first : checkIndex(from, "from");
    checkFollowOptions(options);
    return new Cursor(this.#readerHost(), start).follow(options, undefined, () => false);
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

  /**
   * Release every mapping, file and reader. Idempotent; later calls throw `ERR_CLOSED`.
   * A writable handle first raises the crash-safe floors to what the queue holds, when it
   * can take the lock without waiting (see recovery.ts: damage to the index below them is
   * then `ERR_CORRUPT`, never items rebuilt or lost).
   */
  close(): void {
    if (this.#closed) return;
    this.#floorsAtClose();
    this.#closed = true;
    this.#wait?.close(); // every follower's wait ends, its count taken out; their loops see the queue closed
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
    if (typeof data !== "string") return toBytes(data, "data");
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
    const crc = crc32(bytes);
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

  /**
   * After an append call failed: take back what it wrote, so that it committed none of its
   * items (all or nothing, also for this handle and any other that reads the files). Its
   * items are the entries at or past the committed `next`, which only a call that
   * completes moves: segments it created go; in the segment before them its entries are
   * cleared, the counters wound back, and its first record's header zeroed so that
   * recovery's walk over the records stops there. The dirty word is then cleared. If this
   * fails too, the word stays set and the next call recovers.
   */
  #takeBack(): void {
    if (this.#words[W_DIRTY] === 0) return; // failed before writing anything
    try {
      this.#stageLen = 0; // staged records are dropped, not written
      const committed = this.#state[F_NEXT]!;
      const segments = this.#segments;
      let removed = false;
      while (segments.length > 0 && segments[segments.length - 1]!.base >= committed) {
        const segment = segments.pop()!;
        removeFile(segment.dataPath);
        removeFile(segment.indexPath);
        segment.close();
        removed = true;
      }
      const tail = segments[segments.length - 1];
      const from = tail === undefined ? 0 : committed - tail.base;
      if (tail !== undefined && from < tail.limit && !tail.isBlank(from)) {
        const firstRecord = tail.offset(from) - RECORD_HEADER;
        let pos = from;
        for (; pos < tail.limit && !tail.isBlank(pos); pos++) {
          if (pos < tail.written && tail.isLive(pos)) {
            tail.live -= 1;
            tail.liveBytes -= tail.length(pos);
          }
          tail.clearEntry(pos);
        }
        tail.eraseRecord(firstRecord);
        tail.written = from;
        tail.dataEnd = firstRecord;
        if (this.syncMode !== "none") {
          tail.syncEntries(from, pos);
          tail.syncData(firstRecord, firstRecord + RECORD_HEADER);
        }
      }
      this.#last = tail;
      this.#listChanged();
      if (removed) this.#segGen = Atomics.add(this.#words, W_SEGGEN, 1) + 1;
      Atomics.store(this.#words, W_DIRTY, 0);
    } catch {
      // the dirty word stays set: the next call (or open) recovers from the files
    }
  }

  #publishAppends(first: number, count: number, bytes: number): void {
    const state = this.#state;
    state[F_NEXT] = first + count;
    state[F_COUNT] = state[F_COUNT]! + count;
    state[F_BYTES] = state[F_BYTES]! + bytes;
    this.#stats.appends += count;
  }

  #createSegment(base: number): Segment {
    // What the previous segments hold is complete: raise the floors to it (the items of a
    // call in progress are not counted yet, so a call that fails can still take them back).
    this.#raiseFloors();
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
   * when this was the last segment; then the data file, then the index: a removal cut
   * short leaves an index of removed items (recovery finishes it), never data without
   * its index (which recovery refuses as damage).
   */
  #removeSegment(segment: Segment): void {
    this.#raiseFloors();
    removeFile(segment.dataPath);
    removeFile(segment.indexPath);
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

  /**
   * For a read-only open, which uses the shared state instead of recomputing it: every
   * segment's data file must be there and readable, and — while no writer is mid-call —
   * the shared state and each segment's live area must be what the index entries say
   * (those are checksummed; the state is not). So a damaged `first`, `next` or count, or
   * damaged entries, are `ERR_CORRUPT` here, never items silently hidden. A writer busy
   * the whole time leaves the state unchecked: its own open recomputed it.
   */
  #checkAgainstIndex(): void {
    for (const segment of [...this.#segments]) {
      try {
        segment.probeData();
      } catch (e) {
        // Removed items only, and the data file gone: a removal a crash cut short.
        if (!isNotFound(e)) throw e;
        if (!holdsNothing(segment)) {
          throw new OffheapError("ERR_CORRUPT", `${segment.dataPath} is missing, but its index ${segment.indexPath} lists items`, { path: segment.dataPath, cause: e });
        }
        segment.close();
        this.#segments.splice(this.#segments.indexOf(segment), 1);
        this.#last = this.#segments[this.#segments.length - 1];
        this.#listChanged();
      }
    }
    const words = this.#words;
    const state = this.#state;
    for (let attempt = 0; attempt < 5; attempt++) {
      if (attempt > 0) Bun.sleepSync(1);
      const changes = words[W_CHANGES];
      if (words[W_DIRTY] !== 0) continue;
      if (words[W_SEGGEN] !== this.#segGen) this.#relist();
      const [firstFloor, nextFloor] = this.#readFloors();
      const derived = deriveState(this.#segments, firstFloor, nextFloor);
      const stored = { first: state[F_FIRST]!, next: state[F_NEXT]!, count: state[F_COUNT]!, bytes: state[F_BYTES]! };
      const areas = this.#segments.map((s) => ({ written: s.written, live: s.live, liveBytes: s.liveBytes, dataEnd: s.dataEnd }));
      if (words[W_DIRTY] !== 0 || words[W_CHANGES] !== changes) continue; // a writer moved meanwhile
      const problem = stateProblem(derived, stored, areas, this.#segments);
      if (problem !== undefined) {
        const path = join(this.dir, dirFileName(this.prefix));
        throw new OffheapError("ERR_CORRUPT", `${path}: ${problem}`, { path });
      }
      return;
    }
  }

  #readFloors(): [number, number, number] {
    const snapshot = this.#floorsSnapshot();
    return snapshot === undefined ? [0, 0, 0] : [snapshot.values[0]!, snapshot.values[1]!, snapshot.values[2]!];
  }

  /**
   * The floors, checked; the copy this handle last read or wrote when nobody wrote since
   * (the floors are raised on every removal: a full read each time would cost more than
   * the removal).
   */
  #floorsSnapshot(): CounterSnapshot | undefined {
    const cached = this.#floors;
    if (cached !== undefined && FLOORS.newestSeq(this.#dirView) === cached.seq) return cached;
    this.#floors = FLOORS.read(this.#dirBytes, join(this.dir, dirFileName(this.prefix)));
    return this.#floors;
  }

  /** Raise the crash-safe floors (and the epoch) and flush them unless `sync: "none"`. */
  /**
   * After items were removed, with a sync mode: raise the first floor to `first`, so that
   * shifted items stay gone even if their entries are damaged while this writer runs
   * (recovery marks everything below the floor deleted). That needs no flush first, so the
   * floors are only stored (they reach the disk with the next flush, after the deletes'
   * own). Next to the call's flush this costs nothing; without a sync mode it would be a
   * third of a shift, so there the floors rise at rollover, removal, truncate and close.
   */
  #floorAfterRemoval(): void {
    if (this.syncMode !== "none") this.#writeFloors(this.#state[F_FIRST]!, 0, undefined, false);
  }

  #writeFloors(first: number | undefined, next: number, epoch?: number, flush = true): void {
    const snapshot = this.#floorsSnapshot();
    const [oldFirst, oldNext, oldEpoch] = snapshot === undefined ? [0, 0, 0] : [snapshot.values[0]!, snapshot.values[1]!, snapshot.values[2]!];
    const newFirst = Math.max(oldFirst, first ?? 0);
    const newNext = Math.max(oldNext, next);
    const newEpoch = Math.max(oldEpoch, epoch ?? 0);
    if (newFirst === oldFirst && newNext === oldNext && newEpoch === oldEpoch && snapshot !== undefined) return;
    const values = [newFirst, newNext, newEpoch];
    const seq = (snapshot?.seq ?? 0) + 1;
    FLOORS.write(this.#dirBytes, seq, values, this.#dirView);
    this.#floors = { seq, values };
    if (flush && this.syncMode !== "none") this.#dirMap.sync(FLOORS.offset, FLOORS.size);
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
   * Rebuild the shared state from the files (under the lock): see recovery.ts. Every file
   * is read and judged first; a queue that can't be read throws with every file as it was.
   * Then: lost entries are rebuilt, a torn tail dropped, stale entries cleared, the counts
   * recomputed, segments with nothing live removed, and the floors raised to what the
   * index now holds.
   */
  #recover(): void {
    this.#stats.recoveries++;
    for (const segment of this.#segments) segment.close();
    this.#segments = [];
    this.#last = undefined;
    this.#listChanged();
    const [firstFloor, nextFloor, lastEpoch] = this.#readFloors();
    const plan = planRecovery(this.dir, this.prefix, this.#geometry, nextFloor);
    // Decided: from here on the files change.
    for (const path of plan.remove) removeFile(path);
    for (const orphan of plan.orphans) {
      removeFile(orphan.indexPath);
      orphan.close();
    }
    const segments = plan.plans.map((p) => p.segment);
    this.#segments = segments;
    this.#last = segments[segments.length - 1];
    this.#listChanged();
    let next = nextFloor;
    let count = 0;
    let bytes = 0;
    for (const p of plan.plans) {
      applySegmentPlan(p);
      const counts = countSegment(p.segment, p.written, firstFloor, true);
      p.segment.written = p.written;
      p.segment.live = counts.live;
      p.segment.liveBytes = counts.liveBytes;
      p.segment.dataEnd = counts.dataEnd;
      count += counts.live;
      bytes += counts.liveBytes;
      next = Math.max(next, p.segment.base + p.written);
    }
    // Records written from now on carry a higher epoch than anything a dead writer left.
    const epoch = Math.min(lastEpoch + 1, 0xffffffff);
    const state = this.#state;
    state[F_EPOCH] = epoch;
    state[F_NEXT] = next;
    state[F_COUNT] = count;
    state[F_BYTES] = bytes;
    state[F_FIRST] = Math.min(Math.max(firstFloor, segments[0]?.base ?? next), next);
    for (const segment of [...segments]) if (segment.live <= 0) this.#removeSegment(segment);
    this.#advanceFirst();
    this.#raiseFloors({ epoch });
    this.#segGen = Atomics.add(this.#words, W_SEGGEN, 1) + 1;
    Atomics.store(this.#words, W_DIRTY, 0);
    Atomics.add(this.#words, W_CHANGES, 1);
    this.#wake();
  }

  /**
   * Raise the crash-safe floors to the current first and next (under the lock, with no
   * mutation half done): from here on, every item below `next` has its entry in the index
   * (flushed first, with a sync mode), which recovery then requires (see recovery.ts).
   */
  #raiseFloors(options: { first?: number; epoch?: number } = {}): void {
    if (this.syncMode !== "none") for (const segment of this.#segments) segment.syncEntries(0, segment.written);
    this.#writeFloors(options.first ?? this.#state[F_FIRST]!, this.#state[F_NEXT]!, options.epoch);
  }

  /** Best effort: a lock another process holds, or a failure, leaves the floors lower (still safe). */
  #floorsAtClose(): void {
    if (this.readonly || this.#lock === undefined || !this.#dirMap.isOpen) return;
    let locked = this.exclusive;
    try {
      if (!locked) {
        this.#lock.tryLock();
        locked = true;
      }
      if (this.#words[W_DIRTY] !== 0) return; // a call died halfway: the next open recovers
      if (this.#words[W_SEGGEN] !== this.#segGen) this.#relist();
      this.#raiseFloors();
    } catch {
      // not raised: the floors stay where they were
    } finally {
      if (locked && !this.exclusive) this.#lock.unlock();
    }
  }

  #readerHost(): ReaderHost {
    return {
      dir: this.dir,
      prefix: this.prefix,
      readonly: this.readonly,
      check: () => this.#check(),
      isClosed: () => this.#closed,
      changes: () => this.#words[W_CHANGES]!,
      first: () => this.#state[F_FIRST]!,
      next: () => this.#state[F_NEXT]!,
      get: (index) => this.get(index),
      waitForChange: (seen, pollMs) => this.#waitForChange(seen, pollMs),
    };
  }

  /**
   * The follower's wait (see {@link WordWait}) on the change word. Followers count in in
   * the wake file only while they wait, so producers make the wake-up call only when
   * someone waits and a follower that is dropped leaves no count behind.
   */
  #makeWait(): WordWait {
    // No wake file: producers wake unconditionally, so a count in a private word is enough.
    const counter = this.#wakeMap === undefined || this.#wakeWritable ? { words: this.#wakeWords, index: W_WAITERS } : null;
    return new WordWait({ mapping: this.#dirMap, offset: DIR_CHANGES, counter: () => counter, pollMs: 20 });
  }

  /** Wait until the change counter moves from `seen`, `pollMs` passed, or the queue closes. */
  #waitForChange(seen: number, pollMs: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#wait ??= this.#makeWait();
    return this.#wait.wait(seen, () => this.#words[W_CHANGES] !== seen, pollMs);
  }
}

/**
 * What differs between the shared state (and segment live areas) a read-only open found
 * and what the index entries say, or `undefined`. With damaged entries among them, only
 * what they can't change is compared: next, each segment's entries, and that no item
 * known live lies below `first`.
 */
/** `ERR_FORMAT` when `dir` exists but is not a directory (a file is no queue, and mkdir would say EEXIST). */
function assertNotAFile(dir: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    return; // missing (made, or ENOENT from the open), or unreadable: the open says why
  }
  if (!isDir) throw new OffheapError("ERR_FORMAT", `${dir} is a file, not a queue directory (a queue is a directory of files)`, { path: dir });
}

function stateProblem(
  derived: DerivedState,
  stored: { first: number; next: number; count: number; bytes: number },
  areas: ReadonlyArray<{ written: number; live: number; liveBytes: number; dataEnd: number }>,
  segments: readonly Segment[],
): string | undefined {
  const found = (what: string, value: number, expected: number | string) => `the shared state says ${what} is ${value}, but the index files say ${expected}`;
  if (stored.next !== derived.next) return found("next", stored.next, derived.next);
  for (let k = 0; k < segments.length; k++) {
    const a = areas[k]!;
    const d = derived.segments[k]!;
    const where = `segment ${segments[k]!.base}`;
    if (a.written !== d.written) return `${where}: its live area says ${a.written} entries written, but it holds ${d.written}`;
    if (derived.damaged > 0) continue;
    if (a.live !== d.live || a.liveBytes !== d.liveBytes || a.dataEnd !== d.dataEnd) {
      return `${where}: its live area says ${a.live} live items, ${a.liveBytes} bytes, data to ${a.dataEnd}; its entries say ${d.live}, ${d.liveBytes}, ${d.dataEnd}`;
    }
  }
  if (derived.damaged > 0) {
    if (stored.first > derived.firstKnownLive) return found("first", stored.first, `at most ${derived.firstKnownLive}`);
    return undefined;
  }
  if (stored.first !== derived.first) return found("first", stored.first, derived.first);
  if (stored.count !== derived.count) return found("the item count", stored.count, derived.count);
  if (stored.bytes !== derived.bytes) return found("the byte count", stored.bytes, derived.bytes);
  return undefined;
}

describeStats(DurableQueue, QUEUE_METRICS);
