/**
 * `RecordStore`: schema-typed records in one mmap'd file, read and written in place.
 *
 * One writer (exclusive flock) and any number of readonly handles, in this or other
 * processes. Every record starts with a sequence word (seqlock): a writer moves it from
 * even to odd with compare-and-swap, writes, and moves it to the next even value; `get`
 * reads the fields between two loads of the word and retries when they differ, so a
 * snapshot is never half old, half new.
 *
 * Every record also carries a CRC-32 of its fields (see crc.ts): `set` and `append` store
 * it, a live-view store marks it stale, `sync` recomputes stale ones. Checked reads
 * (`getChecked`, or every read with `verify: true`) throw `ERR_CORRUPT` on a mismatch.
 */
import { booleanOption, integerOption, invalidArg, optionsArg, pathArg } from "../primitives/arguments.ts";
import { DEFAULT_LOCK_TIMEOUT, lockTimeoutOption } from "../primitives/common-options.ts";
import { File, Lock, allocate } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";
import { kitFor, type ViewClass } from "./codegen.ts";
import type { Ops } from "./ops.ts";
import { Core } from "./core.ts";
import { assertSameSchema, maxCapacity, newFileImage, readFileLayout, SCHEMA_OFFSET, type FileLayout } from "./layout.ts";
import type { Infer, Schema } from "./schema.ts";
import { describeStats } from "../metrics/describe.ts";
import { RECORDS_METRICS, type RecordStoreStats } from "./stats.ts";

/** Options of {@link RecordStore.open}. */
export interface RecordStoreOptions {
  /**
   * Records the file holds before it first grows (default 1024). For an existing file it
   * is a minimum: a larger value grows the file, a smaller one is ignored.
   */
  capacity?: number;
  /** Open without writing: no lock, any number of readers. Default false. */
  readonly?: boolean;
  /** How long the open waits for another writer's lock, in ms (then `ERR_TIMEOUT`); 0: `ERR_LOCKED` at once. Default 5000 ({@link DEFAULT_LOCK_TIMEOUT}). */
  lockTimeout?: number;
  /**
   * How long `get` waits for a record whose writer is mid-update before `ERR_TIMEOUT`
   * (a writer that died leaves the record odd until the next writable open). Default 1000 ms.
   */
  readTimeout?: number;
  /**
   * Make `get` and `getInto` check each record's CRC (as `getChecked` does) and throw
   * `ERR_CORRUPT` when the file was damaged. Costs a CRC per read (about 15-20 ns for a
   * 64-byte record); default false.
   */
  verify?: boolean;
}

/**
 * A live view of one record: reading a property reads the mapped memory, assigning one
 * writes it. Set `index` to move the view to another record; nothing is allocated per
 * access. Numeric and bool fields are single loads/stores; string, bytes, u64 and i64
 * fields go through the record's seqlock. An assignment checks the value as `set` does
 * (`ERR_INVALID` for 300 in a `u8` or a string in a number field, `ERR_TOO_LARGE` for a
 * string longer than its field), and once the store is closed every property of the view
 * throws `ERR_CLOSED`. For several fields that must change together, use `set`.
 */
export type RecordView<T> = T & {
  /** The record this view shows; assign to move it (`ERR_RANGE` when out of range). */
  index: number;
  /** A consistent snapshot (what `get` returns). */
  toJSON(): T;
};


const DEFAULT_CAPACITY = 1024;
const DEFAULT_READ_TIMEOUT_MS = 1000;


/**
 * Records of one schema in a file, accessed in place through a memory mapping.
 *
 * @example
 * ```ts
 * const Tick = schema({ symbol: t.string(16), price: t.f64, ts: t.u64 }, { name: "Tick", version: 1 });
 * using ticks = RecordStore.open("ticks.rec", Tick);
 * const i = ticks.append({ symbol: "AAPL", price: 189.5, ts: 1n });
 * ticks.get(i).price;        // 189.5, a consistent snapshot
 * const v = ticks.at(i);     // live view
 * v.price = 190;             // writes the mapped memory
 * ```
 */
export class RecordStore<S extends Schema = Schema> {
  /** The schema the store was opened with. */
  readonly schema: S;
  /** The file's path. */
  readonly path: string;
  /** Whether this handle was opened readonly. */
  readonly readonly: boolean;
  readonly #core: Core;
  readonly #ops: Ops;
  readonly #View: ViewClass;
  #canWrite: boolean;

  private constructor(path: string, schema: S, core: Core, readonly: boolean, verify: boolean) {
    this.path = path;
    this.schema = schema;
    this.readonly = readonly;
    this.#core = core;
    const kit = kitFor(schema);
    const ops = kit.makeOps(core);
    this.#ops = verify ? { ...ops, get: ops.getChecked, getInto: ops.getIntoChecked } : ops;
    core.ops = this.#ops;
    this.#View = readonly ? kit.ReadonlyView : kit.View;
    this.#canWrite = !readonly;
  }

