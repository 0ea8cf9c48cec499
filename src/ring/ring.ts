/**
 * `RingBuffer`: a persistent ring of fixed-size slots on disk. One writer process appends
 * (ids 0, 1, 2, …; id `i` lives in slot `i % capacity`), any number of read-only handles in
 * other processes or Workers read and follow it live. This class coordinates; opening and
 * its repairs are open.ts and recovery.ts, slot I/O store.ts, the follow loop follow.ts.
 */
import { DATA_EXPECTED, elementName, invalidArg, iterableArg } from "../primitives/arguments.ts";
import { futexWake, type File, type Lock, type Mapping } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";
import { followRing, rangeRing, type FollowSource } from "./follow.ts";
import { HEAD_FUTEX_OFFSET, loadHead, storeHead } from "./head.ts";
import { readJumps, writeJumps } from "./jumps.ts";
import { HEAD_OFFSET, MARK_LIMIT, MAX_ID, WRITTEN } from "./layout.ts";
import { openRing } from "./open.ts";
import { followSettings, ringSettings, type FollowOptions, type RingOptions, type RingRecord } from "./options.ts";
import { ReadAhead } from "./prefetch.ts";
import { slotCrc } from "./slot.ts";
import { ABSENT, putDeleted, type SlotStore } from "./store.ts";
import { HeadWaits, WAITERS_INDEX } from "./wait.ts";
import { describeStats } from "../metrics/describe.ts";
import { RING_METRICS, type RingStats } from "./stats.ts";

export type { FollowOptions, RingOptions, RingRecord } from "./options.ts";

const encoder = new TextEncoder();

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
  /** Undefined without the `prefetch` option. */
  readonly #readAhead: ReadAhead | undefined;
  #next = 0;
  /** The writer's copy of the jump block (see JUMPS in layout.ts). */
  #uncheckedBelow = 0;
  #jumpFrom = 0;
  #jumpTo = 0;
  /** A read-only handle's view of the head never goes below this (see #settledHead). */
  #headAtLeast = 0;
  #closed = false;
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
    const settings = ringSettings(path, options);
    const opened = openRing(path, settings, options);
    this.path = path;
    this.recordSize = opened.layout.recordSize;
    this.capacity = opened.layout.capacity;
    this.shards = opened.layout.shards;
    this.readonly = settings.readonly;
    this.io = settings.io;
    this.#files = opened.files;
    this.#lock = opened.lock;
    this.#store = opened.store;
    this.#headMap = opened.headMap;
    this.#headWords = opened.headWords;
    this.#next = opened.next;
    [this.#uncheckedBelow, this.#jumpFrom, this.#jumpTo] = opened.jumps;
    this.#headAtLeast = opened.headAtLeast;
    this.#syncAlways = settings.sync !== "none";
    this.#syncEachItem = settings.sync === "always";
    this.#readAhead = settings.prefetch > 0 ? new ReadAhead(opened.store, settings.prefetch, settings.io === "pread") : undefined;
    this.#waits = new HeadWaits(path, this.#headMap, this.readonly ? undefined : this.#headWords, () => this.#loadNext());
    if (this.readonly) return;
    try {
      // The writer's open publishes what a killed writer left whole (see settledHead).
      if (opened.settled !== this.#next) this.#publish(opened.settled);
      this.#store.syncDirty();
      this.#headMap.sync(HEAD_OFFSET, 16);
    } catch (e) {
      this.close();
      throw e;
    }
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
    if (this.#readAhead !== undefined && this.#readAhead.after(id)) this.#counts.prefetches++;
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
    putDeleted(this.#store, id);
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
    return rangeRing(this.#followSource(), from ?? 0, to);
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
    const { onLap, signal } = followSettings(options);
    return followRing(this.#followSource(), from ?? Math.max(0, this.#loadNext() - this.capacity), signal, onLap);
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
    this.#readAhead?.close();
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
    for (let k = from; k < id; k++) putDeleted(this.#store, k);
    if (this.#syncAlways) this.#store.syncDirty();
  }

  /** Store the jump block (before the slots and head it covers are written). */
  #writeJumps(uncheckedBelow: number, jumpFrom: number, jumpTo: number): void {
    writeJumps(this.#headMap, this.path, [uncheckedBelow, jumpFrom, jumpTo], this.#syncAlways);
    this.#uncheckedBelow = uncheckedBelow;
    this.#jumpFrom = jumpFrom;
    this.#jumpTo = jumpTo;
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

  /** This handle's read side, as its followers see it. */
  #followSource(): FollowSource {
    return {
      path: this.path,
      capacity: this.capacity,
      isClosed: () => this.#closed,
      store: this.#store,
      loadNext: () => this.#loadNext(),
      absentInWindow: (id) => this.#absentInWindow(id),
      waitPast: (next, signal) => this.#waits.waitPast(next, signal),
      lapped: (missed) => {
        this.#counts.laps++;
        this.#counts.lapMissed += missed;
      },
    };
  }
}

describeStats(RingBuffer, RING_METRICS);
