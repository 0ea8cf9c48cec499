/**
 * `RingBuffer`: a persistent ring of fixed-size slots on disk. One writer process appends
 * (ids 0, 1, 2, …; id `i` lives in slot `i % capacity`), any number of read-only handles in
 * other processes or Workers read and follow it live.
 *
 * Longer than 500 lines because the handle still carries its open-time recovery (head
 * candidates, interrupted jumps, settling what a killed writer left) beside the hot
 * paths, sharing the handle's private mappings and head words. Moving that recovery to
 * ring/recovery.ts and the option checks to ring/options.ts is the next split (issue 14);
 * until then this header says so rather than the file pretending to be small.
 */
import { DATA_EXPECTED, booleanOption, elementName, integerArg, invalidArg, iterableArg, oneOfArg, optionsArg, pathArg, signalArg } from "../primitives/arguments.ts";
import { DEFAULT_LOCK_TIMEOUT, lockTimeoutOption, syncOption, type SyncMode } from "../primitives/common-options.ts";
import { Mapping, futexWake, writerHolds, type File, type Lock } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";
import { openRingFiles } from "./files.ts";
import { HEAD_FUTEX_OFFSET, headCandidates, loadHead, resetHead, storeHead } from "./head.ts";
import { DATA_OFFSET, DELETED, HEAD_OFFSET, JUMPS, MARK_LIMIT, MAX_ID, WRITTEN, checkLayoutOptions, shardFileBytes, shardPath } from "./layout.ts";
import { slotCrc } from "./slot.ts";
import { ABSENT, BUSY_SLOT, GONE, MmapSlots, NEWER, PreadSlots, type SlotStore } from "./store.ts";
import { HeadWaits, WAITERS_INDEX } from "./wait.ts";
import { describeStats } from "../metrics/describe.ts";
import { RING_METRICS, type RingStats } from "./stats.ts";

/** Options of {@link RingBuffer.open}. */
export interface RingOptions {
  /** Largest record in bytes. Required to create; read from the file on reopen. */
  recordSize?: number;
  /** Number of slots (records held). Required to create; read from the file on reopen. */
  capacity?: number;
  /** Number of shard files (`path`, `path.1`, …). Default: enough for ≤ 1 GiB each. */
  shards?: number;
  /** `"mmap"` (default): slots in shared mappings. `"pread"`: pread/pwrite. */
  io?: "mmap" | "pread";
  /** When writes reach the disk (see {@link SyncMode}). Default `"none"`. */
  sync?: SyncMode;
  /** On sequential reads, ask for the next `prefetch` records ahead of time. Default 0. */
  prefetch?: number;
  /** Open without the writer lock; writes throw `ERR_READONLY`. Default false. */
  readonly?: boolean;
  /** How long the open waits for another writer's lock, in ms (then `ERR_TIMEOUT`); 0: `ERR_LOCKED` at once. Default 5000 ({@link DEFAULT_LOCK_TIMEOUT}). */
  lockTimeout?: number;
}

/** A record with its id, as {@link RingBuffer.range} and {@link RingBuffer.follow} yield it. */
export interface RingRecord {
  /** The record's id (0, 1, 2, … in append order); it lives in slot `id % capacity`. */
  id: number;
  /** The record's bytes (a copy). */
  data: Uint8Array;
}

/** Options of {@link RingBuffer.follow}. */
export interface FollowOptions {
  /** Stop following: the iterator throws the signal's reason. */
  signal?: AbortSignal;
  /** When the writer overwrote records not yet read: `"throw"` `ERR_LAPPED` (default), or `"skip"` to `first`. */
  onLap?: "throw" | "skip";
}


const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const IO_MODES = ["mmap", "pread"] as const;
const LAP_MODES = ["throw", "skip"] as const;

/**
 * A persistent ring of records, one writer and many readers across processes.
 *
 * @example
 * ```ts
 * using ring = RingBuffer.open("events.ring", { recordSize: 128, capacity: 1 << 16 });
 * const id = ring.append("hello");
 * ring.get(id); // Uint8Array of "hello"
 * ```
 */