  /**
   * Open (or create) the store at `path`. Throws `ERR_MISMATCH` (file untouched) when the
   * file was made with another schema or version, `ERR_LOCKED` when another writer has it
   * open, `ERR_FORMAT` for a file that is not a record store, `ERR_CORRUPT` when the
   * header contradicts the file.
   *
   * @throws `ERR_INVALID` for a bad path, schema or option (nothing is created),
   * `ERR_TOO_LARGE` for a capacity one mapping can't hold, `ERR_MISMATCH`, `ERR_FORMAT`,
   * `ERR_CORRUPT`, `ERR_LOCKED`, `ERR_TIMEOUT`, `ERR_SYSTEM`.
   */
  static open<S extends Schema>(path: string, schema: S, options: RecordStoreOptions = {}): RecordStore<S> {
    pathArg("path", path);
    if (!isSchema(schema)) throw invalidArg("schema", "a schema made by schema()", schema);
    optionsArg("options", options);
    const capacity = integerOption("capacity", options.capacity, { min: 1 });
    const lockTimeout = lockTimeoutOption(options.lockTimeout);
    const readTimeout = integerOption("readTimeout", options.readTimeout, { min: 0 }) ?? DEFAULT_READ_TIMEOUT_MS;
    const readonly = booleanOption("readonly", options.readonly);
    const verify = booleanOption("verify", options.verify);
    let image: Uint8Array | undefined;
    if (!readonly) {
      image = newFileImage(schema, capacity ?? DEFAULT_CAPACITY);
      const max = maxCapacity(image.length, schema.recordSize);
      if ((capacity ?? 1) > max) {
        throw new OffheapError("ERR_TOO_LARGE", `capacity ${capacity} needs more than one 4 GiB mapping; at most ${max} records of ${schema.recordSize} bytes`, { path });
      }
    }
    const file = File.open(path, { readonly, create: !readonly });
    let lock: Lock | undefined;
    let core: Core | undefined;
    try {
      if (!readonly) {
        lock = new Lock(file, "exclusive");
        lock.lockSync(lockTimeout);
      }
      let layout: FileLayout;
      const newSize = image === undefined ? 0 : image.length + (capacity ?? DEFAULT_CAPACITY) * schema.recordSize;
      if (image !== undefined && isUninitialized(file, newSize)) {
        // Size first, header last: a crash in between leaves a zero header on a file of
        // exactly this size, which the next writable open initializes again.
        allocate(file, 0, newSize);
        file.write(image, 0);
        layout = readFileLayout(file);
      } else {
        layout = readFileLayout(file);
        assertSameSchema(path, layout, schema);
      }
      core = new Core(file, lock, layout, readTimeout);
      if (readonly) core.checkCount();
      else {
        core.recover();
        if (capacity !== undefined && capacity > core.cap) core.growTo(capacity);
      }
      return new RecordStore(path, schema, core, readonly, verify);
    } catch (e) {
      if (core !== undefined) core.close();
      else {
        lock?.unlock();
        file.close();
      }
      throw e;
    }
  }

  /** Records in the store. Readonly handles see the writer's appends (and growth) live. */
  get length(): number {
    const core = this.#core;
    if (core.readonly || !core.open) core.refresh();
    return core.count;
  }

  /** Records the file holds before it grows again. */
  get capacity(): number {
    const core = this.#core;
    if (!core.open) throw core.closedError();
    return core.readonly ? Math.max(core.cap, core.fileCapacity) : core.cap;
  }

