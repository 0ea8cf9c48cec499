/**
 * `Core`: the mapped file behind one RecordStore handle — typed arrays over the mapping,
 * the record count, growth (writer) and remapping (readers). Compiled accessors and live
 * views read the typed arrays from here; growth replaces them in place, so views made
 * before a growth keep working, and after close they throw `ERR_CLOSED`.
 */
import { File, Lock, Mapping, allocate, loadOrdered, writerHolds } from "../../ffi/index.ts";
import { invalidArg } from "../primitives/arguments.ts";
import { OffheapError } from "../errors.ts";
import type { Ops } from "./ops.ts";
import { CRC_NEVER, CRC_STALE, CRC_WORD, crcFieldsOf, makeRecordCrc, type RecordCrc } from "./crc.ts";
import {
  CAPACITY_WORD,
  COUNT_WORD,
  fileBytesFor,
  GROWTHS_WORD,
  LIVE_OFFSET,
  maxCapacity,
  type FileLayout,
} from "./layout.ts";

const EMPTY = new ArrayBuffer(0);
/** Int32 index of the first live word. */
const LIVE = LIVE_OFFSET / 4;
/** Spins before a stuck sequence word starts being timed. */
const SPINS_UNTIMED = 1024;

/** Counters that {@link Core} keeps for `stats()`. */
export interface CoreCounters {
  /** Reads that found their record mid-update at least once. */
  retries: number;
  timeouts: number;
  repairedOnOpen: number;
  remaps: number;
  /** Stale CRC words (left by live-view stores) recomputed by sync or a writable open. */
  crcRefreshed: number;
}

/**
 * Internal state of one open store. Fields are public for the compiled accessors.
 *
 * Invariant the live views rely on: the typed arrays are only ever replaced together with
 * a detach of the buffer they were made on (growth and remap go through `Mapping.grow`,
 * close through `Mapping.close`), so an array a view kept reads as length 0 once stale.
 */
export class Core {
  u8: Uint8Array = new Uint8Array(EMPTY);
  i8: Int8Array = new Int8Array(EMPTY);
  u16: Uint16Array = new Uint16Array(EMPTY);
  i16: Int16Array = new Int16Array(EMPTY);
  u32: Uint32Array = new Uint32Array(EMPTY);
  i32: Int32Array = new Int32Array(EMPTY);
  f32: Float32Array = new Float32Array(EMPTY);
  f64: Float64Array = new Float64Array(EMPTY);
  dv: DataView = new DataView(EMPTY);
  buf: Buffer = Buffer.from(EMPTY);
  /** Records visible to this handle (the writer's own count; a reader's last look). */
  count = 0;
  /** Records the current mapping holds. */
  cap = 0;
  /** Byte offset of record 0. */
  readonly base: number;
  /** Bytes per record. */
  readonly rs: number;
  readonly readonly: boolean;
  readonly path: string;
  /** How long a reader waits for a record whose writer is mid-update. */
  readonly readTimeoutMs: number;
  open = true;
  deadline = 0;
  /** The record checksum of this file's schema (see crc.ts). */
  readonly crc: RecordCrc;
  /** The schema's compiled operations bound to this core (set by the store). */
  ops!: Ops;
  readonly counters: CoreCounters = { retries: 0, timeouts: 0, repairedOnOpen: 0, remaps: 0, crcRefreshed: 0 };
  readonly #file: File;
  readonly #lock: Lock | undefined;
  readonly #mapping: Mapping;

  constructor(file: File, lock: Lock | undefined, layout: FileLayout, readTimeoutMs: number) {
    this.#file = file;
    this.#lock = lock;
    this.path = file.path;
    this.readonly = file.readonly;
    // Header fields decode as doubles (u64 words); `>>> 0` makes them int32-tagged so
    // every record offset derived from them is integer arithmetic in the JIT. Left as
    // doubles, each view access paid a double-to-int conversion (2.3 ns vs 1.4 ns).
    this.base = layout.dataOffset >>> 0;
    this.rs = layout.recordSize >>> 0;
    this.readTimeoutMs = readTimeoutMs;
    this.crc = makeRecordCrc(crcFieldsOf(layout.stored.fields), this.rs);
    // Map exactly what the header vouches for (the file may be longer after a crash mid-growth).
    this.#mapping = Mapping.file(file, { length: fileBytesFor(layout.dataOffset, layout.recordSize, layout.capacity), readonly: file.readonly });
    this.#bind(layout.capacity);
    this.count = layout.count;
  }

