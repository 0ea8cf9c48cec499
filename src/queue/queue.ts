/**
 * `DurableQueue`: a FIFO of variable-size items on disk with random reads by index,
 * soft deletes, several producer processes and durable named readers.
 *
 * Concurrency model: every mutation (append, delete, shift, truncate) holds the exclusive
 * `flock` on the directory file for its duration only, so producers in several processes
 * take turns. An `exclusive` handle instead takes the lock at open and holds it until
 * close: no other process can mutate meanwhile, so its calls skip the per-call flock pair
 * (about half of a small append) and the catch-up with other writers; everything they
 * publish (counters, dirty word, wake-ups) is the same, so readers and recovery can't
 * tell. Readers need no lock: an item is published (its index below `next`) only after
 * its entry is complete.
 *
 * This class coordinates; the parts are: options.ts and open.ts (opening), shared-state.ts
 * (the counters, dirty and change words, floors), mutation.ts (the lock frame of every
 * mutating call), segment-table.ts (which segment holds an index), writer.ts and
 * staging.ts (appends), removal.ts (shift, delete, truncate), recovery.ts (crash
 * recovery) and readonly-check.ts (what a read-only open checks).
 */
import { join } from "node:path";
import { elementName, invalidArg, iterableArg, pathArg } from "../primitives/arguments.ts";
import type { SyncMode } from "../primitives/common-options.ts";
import { Lock, type File } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";
import { describeStats } from "../metrics/describe.ts";
import { Cursor, checkFollowOptions, type FollowOptions } from "./cursor.ts";
import { checkOptions, nameArg, type CheckedOptions, type QueueOptions } from "./options.ts";
import { openDirectory, type OpenedDirectory } from "./open.ts";
import { checkAgainstIndex, checkState } from "./readonly-check.ts";
import { QueueReader } from "./reader.ts";
import type { QueueItem, ReaderHost } from "./reader-host.ts";
import { recover } from "./recovery.ts";
import { MutationFrame, takeLock } from "./mutation.ts";
import { QueueRemover } from "./removal.ts";
import type { SegmentGeometry } from "./segment.ts";
import { SegmentTable } from "./segment-table.ts";
import { SharedState } from "./shared-state.ts";
import { QUEUE_METRICS, type QueueStats } from "./stats.ts";
import { QueueWriter } from "./writer.ts";

export type { QueueOptions } from "./options.ts";

