/**
 * `QueueReader`: a named, durable cursor over a queue. It reads items in index order
 * without consuming them; its position lives in its own small file (two alternating
 * copies with a sequence number and CRC), so a crash during `commit()` leaves either the
 * old or the new position.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { File, FutexWaiter, type Mapping } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";
import { CounterBlock, decodeHeader, encodeHeader } from "../format.ts";
import { publishFile } from "./fsops.ts";
import { HEADER_ROOM, READER_SPEC, readerFileName } from "./layout.ts";

/** What a reader needs from its queue (kept internal to the queue folder). */
export interface ReaderHost {
  dir: string;
  prefix: string;
  /** The directory file's mapping and the futex word bumped on every change. */
  mapping: Mapping;
  changesOffset: number;
  check(): void;
  isClosed(): boolean;
  changes(): number;
  first(): number;
  next(): number;
  get(index: number): Uint8Array | undefined;
  forget(reader: QueueReader): void;
  /** Count a follower in (+1) or out (-1); false when it cannot be counted (then poll quickly). */
  addWaiter(delta: 1 | -1): boolean;
}

/** One item a reader returns. */
export interface QueueItem {
  index: number;
  data: Uint8Array;
}

/** Options for {@link QueueReader.follow}. */
export interface FollowOptions {
  /** Ends the iteration (without an error) when aborted. */
  signal?: AbortSignal;
  /** Longest single wait before looking again, in ms. Default 1000. */
  pollMs?: number;
}

const POSITION = new CounterBlock(HEADER_ROOM, 1);
const FILE_BYTES = HEADER_ROOM + POSITION.size;

/**
 * A durable cursor. Get one with `queue.reader(name)`.
 *
 * @example
 * ```ts
 * const r = queue.reader("indexer");
 * for (let item = r.next(); item; item = r.next()) handle(item.index, item.data);
 * r.commit(); // the position survives a crash from here on
 * ```
 */
export class QueueReader {
  /** The reader's name. */
  readonly name: string;
  /** Path of the position file. */
  readonly path: string;
  #host: ReaderHost;
  #file: File;
  #block = new Uint8Array(FILE_BYTES);
  #seq: number;
  #position: number;
  #closed = false;
  #waiters = new Set<FutexWaiter>();

  /** @internal Use `queue.reader(name)`. */
  constructor(name: string, host: ReaderHost) {
    this.name = name;
    this.#host = host;
    this.path = join(host.dir, readerFileName(host.prefix, name));
    const header = encodeHeader(READER_SPEC, { reserved: 0 });
    const fresh = new Uint8Array(FILE_BYTES);
    fresh.set(header);
    POSITION.write(fresh, 1, [host.first()]);
    if (!existsSync(this.path)) publishFile(host.dir, readerFileName(host.prefix, name), fresh, FILE_BYTES, true);
    this.#file = File.open(this.path);
    try {
      const got = this.#file.read(this.#block, 0);
      decodeHeader(READER_SPEC, this.#block.subarray(0, Math.min(got, HEADER_ROOM)), this.path);
      if (got < FILE_BYTES) {
        throw new OffheapError("ERR_CORRUPT", `${this.path}: reader file cut short: expected ${FILE_BYTES} bytes, found ${got}`, { path: this.path });
      }
      const snapshot = POSITION.read(this.#block, this.path);
      this.#seq = snapshot?.seq ?? 0;
      this.#position = snapshot?.values[0] ?? host.first();
    } catch (e) {
      this.#file.close();
      throw e;
    }
  }

  /** The index this reader reads next (committed or not). */
  get position(): number {
    this.#check();
    return this.#position;
  }

  /**
   * Move the cursor to `index` (for instance past an item that fails its checksum).
   * Not durable until {@link commit}.
   */
  seek(index: number): void {
    this.#check();
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new OffheapError("ERR_INVALID", `seek index must be a non-negative integer, got ${index}`);
    }
    this.#position = index;
  }

  /**
   * The next live item at or after {@link position}, advancing past it; `undefined` when
   * the reader has caught up. Items deleted or truncated before it got there are skipped.
   */
  next(): QueueItem | undefined {
    this.#check();
    const host = this.#host;
    host.changes();
    const end = host.next();
    let i = Math.max(this.#position, host.first());
    for (; i < end; i++) {
      const data = host.get(i);
      if (data !== undefined) {
        this.#position = i + 1;
        return { index: i, data };
      }
    }
    this.#position = Math.max(this.#position, Math.min(i, end));
    return undefined;
  }

  /** Make the current position durable (written to the copy not holding the newest, then fdatasync). */
  commit(): void {
    this.#check();
    const seq = this.#seq + 1;
    const copy = POSITION.write(this.#block, seq, [this.#position]);
    const [start, end] = POSITION.copyRange(copy);
    this.#file.write(this.#block.subarray(start, end), start);
    this.#file.datasync();
    this.#seq = seq;
  }

  /**
   * Items as they arrive, starting at {@link position}: yields what is there, then waits
   * (on a futex word the producers bump, without spinning) for more. Ends when `signal`
   * aborts or the queue or reader is closed. Positions are not committed automatically.
   */
  async *follow(options: FollowOptions = {}): AsyncGenerator<QueueItem, void, undefined> {
    this.#check();
    const signal = options.signal;
    const counted = this.#host.addWaiter(1);
    const pollMs = counted ? (options.pollMs ?? 1000) : Math.min(options.pollMs ?? 1000, 20);
    const waiter = new FutexWaiter();
    this.#waiters.add(waiter);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<void>((resolve) => {
      onAbort = () => {
        waiter.close();
        resolve();
      };
      if (signal?.aborted) resolve();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
    try {
      for (;;) {
        if (signal?.aborted || this.#closed || this.#host.isClosed()) return;
        const seen = this.#host.changes();
        const item = this.next();
        if (item !== undefined) {
          yield item;
          continue;
        }
        await Promise.race([waiter.wait(this.#host.mapping, this.#host.changesOffset, seen, pollMs), aborted]);
      }
    } finally {
      if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
      waiter.close();
      this.#waiters.delete(waiter);
      if (counted && !this.#host.isClosed()) this.#host.addWaiter(-1);
    }
  }

  /** Close the position file and end any follow loop. Idempotent. Does not commit. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const waiter of this.#waiters) waiter.close();
    this.#waiters.clear();
    this.#file.close();
    this.#host.forget(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #check(): void {
    this.#host.check();
    if (this.#closed) throw new OffheapError("ERR_CLOSED", `reader ${this.name} is closed`, { path: this.path });
  }
}