  /** Records held by the file as the live capacity word says. */
  get fileCapacity(): number {
    return loadOrdered(this.i32, LIVE + CAPACITY_WORD);
  }

  /** How many times the file grew since it was created. */
  get growths(): number {
    return this.open ? loadOrdered(this.i32, LIVE + GROWTHS_WORD) : 0;
  }

  /** Bytes mapped now. */
  get mappedBytes(): number {
    return this.open ? this.#mapping.length : 0;
  }

  /**
   * The writer's open, under the exclusive lock, before this handle serves anything: check
   * the count against the records (see {@link #settleCount}), reset sequence words left odd
   * by a writer that died mid-update, and recompute the CRC of those records and of stale
   * ones: the writer trusts its own content after a crash (a record it died writing may
   * mix old and new fields, as it would without a CRC). A damaged CRC word is left as it
   * is, so checked reads keep reporting the record.
   */
  recover(): void {
    this.#settleCount();
    const i32 = this.i32;
    const end = (this.base + this.cap * this.rs) >>> 2;
    const used = (this.base + this.count * this.rs) >>> 2;
    const step = this.rs >>> 2;
    for (let w = this.base >>> 2; w < end; w += step) {
      const s = i32[w]!;
      const odd = (s & 1) !== 0;
      if (w < used && (odd || i32[w + CRC_WORD] === CRC_STALE)) {
        if (!odd) Atomics.store(i32, w, (s + 1) | 0);
        i32[w + CRC_WORD] = this.crc(this.u8, this.u32, w << 2);
        Atomics.store(i32, w, (s + (odd ? 1 : 2)) | 0);
        if (!odd) this.counters.crcRefreshed++;
      } else if (odd) {
        Atomics.store(i32, w, (s + 1) | 0);
      }
      if (odd) this.counters.repairedOnOpen++;
    }
  }

  /**
   * A readonly open's check of the count, which a writer may be moving meanwhile: record
   * `count - 1` was written before the count covered it, and no record past `count` is
   * written before the count covers the one before it. The word of `count + 1` is read
   * first and the count again after it: unchanged, a written record there means the count
   * was damaged (moved back), hiding records. Record `count` itself may be an append in
   * flight.
   */
  checkCount(): void {
    const count = this.count;
    if (count > 0 && this.#crcWordOf(count - 1) === CRC_NEVER) throw this.#countTooHigh(count);
    if (count + 1 < this.cap) {
      const word = this.#crcWordOf(count + 1);
      if (word !== CRC_NEVER && loadOrdered(this.i32, LIVE + COUNT_WORD) === count) throw this.#countTooLow(count, count + 1);
    }
  }

  /**
   * The writer's check of the count word, which is not checksummed itself: the records
   * are. Every record below the count was appended (its CRC word is set), and none past it
   * was, except record `count` when an append died between writing it and publishing the
   * count: if that record is whole (its CRC matches) the count is moved past it, as that
   * append would have; otherwise it is left to be overwritten. Anything else means the
   * count was damaged: `ERR_CORRUPT`, and nothing is written.
   */
  #settleCount(): void {
    let count = this.count;
    if (count > 0 && this.#crcWordOf(count - 1) === CRC_NEVER) throw this.#countTooHigh(count);
    // Plain loads: only this writer stores into its mapping.
    const i32 = this.i32;
    const step = this.rs >>> 2;
    for (let i = count + 1, w = ((this.base + i * this.rs) >>> 2) + CRC_WORD; i < this.cap; i++, w += step) {
      if (i32[w] !== CRC_NEVER) throw this.#countTooLow(count, i);
    }
    if (count < this.cap) {
      const o = this.base + count * this.rs;
      const word = this.#crcWordOf(count);
      if (word !== CRC_NEVER && word === this.crc(this.u8, this.u32, o)) this.publish(++count);
    }
  }

  #crcWordOf(i: number): number {
    return loadOrdered(this.i32, ((this.base + i * this.rs) >>> 2) + CRC_WORD);
  }

