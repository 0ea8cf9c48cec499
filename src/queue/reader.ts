/**
 * `QueueReader`: a named, durable cursor over a queue. It reads items in index order
 * without consuming them; its position lives in its own small file (two alternating
 * copies with a sequence number and CRC), so a crash during `commit()` leaves either the
 * old or the new position.
 *
 * A reader holds no file descriptor: the position file is read once, when the reader is
 * made, and opened again only for the write of each `commit()`. So readers cost nothing
 * to keep around or drop, and a reader works on a read-only filesystem or through a
 * read-only handle as far as it can: it reads (from a committed position, or the oldest
 * item) and only `commit()` fails where the file can't be written.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { File } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";
import { crc32 } from "../primitives/crc.ts";
import { CounterBlock, decodeHeader, encodeHeader } from "../primitives/header.ts";
import { publishFile } from "../primitives/publish.ts";
import { integerArg } from "../primitives/arguments.ts";
import { Cursor, checkFollowOptions, type FollowOptions } from "./cursor.ts";
import { HEADER_ROOM, READER_SPEC, readerFileName } from "./layout.ts";
import type { QueueItem, ReaderHost } from "./reader-host.ts";

export type { FollowOptions } from "./cursor.ts";

const POSITION = new CounterBlock(HEADER_ROOM, 1);
const FILE_BYTES = HEADER_ROOM + POSITION.size;

/** The header's `reserved` field holds this of the reader's name (0 in files made before it did). */
function nameTag(name: string): number {
  return (crc32(new TextEncoder().encode(name)) >>> 0) + 1;
}

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
  #block = new Uint8Array(FILE_BYTES);
  #seq: number;
  readonly #cursor: Cursor;
  #closed = false;
  /** Resolves when this reader is closed: ends its follow loops' waits at once. */
  #stopped: Promise<void>;
  #stop!: () => void;

  /** @internal Use `queue.reader(name)`. */
  constructor(name: string, host: ReaderHost) {
    this.name = name;
    this.#host = host;
    this.path = join(host.dir, readerFileName(host.prefix, name));
    this.#stopped = new Promise<void>((resolve) => {
      this.#stop = resolve;
    });
    if (!existsSync(this.path)) {
      try {
        this.#create(host.first());
      } catch (e) {
        if (!host.readonly) throw e; // a read-only handle reads on; commit() will say why it can't
      }
    }
    const snapshot = existsSync(this.path) ? this.#load() : undefined;
    this.#seq = snapshot?.seq ?? 0;
    this.#cursor = new Cursor(host, snapshot?.values[0] ?? host.first());
  }

  /** Make the position file, holding `position`. */
  #create(position: number): void {
    const fresh = new Uint8Array(FILE_BYTES);
    fresh.set(encodeHeader(READER_SPEC, { reserved: nameTag(this.name) }));
    POSITION.write(fresh, 1, [position]);
    publishFile(this.#host.dir, readerFileName(this.#host.prefix, this.name), fresh, FILE_BYTES, true);
  }

  /** Read and check the position file; the file is closed again at once. */
  #load() {
    using file = File.open(this.path, { readonly: true });
    const got = file.read(this.#block, 0);
    const header = decodeHeader(READER_SPEC, this.#block.subarray(0, Math.min(got, HEADER_ROOM)), this.path);
    if (header.reserved !== 0 && header.reserved !== nameTag(this.name)) {
      throw new OffheapError("ERR_CORRUPT", `${this.path}: the position file belongs to another reader (a file swapped or copied over it)`, { path: this.path });
    }
    if (got !== FILE_BYTES) {
      throw new OffheapError("ERR_CORRUPT", `${this.path}: reader file is ${got} bytes, expected ${FILE_BYTES}`, { path: this.path });
    }
    return POSITION.read(this.#block, this.path);
  }

  /** The index this reader reads next (committed or not). */
  get position(): number {
    this.#check();
    return this.#cursor.position;
  }

  /**
   * Move the cursor to `index` (for instance past an item that fails its checksum).
   * Not durable until {@link commit}.
   * @throws `ERR_INVALID` unless `index` is an integer >= 0; `ERR_CLOSED`.
   */
  seek(index: number): void {
    this.#check();
    this.#cursor.position = integerArg("index", index, { min: 0 });
  }

  /**
   * The next live item at or after {@link position}, advancing past it; `undefined` when
   * the reader has caught up. Items deleted or truncated before it got there are skipped.
   * @throws `ERR_CLOSED` (the reader or its queue); `ERR_CORRUPT` for an item whose CRC does not match.
   */
  next(): QueueItem | undefined {
    this.#check();
    return this.#cursor.next();
  }

  /**
   * Make the current position durable (written to the copy not holding the newest, then
   * fdatasync). `ERR_SYSTEM` where the file can't be written (a read-only filesystem).
   * @throws `ERR_CLOSED`; `ERR_SYSTEM`.
   */
  commit(): void {
    this.#check();
    if (!existsSync(this.path)) this.#create(this.#cursor.position);
    const seq = this.#seq + 1;
    const copy = POSITION.write(this.#block, seq, [this.#cursor.position]);
    const [start, end] = POSITION.copyRange(copy);
    using file = File.open(this.path);
    file.write(this.#block.subarray(start, end), start);
    file.datasync();
    this.#seq = seq;
  }

  /**
   * Items as they arrive, starting at {@link position}: yields what is there, then waits
   * (on a futex word the producers bump, without spinning) for more. Ends when the queue
   * or reader is closed; throws the signal's reason when `signal` aborts (the same as a
   * ring's follow). Positions are not committed automatically. Between items it holds
   * nothing, so an iterator dropped without `return()` leaks nothing.
   * @throws (at the call) `ERR_INVALID` for bad options (`signal` not an AbortSignal,
   * `pollMs` not a number >= 1); `ERR_CLOSED`.
   */
  follow(options: FollowOptions = {}): AsyncGenerator<QueueItem, void, undefined> {
    this.#check();
    checkFollowOptions(options);
    return this.#cursor.follow(options, this.#stopped, () => this.#closed);
  }

  /**
   * End any follow loop of this reader. Idempotent. Does not commit.
   * @throws nothing.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop();
  }

/**
   * {@link QueueReader.close}, for `using`.
   */
    [Symbol.dispose](): void {
    this.close();
  }

  #check(): void {
    this.#host.check();
    if (this.#closed) throw new OffheapError("ERR_CLOSED", `reader ${this.name} is closed`, { path: this.path });
  }
}