/** An index or count argument: `ERR_INVALID` naming it unless an integer >= 0. */
function checkIndex(index: unknown, what: string): number {
  if (typeof index !== "number" || !Number.isSafeInteger(index) || index < 0) throw invalidArg(what, "an integer >= 0", index);
  return index;
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
  readonly #geometry: SegmentGeometry;
  readonly #dirFile: File | undefined;
  readonly #lock: Lock | undefined;
  /** The lock discipline of mutating calls (writable handles only). */
  readonly #frame: MutationFrame | undefined;
  readonly #shared: SharedState;
  readonly #table: SegmentTable;
  readonly #writer: QueueWriter;
  readonly #remover: QueueRemover;
  #closed = false;
  #stats = { appends: 0, gets: 0, shifts: 0, deletes: 0, recoveries: 0 };

  private constructor(dir: string, options: CheckedOptions, opened: OpenedDirectory) {
    const { stored } = opened;
    this.dir = dir;
    this.prefix = options.prefix;
    this.readonly = options.readonly;
    this.exclusive = options.exclusive;
    this.syncMode = options.sync;
    this.segmentBytes = stored.segmentBytes;
    this.segmentItems = stored.segmentItems;
    this.maxBytes = stored.maxBytes === 0 ? Infinity : stored.maxBytes;
    const geometry = (this.#geometry = { segmentBytes: stored.segmentBytes, segmentItems: stored.segmentItems });
    const shared = (this.#shared = new SharedState(dir, this.prefix, opened.mapping, this.syncMode));
    const table = (this.#table = new SegmentTable({ dir, prefix: this.prefix, geometry, readonly: this.readonly, generation: () => shared.segmentGeneration }));
    this.#writer = new QueueWriter({ dir, prefix: this.prefix, geometry, syncMode: this.syncMode, maxBytes: this.maxBytes }, shared, table);
    this.#remover = new QueueRemover(dir, this.syncMode, shared, table);
    if (options.readonly) {
      opened.file.close();
    } else {
      this.#dirFile = opened.file;
      this.#lock = new Lock(opened.file, "exclusive");
      const { exclusive, lockTimeout } = options;
      this.#frame = new MutationFrame({ lock: this.#lock, exclusive, lockTimeout, shared, table, writer: this.#writer, recover: () => this.#recover() });
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
    const checked = checkOptions(options);
    const opened = openDirectory(dir, checked);
    let queue: DurableQueue | undefined;
    try {
      queue = new DurableQueue(dir, checked, opened);
      if (checked.readonly) {
        checkState(queue.#shared);
        queue.#table.relist();
        checkAgainstIndex(queue.#shared, queue.#table);
      } else {
        // An exclusive handle keeps it until close (a killed process's lock goes with it;
        // the next opener recovers).
        takeLock(queue.#lock!, queue.#shared, checked.lockTimeout);
        try {
          queue.#recover();
        } finally {
          if (!checked.exclusive) queue.#lock!.unlock();
        }
      }
      return queue;
    } catch (e) {
      if (queue !== undefined) queue.close();
      else {
        opened.mapping.close();
        opened.file.close();
      }
      throw e;
    }
  }

  // --- reading ---------------------------------------------------------------------------

  /** Oldest live index (equals {@link next} when the queue is empty). */
  get first(): number {
    this.#check();
    return this.#shared.first;
  }

  /** The index the next append gets. */
  get next(): number {
    this.#check();
    return this.#shared.next;
  }

  /** Number of live items. */
  get length(): number {
    this.#check();
    return this.#shared.count;
  }

  /** Bytes of the live items. */
  get bytes(): number {
    this.#check();
    return this.#shared.bytes;
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
    if (index < this.#shared.first || index >= this.#shared.next) return undefined;
    const segment = this.#table.segmentFor(index);
    if (segment === undefined) return this.#table.absent(index);
    return segment.read(index - segment.base, index);
  }

  /**
   * The oldest live item without removing it.
   * @throws `ERR_CLOSED`; `ERR_CORRUPT` for an item whose CRC does not match.
   */
  peek(): Uint8Array | undefined {
    this.#check();
    for (let tries = 0; tries < 8; tries++) {
      const first = this.#shared.first;
      if (first >= this.#shared.next) return undefined;
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
    // The checks, inlined as comparisons: the error paths run only when one fails.
    if (this.#closed || this.readonly) this.#checkWritable();
    const writer = this.#writer;
    const bytes = data instanceof Uint8Array ? data : writer.encode(data);
    if (bytes.length > writer.maxItem) writer.checkSize(bytes.length);
    this.#frame!.enter();
    let ok = false;
    try {
      const index = writer.appendOne(bytes);
      this.#stats.appends++;
      ok = true;
      return index;
    } catch (e) {
      writer.takeBack();
      throw e;
    } finally {
      this.#frame!.leave(ok);
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
    const writer = this.#writer;
    const batch = writer.collect(items);
    try {
      this.#frame!.enter();
      let ok = false;
      try {
        const first = writer.appendAll(batch);
        this.#stats.appends += batch.items.length;
        ok = true;
        return first;
      } catch (e) {
        writer.takeBack();
        throw e;
      } finally {
        this.#frame!.leave(ok);
      }
    } finally {
      writer.release(batch);
    }
  }

  /**
   * Remove and return the oldest live item.
   * @throws `ERR_READONLY`, `ERR_CLOSED`; `ERR_TIMEOUT` when another producer holds the lock past `lockTimeout`; `ERR_CORRUPT`; `ERR_SYSTEM` when a file operation fails.
   */
  shift(): Uint8Array | undefined {
    this.#checkWritable();
    // The frame by hand, not frame.run(closure): shift is a hot path, and a function with
    // a try is not inlined (measured: run cost a small shift about a tenth).
    const frame = this.#frame!;
    frame.enter();
    let ok = false;
    try {
      const item = this.#remover.shift();
      if (item !== undefined) this.#stats.shifts++;
      ok = true;
      return item;
    } finally {
      frame.leave(ok);
    }
  }

  /**
   * Remove and return up to `count` of the oldest live items, under one lock and (with
   * `sync: "batch"`) one flush.
   * @throws `ERR_INVALID` unless `count` is an integer >= 0; `ERR_READONLY`, `ERR_CLOSED`.
   */
  shiftMany(count: number): Uint8Array[] {
    this.#checkWritable();
    checkIndex(count, "count");
    return this.#frame!.run(() => {
      const out = this.#remover.shiftMany(count);
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
    return this.#frame!.run(() => {
      const deleted = this.#remover.delete(list);
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
    this.#frame!.run(() => this.#remover.truncate(before ?? this.#shared.next));
  }

  /**
   * Flush everything written through any handle to disk (data first, then indexes).
   * @throws `ERR_CLOSED`; `ERR_SYSTEM` when fsync fails (the data may not be on disk).
   */
  sync(): void {
    this.#check();
    if (this.readonly) return;
    for (const segment of this.#table.list) segment.syncAll();
    this.#shared.sync();
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

  /**
   * Counters for metrics, all numbers.
   * @throws `ERR_CLOSED`.
   */
  stats(): QueueStats {
    this.#check();
    return {
      length: this.length,
      bytes: this.bytes,
      first: this.first,
      next: this.next,
      segments: this.#table.list.length,
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
   * @throws nothing: a floor that cannot be raised is left for the next open to check.
   */
  close(): void {
    if (this.#closed) return;
    if (!this.readonly) this.#frame!.floorsAtClose();
    this.#closed = true;
    this.#table.closeAll();
    this.#shared.close(); // every follower's wait ends; their loops see the queue closed
    this.#frame?.release();
    this.#lock?.unlock();
    this.#dirFile?.close();
  }

/**
   * {@link DurableQueue.close}, for `using`.
   */
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

  /** Rebuild the shared state from the files (under the lock): see recovery.ts. */
  #recover(): void {
    this.#stats.recoveries++;
    recover({ dir: this.dir, prefix: this.prefix, geometry: this.#geometry, shared: this.#shared, table: this.#table, remover: this.#remover });
  }

  #readerHost(): ReaderHost {
    const shared = this.#shared;
    return {
      dir: this.dir,
      prefix: this.prefix,
      readonly: this.readonly,
      check: () => this.#check(),
      isClosed: () => this.#closed,
      changes: () => shared.changes,
      first: () => shared.first,
      next: () => shared.next,
      get: (index) => this.get(index),
      waitForChange: (seen, pollMs) => (this.#closed ? Promise.resolve() : shared.waitForChange(seen, pollMs)),
    };
  }
}

describeStats(DurableQueue, QUEUE_METRICS);