  #countTooHigh(count: number): OffheapError {
    return new OffheapError(
      "ERR_CORRUPT",
      `${this.path}: the count says ${count} records, but record ${count - 1} was never written: the count word was damaged`,
      { path: this.path },
    );
  }

  #countTooLow(count: number, written: number): OffheapError {
    return new OffheapError(
      "ERR_CORRUPT",
      `${this.path}: the count says ${count} records, but record ${written} past it was written: the count word was damaged (an append would overwrite records)`,
      { path: this.path },
    );
  }

  /** Recompute stale CRC words (writer), each under its record's seqlock. */
  refreshCrcs(): void {
    const i32 = this.i32;
    const end = (this.base + this.count * this.rs) >>> 2;
    const step = this.rs >>> 2;
    for (let w = this.base >>> 2; w < end; w += step) {
      if (i32[w + CRC_WORD] !== CRC_STALE) continue;
      const s = i32[w]!;
      Atomics.store(i32, w, (s + 1) | 0);
      i32[w + CRC_WORD] = this.crc(this.u8, this.u32, w << 2);
      Atomics.store(i32, w, (s + 2) | 0);
      this.counters.crcRefreshed++;
    }
  }

  /** Re-read the shared count (readers), remapping when the file grew past the mapping. */
  refresh(): void {
    if (!this.open) throw this.closedError();
    if (!this.readonly) return;
    const count = loadOrdered(this.i32, LIVE + COUNT_WORD);
    if (count > this.cap) this.#remap(count);
    this.count = count;
  }

  /** Byte offset of record `i`, checking it exists: `ERR_RANGE`, or `ERR_CLOSED` after close. */
  offsetOf(i: number): number {
    if (typeof i !== "number" || (i >>> 0) !== i || i >= this.count) {
      this.refresh();
      if (!Number.isSafeInteger(i)) throw invalidArg("index", "an integer >= 0", i);
      if ((i >>> 0) !== i || i >= this.count) {
        throw new OffheapError("ERR_RANGE", `record index ${i} is out of range: the store holds ${this.count} records (0..${this.count - 1})`, { path: this.path });
      }
    }
    return this.base + i * this.rs;
  }

  /** Make room for one more record (writer), doubling the file when it is full. */
  reserve(): void {
    if (this.count < this.cap) return;
    if (!this.open) throw this.closedError();
    const max = maxCapacity(this.base, this.rs);
    if (this.cap >= max) {
      throw new OffheapError("ERR_FULL", `${this.path}: record store holds its maximum of ${max} records (one mapping is at most 4 GiB)`, { path: this.path });
    }
    this.growTo(Math.min(max, this.cap * 2));
  }

  /** Extend the file and the mapping to `capacity` records (writer). */
  growTo(capacity: number): void {
    if (capacity <= this.cap) return;
    const max = maxCapacity(this.base, this.rs);
    if (capacity > max) {
      throw new OffheapError("ERR_TOO_LARGE", `${this.path}: capacity ${capacity} needs more than one 4 GiB mapping; at most ${max} records of ${this.rs} bytes`, { path: this.path });
    }
    const bytes = fileBytesFor(this.base, this.rs, capacity);
    // File first, then the capacity word: the file always holds what the word claims.
    // The new records are allocated, not left a hole: a store into a hole on a full disk
    // is SIGBUS; this way a full disk is ENOSPC from the append that needed the room.
    const held = fileBytesFor(this.base, this.rs, this.cap);
    allocate(this.#file, held, bytes - held);
    this.#mapping.grow(bytes);
    this.#bind(capacity);
    Atomics.store(this.i32, LIVE + CAPACITY_WORD, capacity);
    Atomics.add(this.i32, LIVE + GROWTHS_WORD, 1);
  }

  /** Publish a new count (writer): one aligned atomic store, after the record is written. */
  publish(count: number): void {
    this.count = count;
    Atomics.store(this.i32, LIVE + COUNT_WORD, count);
  }

  /** Write dirty pages to disk. */
  sync(): void {
    if (!this.open) throw this.closedError();
    if (this.readonly) return;
    this.refreshCrcs();
    this.#mapping.sync();
  }

  /** Called by compiled readers while a record's sequence word is odd or changed under them. */
  spin(n: number, o: number): void {
    if (n === 0) this.counters.retries++;
    if (n < SPINS_UNTIMED) return;
    if (n === SPINS_UNTIMED) {
      // Writers hold the exclusive lock for as long as they are open, so an odd word with
      // no writer can't become even: a writer died mid-update, or the file was damaged.
      if (this.readonly && !writerHolds(this.#file)) {
        const index = (o - this.base) / this.rs;
        throw new OffheapError(
          "ERR_CORRUPT",
          `${this.path}: record ${index} is marked mid-update (sequence word ${this.i32[o >>> 2]}) but no writer has the store open: ` +
            "a writer died mid-update or the file was damaged — a writable open repairs a dead writer's record",
          { path: this.path },
        );
      }
      this.deadline = performance.now() + this.readTimeoutMs;
      return;
    }
    if ((n & 63) !== 0 || performance.now() < this.deadline) return;
    this.counters.timeouts++;
    const index = (o - this.base) / this.rs;
    throw new OffheapError(
      "ERR_TIMEOUT",
      `${this.path}: record ${index} stayed mid-update for ${this.readTimeoutMs} ms (sequence word ${this.i32[o >>> 2]}); ` +
        "a writer is stuck or died — reopening the store for writing repairs it",
      { path: this.path },
    );
  }

  /** Unmap and close. Idempotent. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.count = 0;
    this.cap = 0;
    this.#bindBuffer(EMPTY);
    try {
      this.#mapping.close();
      this.#lock?.unlock();
    } finally {
      this.#file.close();
    }
  }

  closedError(): OffheapError {
    return new OffheapError("ERR_CLOSED", `record store ${this.path} is closed`, { path: this.path });
  }


  #remap(count: number): void {
    const capacity = loadOrdered(this.i32, LIVE + CAPACITY_WORD);
    const max = maxCapacity(this.base, this.rs);
    const bytes = fileBytesFor(this.base, this.rs, capacity);
    const size = this.#file.size;
    if (capacity < count || capacity > max || bytes > size) {
      throw new OffheapError(
        "ERR_CORRUPT",
        `${this.path}: header claims ${count} records and room for ${capacity}, but the file holds ${Math.floor((size - this.base) / this.rs)}`,
        { path: this.path },
      );
    }
    this.#mapping.grow(bytes);
    this.#bind(capacity);
    this.counters.remaps++;
  }

  #bind(capacity: number): void {
    this.#bindBuffer(this.#mapping.buffer);
    this.cap = capacity;
  }

  #bindBuffer(b: ArrayBuffer): void {
    this.u8 = new Uint8Array(b);
    this.i8 = new Int8Array(b);
    this.u16 = new Uint16Array(b, 0, b.byteLength >>> 1);
    this.i16 = new Int16Array(b, 0, b.byteLength >>> 1);
    this.u32 = new Uint32Array(b, 0, b.byteLength >>> 2);
    this.i32 = new Int32Array(b, 0, b.byteLength >>> 2);
    this.f32 = new Float32Array(b, 0, b.byteLength >>> 2);
    this.f64 = new Float64Array(b, 0, b.byteLength >>> 3);
    this.dv = new DataView(b);
    this.buf = Buffer.from(b);
  }
}