export class RingBuffer {
  /** The path of shard 0. */
  readonly path: string;
  /** Largest record in bytes. */
  readonly recordSize: number;
  /** Slots in the ring. */
  readonly capacity: number;
  /** Number of shard files. */
  readonly shards: number;
  /** Whether this handle is read-only. */
  readonly readonly: boolean;
  /** The I/O mode of this handle. */
  readonly io: "mmap" | "pread";

  readonly #files: File[];
  readonly #lock: Lock | undefined;
  readonly #store: SlotStore;
  readonly #headMap: Mapping;
  #headWords: Int32Array;
  /** Any sync mode but `"none"`: a call's writes are flushed before it returns. */
  readonly #syncAlways: boolean;
  /** `"always"`: inside `appendMany` too, each record is flushed as it is written. */
  readonly #syncEachItem: boolean;
  readonly #prefetch: number;
  #next = 0;
  /** The writer's copy of the jump block (see JUMPS in layout.ts). */
  #uncheckedBelow = 0;
  #jumpFrom = 0;
  #jumpTo = 0;
  /** A read-only handle's view of the head never goes below this (see #settledHead). */
  #headAtLeast = 0;
  #closed = false;
  #lastRead = -2;
  #prefetchedTo = 0;
  #prefetchTimer: ReturnType<typeof setImmediate> | undefined;
  #deleteScratch: Uint8Array | undefined;
  readonly #waits: HeadWaits;
  readonly #counts = {
    appends: 0,
    bytesAppended: 0,
    writes: 0,
    deletes: 0,
    gets: 0,
    hits: 0,
    misses: 0,
    laps: 0,
    lapMissed: 0,
    prefetches: 0,
    syncs: 0,
    wakes: 0,
  };

  private constructor(path: string, options: RingOptions) {
    pathArg("path", path);
    optionsArg("options", options);
    const io = options.io === undefined ? "mmap" : oneOfArg("io", options.io, IO_MODES);
    const sync = syncOption(options.sync, "none");
    const prefetch = options.prefetch === undefined ? 0 : integerArg("prefetch", options.prefetch, { min: 0 });
    const lockTimeout = lockTimeoutOption(options.lockTimeout);
    const readonly = booleanOption("readonly", options.readonly);
    checkLayoutOptions(options);

    const opened = openRingFiles(path, {
      readonly,
      lockTimeout,
      recordSize: options.recordSize,
      capacity: options.capacity,
      shards: options.shards,
    });
    const { layout, files } = opened;
    // Set before the checks below, which use them.
    this.path = path;
    this.recordSize = layout.recordSize;
    this.capacity = layout.capacity;
    this.shards = layout.shards;
    this.readonly = readonly;
    this.io = io;
    const maps: Mapping[] = [];
    try {
      let store: SlotStore;
      if (io === "mmap") {
        files.forEach((f, i) => maps.push(Mapping.file(f, { length: shardFileBytes(layout, i), readonly })));
        store = new MmapSlots(layout, files.map((_, i) => shardPath(path, i)), maps, readonly);
        this.#headMap = maps[0]!;
      } else {
        this.#headMap = Mapping.file(files[0]!, { length: DATA_OFFSET, readonly });
        maps.push(this.#headMap);
        store = new PreadSlots(layout, files, readonly);
      }
      this.#store = store;
      this.#headWords = new Int32Array(this.#headMap.buffer, 0, DATA_OFFSET / 4);
      if (!readonly) {
        this.#next = this.#recoverHead(shardPath(path, 0));
        [this.#uncheckedBelow, this.#jumpFrom, this.#jumpTo] = readJumps(this.#headMap, shardPath(path, 0));
        this.#repairInterrupted(store, layout.capacity);
      }
      this.#checkHead(readonly ? loadHead(this.#headWords) : this.#next, shardPath(path, 0), readonly);
      if (!readonly) this.#settleHead();
      else if (!writerHolds(files[0]!)) {
        // No writer will publish what a dead one left whole until one opens: see it meanwhile.
        this.#headAtLeast = this.#settledHead(loadHead(this.#headWords), readJumps(this.#headMap, shardPath(path, 0)));
      }
    } catch (e) {
      for (const m of maps) m.close();
      opened.lock?.unlock();
      for (const f of files) f.close();
      throw e;
    }
    this.#waits = new HeadWaits(path, this.#headMap, readonly ? undefined : this.#headWords, () => this.#loadNext());
    this.#files = files;
    this.#lock = opened.lock;
    this.#syncAlways = sync !== "none";
    this.#syncEachItem = sync === "always";
    this.#prefetch = prefetch;
  }

  /**
   * Open the ring at `path`, creating it (with `recordSize` and `capacity`) when it does not
   * exist. Options fixed at creation may be omitted on reopen; given ones must match the
   * file's (`ERR_MISMATCH`, and the files stay unchanged).
   *
   * @throws `ERR_INVALID` for a bad path or option (nothing is created), `ERR_TOO_LARGE`
   * for a ring no mapping or shard count can hold, `ERR_SYSTEM` (`ENOSPC`) for one larger
   * than the disk's free space (checked before anything is created), `ERR_MISMATCH`,
   * `ERR_FORMAT`, `ERR_CORRUPT`, `ERR_LOCKED`, `ERR_TIMEOUT`.
   */
  static open(path: string, options: RingOptions = {}): RingBuffer {
    return new RingBuffer(path, options);
  }

  /** The id the next append gets. */
  get next(): number {
    this.#assertOpen();
    return this.#loadNext();
  }

  /** The oldest id the ring can still hold: `max(0, next - capacity)`. */
  get first(): number {
    this.#assertOpen();
    return Math.max(0, this.#loadNext() - this.capacity);
  }

  /** Ids in the window `[first, next)` (deleted or skipped ids included). */
  get size(): number {
    this.#assertOpen();
    return Math.min(this.#loadNext(), this.capacity);
  }

  /**
   * Append a record; returns its id. Strings are stored as UTF-8.
   * @throws `ERR_INVALID` when `data` is neither a Uint8Array nor a string, `ERR_TOO_LARGE`
   * past `recordSize`, `ERR_READONLY`, `ERR_CLOSED`.
   */
  append(data: Uint8Array | string): number {
    this.#assertWritable();
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    const id = this.#next;
    if (id >= MAX_ID) throw new OffheapError("ERR_RANGE", `ids are exhausted at ${MAX_ID}`, { path: this.path });
    this.#put(id, bytes);
    this.#counts.appends++;
    this.#counts.bytesAppended += bytes.length;
    this.#publish(id + 1);
    return id;
  }

  /**
   * Append every item; returns the id of the first (the rest follow in order). Every item
   * is checked before any is written: a refused call appends nothing.
   * @throws `ERR_INVALID` when `items` is not iterable or an item is neither a Uint8Array
   * nor a string, `ERR_TOO_LARGE`, `ERR_READONLY`, `ERR_CLOSED`.
   */
  appendMany(items: Iterable<Uint8Array | string>): number {
    this.#assertWritable();
    const list: Uint8Array[] = [];
    for (const item of iterableArg<Uint8Array | string>("items", items)) {
      const bytes = typeof item === "string" ? encoder.encode(item) : item;
      this.#checkSize(bytes, list.length);
      list.push(bytes);
    }
    const start = this.#next;
    if (start + list.length > MAX_ID) throw new OffheapError("ERR_RANGE", `ids are exhausted at ${MAX_ID}`, { path: this.path });
    if (list.length === 0) return start;
    // Only the last `capacity` items survive a batch larger than the ring.
    const skip = Math.max(0, list.length - this.capacity);
    if (skip > 0) this.#writeJumps(this.#uncheckedBelow, start, start + list.length - 1);
    for (let i = skip; i < list.length; i++) {
      const bytes = list[i]!;
      this.#store.put(start + i, (WRITTEN | bytes.length) >>> 0, bytes, slotCrc(start + i, (WRITTEN | bytes.length) >>> 0, bytes));
      if (this.#syncEachItem) this.#store.syncSlot(start + i);
      this.#counts.bytesAppended += bytes.length;
    }
    this.#counts.appends += list.length;
    if (this.#syncAlways) this.#store.syncDirty();
    this.#publish(start + list.length);
    return start;
  }

  /**
   * Write the record with an explicit id (slot `id % capacity`). An id at or past `next`
   * moves `next` to `id + 1` (ids in between read as absent); an id in `[first, next)`
   * replaces that record; an id before `first` is `ERR_RANGE`.
   * @throws `ERR_INVALID` for an id that is not an integer or bad `data`, `ERR_RANGE`,
   * `ERR_TOO_LARGE`, `ERR_READONLY`, `ERR_CLOSED`.
   */
  write(id: number, data: Uint8Array | string): void {
    this.#assertWritable();
    this.#checkId(id);
    if (id >= MAX_ID) throw new OffheapError("ERR_RANGE", `id ${id} is past the largest id ${MAX_ID - 1}`, { path: this.path });
    const first = Math.max(0, this.#next - this.capacity);
    if (id < first) {
      throw new OffheapError("ERR_RANGE", `id ${id} was already overwritten: the ring holds ids ${first} to ${this.#next - 1}`, { path: this.path });
    }
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    this.#checkSize(bytes, -1);
    if (id > this.#next) this.#skip(id);
    this.#put(id, bytes);
    this.#counts.writes++;
    this.#counts.bytesAppended += bytes.length;
    if (id >= this.#next) this.#publish(id + 1);
  }

  /**
   * A copy of record `id`, or `undefined` when it was never written, was overwritten or
   * deleted. Throws `ERR_CORRUPT` when the stored record fails its checksum.
   * @throws `ERR_INVALID` for an id that is not an integer, `ERR_RANGE` for a negative one,
   * `ERR_CORRUPT`, `ERR_CLOSED`.
   */
  get(id: number): Uint8Array | undefined {
    return this.#read(id, null) < 0 ? undefined : this.#store.copy;
  }

  /**
   * Copy record `id` into `target` (from index 0); returns the byte count, or -1 when the
   * record is absent. `ERR_RANGE` when `target` is shorter than the record.
   * Allocates nothing when called again with the same target (both I/O modes; in `mmap`
   * mode for records up to 256 bytes, larger ones take one view object per call).
   * @throws `ERR_INVALID` when `target` is not a Uint8Array or `id` not an integer,
   * `ERR_RANGE`, `ERR_CORRUPT`, `ERR_CLOSED`.
   */
  getInto(id: number, target: Uint8Array): number {
    if (!(target instanceof Uint8Array)) {
      this.#assertOpen();
      throw invalidArg("target", "a Uint8Array", target);
    }
    return Math.max(-1, this.#read(id, target));
  }

  /** Read `id` into `target` (or into the store's copy when null), counting hits and misses. */
  #read(id: number, target: Uint8Array | null): number {
    this.#assertOpen();
    this.#checkId(id);
    this.#counts.gets++;
    const next = this.#loadNext();
    if (id >= next || id < next - this.capacity) {
      this.#counts.misses++;
      return ABSENT;
    }
    const n = this.#store.read(id, target);
    if (this.#prefetch > 0) this.#readAhead(id);
    if (n >= 0) {
      this.#counts.hits++;
      return n;
    }
    this.#counts.misses++;
    return n === ABSENT ? this.#absentInWindow(id) : n;
  }

  /**
   * Delete record `id`. Returns false when it is not there (absent, overwritten, deleted).
   * @throws `ERR_INVALID`, `ERR_RANGE` (a negative id), `ERR_READONLY`, `ERR_CLOSED`.
   */
  delete(id: number): boolean {
    this.#assertWritable();
    this.#checkId(id);
    const next = this.#next;
    if (id >= next || id < next - this.capacity) return false;
    this.#deleteScratch ??= new Uint8Array(this.recordSize);
    let n: number;
    try {
      n = this.#store.read(id, this.#deleteScratch);
    } catch (e) {
      // A damaged slot in the window can only have held this id: deleting it is safe.
      if (!(e instanceof OffheapError && e.code === "ERR_CORRUPT")) throw e;
      n = 0;
    }
    if (n === ABSENT && id >= this.#uncheckedBelow) n = 0; // damaged too (see #absentInWindow)
    if (n < 0) return false;
    this.#store.put(id, DELETED, EMPTY, slotCrc(id, DELETED, EMPTY));
    if (this.#syncAlways) this.#store.syncSlot(id);
    this.#counts.deletes++;
    return true;
  }

  /**
   * The records with ids in `[from, to)` (default: from `first` to the `next` of when the
   * iteration starts), skipping absent and deleted ones and any overwritten meanwhile.
   * @throws (at the call, before any record is read) `ERR_INVALID` / `ERR_RANGE` for bad
   * bounds, `ERR_CLOSED`.
   */
  range(from?: number, to?: number): IterableIterator<RingRecord> {
    this.#assertOpen();
    if (from !== undefined) this.#checkId(from, "from");
    if (to !== undefined) this.#checkId(to, "to");
    return this.#range(from, to);
  }

  *#range(from: number | undefined, to: number | undefined): IterableIterator<RingRecord> {
    const stop = to ?? this.#loadNext();
    let id = from ?? 0;
    while (id < stop) {
      this.#assertOpen();
      const next = this.#loadNext();
      if (id >= next) return;
      if (id < next - this.capacity) id = next - this.capacity;
      if (id >= stop) return;
      const n = this.#store.read(id, null);
      if (n >= 0) yield { id, data: this.#store.copy };
      else if (n === ABSENT) this.#absentInWindow(id);
      id++;
    }
  }

  /**
   * Yield every record from `from` (default `first`) on, waiting for new ones (futex wake
   * from the writer, with a short timeout as a safety net). When the writer overwrote
   * records not read yet, throws `ERR_LAPPED` with `missed`, or with `onLap: "skip"`
   * continues at `first` and counts the lap in {@link stats}. Ends when the ring is closed.
   * @throws (at the call) `ERR_INVALID` / `ERR_RANGE` for a bad `from` or option, `ERR_CLOSED`.
   */
  follow(from?: number, options: FollowOptions = {}): AsyncIterableIterator<RingRecord> {
    this.#assertOpen();
    if (from !== undefined) this.#checkId(from, "from");
    optionsArg("options", options);
    const onLap = options.onLap === undefined ? "throw" : oneOfArg("onLap", options.onLap, LAP_MODES);
    const signal = signalArg("signal", options.signal);
    return this.#follow(from ?? Math.max(0, this.#loadNext() - this.capacity), signal, onLap);
  }

  /**
   * Write everything dirty to disk (slots, then the head).
   * A read-only handle has nothing to write and returns.
   * @throws `ERR_CLOSED`, `ERR_SYSTEM` when msync or fsync fails.
   */
  sync(): void {
    this.#assertOpen();
    if (this.readonly) return;
    this.#store.syncDirty();
    this.#headMap.sync(HEAD_OFFSET, 16);
    this.#counts.syncs++;
  }

  /**
   * This handle's counters and the ring's current window.
   * @throws `ERR_CLOSED`.
   */
  stats(): RingStats {
    this.#assertOpen();
    const next = this.#loadNext();
    return {
      ...this.#counts,
      followers: this.#waits.waiting,
      first: Math.max(0, next - this.capacity),
      next,
      size: Math.min(next, this.capacity),
      capacity: this.capacity,
      recordSize: this.recordSize,
      shards: this.shards,
    };
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Close the handle: stop followers (their iterations end) and pending prefetch, unmap,
   * release the lock. Idempotent; later calls throw `ERR_CLOSED`.
   * @throws nothing.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#prefetchTimer !== undefined) clearImmediate(this.#prefetchTimer);
    this.#prefetchTimer = undefined;
    this.#waits.close(); // ends every follower's wait: their loops see the handle closed
    this.#store.close();
    this.#headMap.close();
    this.#headWords = new Int32Array(0);
    this.#lock?.unlock();
    for (const f of this.#files) f.close();
  }

  /** Same as {@link close}, for `using ring = RingBuffer.open(...)`. */
  [Symbol.dispose](): void {
    this.close();
  }

  // ---- internals ----

  #assertOpen(): void {
    if (this.#closed) throw new OffheapError("ERR_CLOSED", `ring ${this.path} is closed`, { path: this.path });
  }

  #assertWritable(): void {
    this.#assertOpen();
    if (this.readonly) throw new OffheapError("ERR_READONLY", `ring ${this.path} was opened readonly`, { path: this.path });
  }

  #checkId(id: number, name = "id"): void {
    if (!Number.isSafeInteger(id)) throw invalidArg(name, "an integer id", id);
    if (id < 0) throw new OffheapError("ERR_RANGE", `${name} ${id} is negative: ids start at 0`, { path: this.path });
  }

  /** Check a record's bytes: `item` is its index in `appendMany`'s items, -1 for `data`. */
  #checkSize(bytes: Uint8Array, item: number): void {
    if (!(bytes instanceof Uint8Array)) throw invalidArg(item < 0 ? "data" : elementName("items", item), DATA_EXPECTED, bytes);
    if (bytes.length > this.recordSize) {
      const what = item < 0 ? "data" : elementName("items", item);
      throw new OffheapError("ERR_TOO_LARGE", `${what}: a record is at most ${this.recordSize} bytes (recordSize), got ${bytes.length}`, { path: this.path });
    }
  }

  #loadNext(): number {
    return this.readonly ? Math.max(loadHead(this.#headWords), this.#headAtLeast) : this.#next;
  }

  #put(id: number, bytes: Uint8Array): void {
    this.#checkSize(bytes, -1);
    const meta = (WRITTEN | bytes.length) >>> 0;
    this.#store.put(id, meta, bytes, slotCrc(id, meta, bytes));
    if (this.#syncAlways) this.#store.syncSlot(id);
  }

  /** Publish `next` once the slots before it are complete, then wake followers. */
  #publish(next: number): void {
    storeHead(this.#headWords, next, this.#next);
    this.#next = next;
    if (this.#syncAlways) this.#headMap.sync(HEAD_OFFSET, 16);
    // A plain load after the head's Atomics.store (a full fence) sees any follower that
    // registered before it; one registering later re-checks the head before it sleeps.
    if (this.#headWords[WAITERS_INDEX]! > 0) {
      futexWake(this.#headMap, HEAD_FUTEX_OFFSET);
      this.#counts.wakes++;
    }
  }

  /**
   * A write(id) past `next` skips the ids between: those still in the window are marked
   * deleted, so that every slot in the window holds its id (see layout.ts); a jump past
   * MARK_LIMIT ids raises the unchecked floor instead. Both happen before the head moves.
   */
  #skip(id: number): void {
    const from = Math.max(this.#next, id + 1 - this.capacity);
    const mark = id - from <= MARK_LIMIT;
    this.#writeJumps(mark ? this.#uncheckedBelow : id, this.#next, id);
    if (!mark) return;
    for (let k = from; k < id; k++) this.#store.put(k, DELETED, EMPTY, slotCrc(k, DELETED, EMPTY));
    if (this.#syncAlways) this.#store.syncDirty();
  }

  /** Store the jump block (before the slots and head it covers are written). */
  #writeJumps(uncheckedBelow: number, jumpFrom: number, jumpTo: number): void {
    const bytes = this.#headMap.bytes;
    const seq = JUMPS.read(bytes, this.path)?.seq ?? 0;
    JUMPS.write(bytes, seq + 1, [uncheckedBelow, jumpFrom, jumpTo]);
    this.#uncheckedBelow = uncheckedBelow;
    this.#jumpFrom = jumpFrom;
    this.#jumpTo = jumpTo;
    if (this.#syncAlways) this.#headMap.sync(JUMPS.offset, JUMPS.size);
  }

  /**
   * What a read of `id`, inside the window, does when its slot is empty or holds an older
   * id: that slot was damaged (a zeroed page, say), since every id in the window has its
   * slot written. Ids below the unchecked floor were skipped by a far jump: absent.
   */
  #absentInWindow(id: number): number {
    const floor = this.readonly ? readJumps(this.#headMap, this.path)[0] : this.#uncheckedBelow;
    if (id < floor) return ABSENT;
    throw new OffheapError(
      "ERR_CORRUPT",
      `${this.path}: record ${id} is inside the window (${Math.max(0, this.#loadNext() - this.capacity)} to ${this.#loadNext() - 1}) but its slot ${id % this.capacity} holds no record for it: the slot was damaged`,
      { path: this.path },
    );
  }

  /** The writer's head on open; a crash during a high-bits change is settled by the slots. */
  #recoverHead(path: string): number {
    const candidates = headCandidates(this.#headWords);
    let next = candidates[candidates.length - 1]!;
    if (candidates.length > 1) {
      for (const c of candidates) {
        if (c === 0 || this.#holds(c - 1)) {
          next = c;
          break;
        }
      }
      resetHead(this.#headWords, next);
    }
    if (next > MAX_ID) throw new OffheapError("ERR_CORRUPT", `${path}: head ${next} is past the largest id`, { path });
    return next;
  }

  /**
   * A writer killed inside a put leaves the slot of `next` BUSY. The record the window held
   * there is gone either way: mark it deleted so readers stop waiting for it.
   */
  #repairInterrupted(store: SlotStore, capacity: number): void {
    const next = this.#next;
    let state: number;
    try {
      state = store.read(next, null);
    } catch {
      return; // damaged, not interrupted: get/verify report it
    }
    if (state !== BUSY_SLOT) return;
    const lost = next >= capacity ? next - capacity : next;
    store.put(lost, DELETED, EMPTY, slotCrc(lost, DELETED, EMPTY));
    store.syncDirty();
  }

  /**
   * The head is published only after the slot of `next - 1` is complete, and a slot only
   * ever takes newer ids; so when that slot is empty or holds an older id, the head was
   * damaged (it points past what was ever written). And the slot of `next` holds an older
   * id until the next write: a newer one there means the head was moved back (see
   * layout.ts), unless it is `next` itself or within a jump under way (a crash between
   * writing slots and publishing them).
   */
  #checkHead(next: number, path: string, readonly: boolean): void {
    if (next > 0) {
      let state = 0;
      try {
        state = this.#store.read(next - 1, null);
      } catch {
        // a damaged slot: its own CRC reports it to get and verify
      }
      if (state === ABSENT) {
        throw new OffheapError(
          "ERR_CORRUPT",
          `${path}: the head says the next id is ${next}, but the slot of id ${next - 1} does not hold it: the head is damaged`,
          { path },
        );
      }
    }
    if (next >= MAX_ID) return;
    const held = this.#store.storedId(next);
    const [, jumpFrom, jumpTo] = readonly ? readJumps(this.#headMap, path) : [0, this.#jumpFrom, this.#jumpTo];
    // A reader's head may be stale by then (a live writer lapped it): only a head that
    // stood still meanwhile counts.
    if (readonly && loadHead(this.#headWords) !== next) return;
    const jumping = next === jumpFrom && held <= jumpTo;
    if (held > next && !jumping && this.#holds(held)) {
      throw new OffheapError(
        "ERR_CORRUPT",
        `${path}: the head says the next id is ${next}, but the slot of id ${next} already holds the later id ${held}: the head was moved back (damaged)`,
        { path },
      );
    }
  }

  /**
   * The head a writer killed between writing slots and publishing them would have
   * published: past a jump (or oversized batch) under way from this head whose last slot
   * is written, then past whole records in the slots of `next`, `next + 1`, … (an
   * append's or a batch's). Their ids were never handed out, and publishing them (as the
   * writer's open does) means they never are twice.
   */
  #settledHead(next: number, jumps: readonly [number, number, number]): number {
    const [, jumpFrom, jumpTo] = jumps;
    let n = next;
    if (next === jumpFrom && jumpTo >= next && this.#store.storedId(jumpTo) === jumpTo && this.#holds(jumpTo)) n = jumpTo + 1;
    while (n < MAX_ID && this.#store.storedId(n) === n && this.#holds(n)) n++;
    return n;
  }

  /**
   * The writer's open: publish what a killed writer left whole (see #settledHead). A jump
   * that died before its last slot leaves slots holding ids past `next`, which the
   * records they replaced can't come back from: they become deletion markers of those
   * records, so that every slot again holds an id below the head.
   */
  #settleHead(): void {
    const jumps: [number, number, number] = [this.#uncheckedBelow, this.#jumpFrom, this.#jumpTo];
    const next = this.#settledHead(this.#next, jumps);
    if (next === this.#next && this.#next === this.#jumpFrom && this.#jumpTo >= next) {
      const capacity = this.capacity;
      for (let k = Math.max(next, this.#jumpTo + 1 - capacity); k <= this.#jumpTo; k++) {
        if (this.#store.storedId(k) !== k) continue;
        // The id the slot held before: the one of the window congruent to k.
        const lost = next - capacity + ((((k - (next - capacity)) % capacity) + capacity) % capacity);
        if (lost >= 0) this.#store.put(lost, DELETED, EMPTY, slotCrc(lost, DELETED, EMPTY));
        else this.#store.put(k, 0, EMPTY, 0); // never written before: empty again
      }
      this.#writeJumps(this.#uncheckedBelow, 0, 0);
    }
    if (next !== this.#next) this.#publish(next);
    this.#store.syncDirty();
    this.#headMap.sync(HEAD_OFFSET, 16);
  }

  #holds(id: number): boolean {
    try {
      const n = this.#store.read(id, null);
      return n >= 0 || n === GONE;
    } catch {
      return false;
    }
  }

  #readAhead(id: number): void {
    const sequential = id === this.#lastRead + 1;
    this.#lastRead = id;
    if (!sequential || id < this.#prefetchedTo - (this.#prefetch >> 1)) return;
    const start = Math.max(id + 1, this.#prefetchedTo);
    const count = this.#prefetch;
    this.#prefetchedTo = start + count;
    this.#counts.prefetches++;
    if (this.io === "mmap") {
      this.#store.prefetch(start, count);
      return;
    }
    // pread mode reads ahead off the caller's path: at most one pending, cancelled by close.
    if (this.#prefetchTimer !== undefined) return;
    this.#prefetchTimer = setImmediate(() => {
      this.#prefetchTimer = undefined;
      if (!this.#closed) this.#store.prefetch(start, count);
    });
  }

  async *#follow(from: number, signal: AbortSignal | undefined, onLap: "throw" | "skip"): AsyncGenerator<RingRecord> {
    let pos = from;
    // Nothing is held between waits (the handle's HeadWaits owns the one Worker), so an
    // iterator dropped without return() leaks nothing.
    for (;;) {
      if (this.#closed) return;
      signal?.throwIfAborted();
      const next = this.#loadNext();
      const first = Math.max(0, next - this.capacity);
      if (pos < first) {
        pos = this.#lap(pos, first, onLap);
        continue;
      }
      if (pos < next) {
        const n = this.#store.read(pos, null);
        if (n >= 0) {
          const data = this.#store.copy;
          yield { id: pos, data };
          pos++;
        } else if (n === BUSY_SLOT) {
          await Bun.sleep(1); // a writer is mid-rewrite of this slot (or died there)
        } else if (n === NEWER) {
          // Overwritten between loading the head and reading the slot.
          const now = Math.max(0, this.#loadNext() - this.capacity);
          pos = this.#lap(pos, Math.max(now, pos + 1), onLap);
        } else {
          if (n === ABSENT) this.#absentInWindow(pos);
          pos++; // deleted, or skipped by a write(id) past it
        }
        continue;
      }
      await this.#waits.waitPast(next, signal);
    }
  }

  #lap(pos: number, first: number, onLap: "throw" | "skip"): number {
    const missed = first - pos;
    if (onLap === "throw") {
      throw new OffheapError(
        "ERR_LAPPED",
        `the writer overwrote ${missed} records this reader had not read (it was at id ${pos}, the oldest held is ${first})`,
        { path: this.path, missed },
      );
    }
    this.#counts.laps++;
    this.#counts.lapMissed += missed;
    return first;
  }
}

/** The jump block stored in shard 0's header page: `[uncheckedBelow, jumpFrom, jumpTo]` (0s when never written). */
function readJumps(headMap: Mapping, path: string): [number, number, number] {
  const values = JUMPS.read(headMap.bytes, path)?.values;
  return [values?.[0] ?? 0, values?.[1] ?? 0, values?.[2] ?? 0];
}

describeStats(RingBuffer, RING_METRICS);