  /**
   * Append a record (fields not given are zero, `""` or empty) and return its index.
   * Grows the file when full. `ERR_INVALID` / `ERR_TOO_LARGE` for values that do not fit,
   * before anything is written.
   * @throws `ERR_INVALID` when `values` is not an object, has a key that is no field, or a
   * value of the wrong type or range (naming the field); `ERR_TOO_LARGE`, `ERR_FULL`,
   * `ERR_READONLY`, `ERR_CLOSED`.
   */
  append(values?: Partial<Infer<S>>): number {
    if (!this.#canWrite) this.#denyWrite();
    const core = this.#core;
    const ops = this.#ops;
    ops.validate(values);
    core.reserve();
    const i = core.count;
    // The record is invisible until the count is published, so no seqlock is needed here.
    ops.fill(core.base + i * core.rs, values as Record<string, unknown> | undefined);
    core.publish(i + 1);
    return i;
  }

  /**
   * A consistent snapshot of record `i` (never half of a concurrent `set`).
   * @throws `ERR_INVALID` unless `i` is an integer, `ERR_RANGE` past the last record,
   * `ERR_TIMEOUT`, `ERR_CLOSED`.
   */
  get(i: number): Infer<S> {
    return this.#ops.get(i) as Infer<S>;
  }

  /**
   * Like {@link get}, filling `target` instead of allocating; returns `target`.
   * @throws `ERR_INVALID` when `target` is not an object, and as {@link get}.
   */
  getInto<T extends Partial<Infer<S>>>(i: number, target: T): T & Infer<S> {
    return this.#ops.getInto(i, target as Record<string, unknown>) as T & Infer<S>;
  }

  /**
   * {@link get}, also checking the record's CRC: `ERR_CORRUPT` when the stored CRC does not
   * match the fields (the file was damaged). A record whose CRC is stale (changed through
   * a live view since the last `sync`) is returned unchecked.
   */
  getChecked(i: number): Infer<S> {
    return this.#ops.getChecked(i) as Infer<S>;
  }

  /** {@link getInto}, checking the CRC as {@link getChecked} does. */
  getIntoChecked<T extends Partial<Infer<S>>>(i: number, target: T): T & Infer<S> {
    return this.#ops.getIntoChecked(i, target as Record<string, unknown>) as T & Infer<S>;
  }

  /**
   * Write the given fields of record `i` at once: readers see all of them or none.
   * Values are checked first; on `ERR_INVALID` / `ERR_TOO_LARGE` nothing is written.
   * @throws `ERR_INVALID` for a bad index or `values` (as {@link append}), `ERR_RANGE`,
   * `ERR_TOO_LARGE`, `ERR_LOCKED`, `ERR_READONLY`, `ERR_CLOSED`.
   */
  set(i: number, values: Partial<Infer<S>>): void {
    if (!this.#canWrite) this.#denyWrite();
    const o = this.#core.offsetOf(i);
    if (values === undefined) throw invalidArg("values", "an object of fields", values);
    this.#ops.validate(values);
    this.#ops.write(o, values as Record<string, unknown>);
  }

  /**
   * A live view of record `i` (see {@link RecordView}).
   * @throws `ERR_INVALID` / `ERR_RANGE` for a bad index, `ERR_CLOSED`.
   */
  at(i: number): RecordView<Infer<S>> {
    const core = this.#core;
    return new this.#View(core, core.offsetOf(i), i) as unknown as RecordView<Infer<S>>;
  }

  /** Snapshots of every record, in order. `ERR_CLOSED` at the call on a closed store. */
  [Symbol.iterator](): IterableIterator<Infer<S>> {
    if (!this.#core.open) throw this.#core.closedError();
    return this.#records();
  }

  *#records(): IterableIterator<Infer<S>> {
    for (let i = 0; i < this.length; i++) yield this.get(i);
  }

  /**
   * Recompute the CRCs that live-view stores left stale, then write dirty pages to disk
   * (`msync`): what was written before survives a crash, checksummed.
   */
  sync(): void {
    this.#core.sync();
  }

  /** Counters for monitoring. */
  stats(): RecordStoreStats {
    const core = this.#core;
    if (!core.open) throw core.closedError();
    const c = core.counters;
    return {
      length: this.length,
      capacity: this.capacity,
      recordSize: core.rs,
      mappedBytes: core.mappedBytes,
      growths: core.growths,
      remaps: c.remaps,
      readRetries: c.retries,
      readTimeouts: c.timeouts,
      repairedOnOpen: c.repairedOnOpen,
      crcRefreshed: c.crcRefreshed,
    };
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return !this.#core.open;
  }

  /** Close the store. Idempotent; later calls, and every property of its live views, throw `ERR_CLOSED`. */
  close(): void {
    this.#canWrite = false;
    this.#core.close();
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #denyWrite(): never {
    const core = this.#core;
    if (!core.open) throw core.closedError();
    throw new OffheapError("ERR_READONLY", `record store ${this.path} was opened readonly`, { path: this.path });
  }
}

/** Whether `s` looks like what `schema()` returns (frozen, with a hash and a layout). */
function isSchema(s: unknown): s is Schema {
  if (typeof s !== "object" || s === null) return false;
  const c = s as Partial<Schema>;
  return typeof c.hash === "number" && Array.isArray(c.layout) && c.layout.length > 0 && typeof c.recordSize === "number" && typeof c.identity === "string";
}

/** An empty file, or one a crash left between sizing it and writing its header. */
function isUninitialized(file: File, newSize: number): boolean {
  const size = file.size;
  if (size === 0) return true;
  if (size !== newSize) return false;
  const head = new Uint8Array(Math.min(size, SCHEMA_OFFSET));
  file.read(head, 0);
  return head.every((b) => b === 0);
}

describeStats(RecordStore, RECORDS_METRICS);
