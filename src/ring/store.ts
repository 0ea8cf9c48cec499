/**
 * Slot storage for the two I/O modes. `MmapSlots` reads and writes slots in shared
 * mappings (no syscall per record); `PreadSlots` uses pread/pwrite through reused scratch
 * buffers. Both follow one protocol, so handles of either mode can share a ring:
 *
 * - a writer sets `meta` to BUSY (mmap) or writes header and payload in one pwrite (pread);
 *   then stores payload, id and crc; `meta` last, with `Atomics.store`;
 * - a reader loads the header, copies the payload, checks the CRC and, on handles that
 *   may race a writer in another process, reloads the header: a change means the slot was
 *   rewritten under it and the read is retried, so a torn read is never returned.
 *
 * Ids map to slots as `id % capacity`; stored ids in a slot only grow, which lets a reader
 * tell "my record was overwritten" (a newer id) from "never written" (an older id).
 */
import { OffheapError } from "../errors.ts";
import type { File, Mapping, ZeroAhead } from "../../ffi/index.ts";
import { BUSY, DATA_OFFSET, DELETED, MAX_RECORD_SIZE, SLOT_HEADER, WRITTEN, readAheadRun, shardOf, slotOffset, type RingLayout } from "./layout.ts";
import { joinId, META_BUSY, META_DELETED, META_EMPTY, META_WRITTEN, metaKind, metaLength, slotCrc, slotCrcWords } from "./slot.ts";

/** `read` result: the slot does not hold the id (never written, skipped, or an older id). */
export const ABSENT = -1;
/** `read` result: the record was deleted. */
export const GONE = -2;
/** `read` result: the slot holds a newer id: the record was overwritten. */
export const NEWER = -3;
/** `read` result: a writer is rewriting the slot (still so after the retries). */
export const BUSY_SLOT = -4;

const TWO32 = 0x1_0000_0000;
/** Re-reads a read-only handle makes while a writer in another process rewrites a slot. */
const RACE_RETRIES = 64;
/** Records up to this size are copied out word by word (faster than a view + set there). */
const SMALL_COPY = 256;
/** The two kind bits of a meta word, and their value for a written record, as int32. */
const KIND_BITS = 0xc000_0000 | 0;
const WRITTEN_WORD = WRITTEN | 0;
/** Largest single read-ahead in pread mode. */
const MAX_READAHEAD = 1 << 20;

/** The operations a ring needs from its slots, in either I/O mode. */
export interface SlotStore {
  /**
   * Read the record `id` into `target` (at 0), or into a fresh copy left in {@link copy}
   * when `target` is null. Returns its length, or `ABSENT`, `GONE`, `NEWER`.
   * Throws `ERR_CORRUPT` when the slot fails its checksum.
   */
  read(id: number, target: Uint8Array | null): number;
  /** The copy made by the last `read` with a null target. */
  copy: Uint8Array;
  /**
   * The id the slot of `id` holds when it is written or deleted, else -1 (empty, busy or
   * no valid state). Its CRC is not checked here: read that id to check it.
   */
  storedId(id: number): number;
  /** Write a slot: `meta` is `WRITTEN | length` or `DELETED`; `crc` from {@link slotCrc}. */
  put(id: number, meta: number, data: Uint8Array, crc: number): void;
  /** Make the slot of `id` durable. */
  syncSlot(id: number): void;
  /** Make every slot written since the last call durable. */
  syncDirty(): void;
  /** Ask for the slots of `count` ids from `id` on to be brought into memory. */
  prefetch(id: number, count: number): void;
  /** Release mappings and scratch buffers (files are closed by the ring). */
  close(): void;
}

const EMPTY = new Uint8Array(0);

/** Leave a deletion marker for `id` in its slot (a deleted record, or one a repair gave up). */
export function putDeleted(store: SlotStore, id: number): void {
  store.put(id, DELETED, EMPTY, slotCrc(id, DELETED, EMPTY));
}

/** Make the slot of `id` empty again: a repair of a first write that never finished. */
export function putEmpty(store: SlotStore, id: number): void {
  store.put(id, 0, EMPTY, 0);
}

function corrupt(path: string, id: number, slot: number, what: string): OffheapError {
  return new OffheapError("ERR_CORRUPT", `${path}: record ${id} (slot ${slot}) is damaged: ${what}`, { path });
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
}

/** Slots in shared file mappings, one per shard. */
export class MmapSlots implements SlotStore {
  copy: Uint8Array = new Uint8Array(0);
  readonly #layout: RingLayout;
  readonly #paths: string[];
  readonly #maps: Mapping[];
  #bytes: Uint8Array[];
  #words: Int32Array[];
  readonly #retries: number;
  readonly #dirtyLo: number[];
  readonly #dirtyHi: number[];
  /** capacity - 1 when the capacity is a power of two, else -1. */
  readonly #slotMask: number;
  /** Writes the slots of a new ring once, ahead of this writer (see ZeroAhead). */
  readonly #zero: ZeroAhead | undefined;
  /** Per shard: below this offset its slots are written (Infinity: all of them). */
  readonly #zeroedTo: number[];
  /** The last getInto target, a word view of it, and its prefix views by length. */
  #target: Uint8Array | undefined;
  #targetWords: Int32Array | undefined;
  #prefixes: Array<Uint8Array | undefined> = [];

  /**
   * `maps[i]` maps all of shard `i`; `shared` when a writer may be in another process;
   * `zero` when a Worker is writing the slots of this new ring once (range i: shard i).
   */
  constructor(layout: RingLayout, paths: string[], maps: Mapping[], shared: boolean, zero?: ZeroAhead) {
    this.#layout = layout;
    this.#slotMask = (layout.capacity & (layout.capacity - 1)) === 0 && layout.capacity <= 0x4000_0000 ? layout.capacity - 1 : -1;
    this.#zero = zero;
    this.#zeroedTo = maps.map((_, i) => (zero === undefined ? Infinity : zero.readyTo(i)));
    this.#paths = paths;
    this.#maps = maps;
    this.#bytes = maps.map((m) => m.bytes);
    this.#words = maps.map((m) => new Int32Array(m.buffer));
    this.#retries = shared ? RACE_RETRIES : 0;
    this.#dirtyLo = maps.map(() => Infinity);
    this.#dirtyHi = maps.map(() => 0);
  }

  read(id: number, target: Uint8Array | null): number {
    const layout = this.#layout;
    const slot = this.#slotOf(id);
    const shard = shardOf(layout, slot);
    const off = slotOffset(layout, slot, shard);
    const words = this.#words[shard]!;
    const bytes = this.#bytes[shard]!;
    const w = off >>> 2;
    if (target !== null) {
      // The common case first: the slot holds this id, whole, and fits the target. The
      // words are compared as stored (int32): no doubles for meta, the id halves or the CRC.
      const meta = words[w]!;
      const lo = words[w + 1]!;
      const hi = words[w + 2]!;
      const crc = words[w + 3]!;
      const length = meta & MAX_RECORD_SIZE;
      const fits = length <= layout.recordSize && length <= target.length;
      if ((meta & KIND_BITS) === WRITTEN_WORD && fits && lo === (id | 0) && hi === ((id / TWO32) | 0)) {
        const copy = this.#copyOut(words, bytes, off + SLOT_HEADER, target, length);
        const stable = this.#retries === 0 || (words[w] === meta && words[w + 1] === lo && words[w + 2] === hi && words[w + 3] === crc);
        if (stable && (slotCrcWords(meta, lo, hi, copy) | 0) === crc) return length;
      }
      // Anything else (another state, a race, a bad CRC, a short target) takes the full path.
    }
    for (let attempt = 0; ; attempt++) {
      // Plain loads (see loadHead): Atomics.load would fault on a read-only mapping.
      const meta = words[w]! >>> 0;
      const lo = words[w + 1]!;
      const hi = words[w + 2]!;
      const crc = words[w + 3]! >>> 0;
      const kind = metaKind(meta, layout.recordSize);
      const stored = joinId(lo, hi);
      let result: number;
      let computed = crc;
      if (kind === META_EMPTY) return ABSENT;
      if (kind === META_BUSY) {
        if (stored > id) return NEWER;
        if (attempt < this.#retries) continue;
        return BUSY_SLOT;
      } else if (kind === META_WRITTEN || kind === META_DELETED) {
        const length = kind === META_WRITTEN ? metaLength(meta) : 0;
        const start = off + SLOT_HEADER;
        if (stored !== id || kind === META_DELETED) {
          computed = slotCrc(stored, meta, bytes.subarray(start, start + length));
          result = stored > id ? NEWER : stored < id ? ABSENT : GONE;
        } else if (target === null) {
          const copy = bytes.slice(start, start + length);
          computed = slotCrc(id, meta, copy);
          this.copy = copy;
          result = length;
        } else {
          if (target.length < length) {
            throw new OffheapError("ERR_RANGE", `target has ${target.length} bytes; record ${id} has ${length}`);
          }
          const copy = this.#copyOut(words, bytes, start, target, length);
          computed = slotCrc(id, meta, copy);
          result = length;
        }
      } else {
        result = NaN;
      }
      if (this.#retries > 0) {
        const stable =
          words[w]! >>> 0 === meta && words[w + 1] === lo && words[w + 2] === hi && words[w + 3]! >>> 0 === crc;
        if (!stable) {
          if (attempt < this.#retries) continue;
          return BUSY_SLOT; // rewritten under every attempt: still busy, not absent
        }
      }
      if (Number.isNaN(result)) {
        if (attempt < this.#retries) continue;
        throw corrupt(this.#paths[shard]!, id, slot, `meta word ${hex(meta)} is not a state any writer produces`);
      }
      if (computed !== crc) {
        if (attempt < this.#retries) continue;
        throw corrupt(this.#paths[shard]!, id, slot, `stored CRC ${hex(crc)}, computed ${hex(computed)}`);
      }
      return result;
    }
  }

  /**
   * Copy `length` payload bytes at `start` into `target`; returns the view of `target`
   * holding them. Small records are copied word by word and the views over the caller's
   * (usually reused) target are cached, so a getInto allocates nothing; larger ones go
   * through one `set`, where the copy itself dominates.
   */
  #copyOut(words: Int32Array, bytes: Uint8Array, start: number, target: Uint8Array, length: number): Uint8Array {
    if (target !== this.#target) {
      this.#target = target;
      this.#targetWords = target.byteOffset % 4 === 0 ? new Int32Array(target.buffer, target.byteOffset, target.length >>> 2) : undefined;
      this.#prefixes = [];
    }
    let view: Uint8Array | undefined = target;
    if (length !== target.length) {
      view = this.#prefixes[length];
      if (view === undefined) {
        view = target.subarray(0, length);
        this.#prefixes[length] = view;
      }
    }
    const tw = this.#targetWords;
    if (length <= SMALL_COPY && tw !== undefined) {
      const w = start >>> 2; // payloads start 8-byte aligned
      const n = length >>> 2;
      let i = 0;
      for (; i + 4 <= n; i += 4) {
        tw[i] = words[w + i]!;
        tw[i + 1] = words[w + i + 1]!;
        tw[i + 2] = words[w + i + 2]!;
        tw[i + 3] = words[w + i + 3]!;
      }
      for (; i < n; i++) tw[i] = words[w + i]!;
      for (let i = n << 2; i < length; i++) target[i] = bytes[start + i]!;
    } else {
      view.set(bytes.subarray(start, start + length));
    }
    return view;
  }

  storedId(id: number): number {
    const layout = this.#layout;
    const slot = this.#slotOf(id);
    const shard = shardOf(layout, slot);
    const w = slotOffset(layout, slot, shard) >>> 2;
    const words = this.#words[shard]!;
    const kind = metaKind(words[w]!, layout.recordSize);
    return kind === META_WRITTEN || kind === META_DELETED ? joinId(words[w + 1]!, words[w + 2]!) : -1;
  }

  put(id: number, meta: number, data: Uint8Array, crc: number): void {
    const layout = this.#layout;
    const slot = this.#slotOf(id);
    const shard = shardOf(layout, slot);
    const off = slotOffset(layout, slot, shard);
    const end = off + layout.slotBytes;
    // A zero written after this store would erase it: the slot's chunk goes first.
    if (end > this.#zeroedTo[shard]!) this.#zeroedTo[shard] = this.#zero!.ensure(shard, end);
    const words = this.#words[shard]!;
    const w = off >>> 2;
    Atomics.store(words, w, BUSY);
    if (data.length > 0) this.#bytes[shard]!.set(data, off + SLOT_HEADER);
    words[w + 1] = id >>> 0;
    words[w + 2] = Math.floor(id / TWO32);
    words[w + 3] = crc;
    Atomics.store(words, w, meta);
    if (off < this.#dirtyLo[shard]!) this.#dirtyLo[shard] = off;
    if (end > this.#dirtyHi[shard]!) this.#dirtyHi[shard] = end;
  }

  syncSlot(id: number): void {
    const layout = this.#layout;
    const slot = this.#slotOf(id);
    const shard = shardOf(layout, slot);
    const off = slotOffset(layout, slot, shard);
    this.#maps[shard]!.sync(off, layout.slotBytes);
  }

  syncDirty(): void {
    for (let i = 0; i < this.#maps.length; i++) {
      const lo = this.#dirtyLo[i]!;
      const hi = this.#dirtyHi[i]!;
      if (hi <= lo) continue;
      this.#maps[i]!.sync(lo, hi - lo);
      this.#dirtyLo[i] = Infinity;
      this.#dirtyHi[i] = 0;
    }
  }

  prefetch(id: number, count: number): void {
    const [shard, offset, bytes] = readAheadRun(this.#layout, id, count);
    if (bytes > 0) this.#maps[shard]!.advise("willneed", offset, bytes);
  }

  /** The slot of `id`: a power-of-two capacity masks int32 ids instead of dividing. */
  #slotOf(id: number): number {
    return id <= 0x7fff_ffff && this.#slotMask >= 0 ? id & this.#slotMask : id % this.#layout.capacity;
  }

  close(): void {
    this.#zero?.close();
    for (const m of this.#maps) m.close();
    this.#bytes = [];
    this.#words = [];
    this.#target = undefined;
    this.#targetWords = undefined;
    this.#prefixes = [];
  }
}

/** Slots read and written with pread/pwrite through reused scratch buffers. */
export class PreadSlots implements SlotStore {
  copy: Uint8Array = new Uint8Array(0);
  readonly #layout: RingLayout;
  readonly #files: File[];
  readonly #retries: number;
  readonly #scratch: Uint8Array;
  readonly #scratchView: DataView;
  readonly #out: Uint8Array;
  readonly #outView: DataView;
  /** `#payloads[n]` = the first n payload bytes of the read scratch (made once per length). */
  readonly #payloads: Array<Uint8Array | undefined> = [];
  /** `#slotPrefix[n]` = header + n payload bytes of the write scratch. */
  readonly #slotPrefix: Array<Uint8Array | undefined> = [];
  readonly #dirty: boolean[];
  #readahead: Uint8Array | undefined;

  /** `shared` when a writer may be in another process. */
  constructor(layout: RingLayout, files: File[], shared: boolean) {
    this.#layout = layout;
    this.#files = files;
    this.#retries = shared ? RACE_RETRIES : 0;
    this.#scratch = new Uint8Array(layout.slotBytes);
    this.#scratchView = new DataView(this.#scratch.buffer);
    this.#out = new Uint8Array(layout.slotBytes);
    this.#outView = new DataView(this.#out.buffer);
    this.#dirty = files.map(() => false);
  }

  read(id: number, target: Uint8Array | null): number {
    const layout = this.#layout;
    const slot = id % layout.capacity;
    const shard = shardOf(layout, slot);
    const off = slotOffset(layout, slot, shard);
    const file = this.#files[shard]!;
    const view = this.#scratchView;
    for (let attempt = 0; ; attempt++) {
      if (file.read(this.#scratch, off) !== layout.slotBytes) {
        throw corrupt(file.path, id, slot, "the shard file ends inside the slot (was it truncated?)");
      }
      const meta = view.getUint32(0, true);
      const stored = joinId(view.getUint32(4, true), view.getUint32(8, true));
      const crc = view.getUint32(12, true);
      const kind = metaKind(meta, layout.recordSize);
      if (kind === META_EMPTY) return ABSENT;
      if (kind === META_BUSY) {
        if (stored > id) return NEWER;
        if (attempt < this.#retries) continue;
        return BUSY_SLOT;
      }
      if (kind !== META_WRITTEN && kind !== META_DELETED) {
        if (attempt < this.#retries) continue;
        throw corrupt(file.path, id, slot, `meta word ${hex(meta)} is not a state any writer produces`);
      }
      const length = kind === META_WRITTEN ? metaLength(meta) : 0;
      const payload = this.#payload(length);
      const computed = slotCrc(stored, meta, payload);
      if (computed !== crc) {
        if (attempt < this.#retries) continue;
        throw corrupt(file.path, id, slot, `stored CRC ${hex(crc)}, computed ${hex(computed)}`);
      }
      if (stored !== id) return stored > id ? NEWER : ABSENT;
      if (kind === META_DELETED) return GONE;
      if (target === null) {
        this.copy = payload.slice();
      } else {
        if (target.length < length) {
          throw new OffheapError("ERR_RANGE", `target has ${target.length} bytes; record ${id} has ${length}`);
        }
        target.set(payload);
      }
      return length;
    }
  }

  storedId(id: number): number {
    const layout = this.#layout;
    const slot = id % layout.capacity;
    const shard = shardOf(layout, slot);
    const header = this.#scratch.subarray(0, SLOT_HEADER);
    if (this.#files[shard]!.read(header, slotOffset(layout, slot, shard)) !== SLOT_HEADER) return -1;
    const view = this.#scratchView;
    const kind = metaKind(view.getUint32(0, true), layout.recordSize);
    return kind === META_WRITTEN || kind === META_DELETED ? joinId(view.getUint32(4, true), view.getUint32(8, true)) : -1;
  }

  put(id: number, meta: number, data: Uint8Array, crc: number): void {
    const layout = this.#layout;
    const slot = id % layout.capacity;
    const shard = shardOf(layout, slot);
    const off = slotOffset(layout, slot, shard);
    const view = this.#outView;
    view.setUint32(0, meta, true);
    view.setUint32(4, id >>> 0, true);
    view.setUint32(8, Math.floor(id / TWO32), true);
    view.setUint32(12, crc, true);
    if (data.length > 0) this.#out.set(data, SLOT_HEADER);
    let prefix = this.#slotPrefix[data.length];
    if (prefix === undefined) {
      prefix = this.#out.subarray(0, SLOT_HEADER + data.length);
      this.#slotPrefix[data.length] = prefix;
    }
    this.#files[shard]!.write(prefix, off);
    this.#dirty[shard] = true;
  }

  syncSlot(id: number): void {
    const layout = this.#layout;
    const slot = id % layout.capacity;
    const shard = shardOf(layout, slot);
    this.#files[shard]!.datasync();
  }

  syncDirty(): void {
    for (let i = 0; i < this.#files.length; i++) {
      if (!this.#dirty[i]) continue;
      this.#files[i]!.datasync();
      this.#dirty[i] = false;
    }
  }

  prefetch(id: number, count: number): void {
    const [shard, offset, run] = readAheadRun(this.#layout, id, count);
    if (run === 0) return;
    // No fadvise is bound: one bounded read pulls the window into the page cache.
    const bytes = Math.min(run, MAX_READAHEAD);
    if (this.#readahead === undefined || this.#readahead.length < bytes) this.#readahead = new Uint8Array(bytes);
    this.#files[shard]!.read(this.#readahead.subarray(0, bytes), offset);
  }

  close(): void {
    this.#readahead = undefined;
  }

  #payload(length: number): Uint8Array {
    let view = this.#payloads[length];
    if (view === undefined) {
      view = this.#scratch.subarray(SLOT_HEADER, SLOT_HEADER + length);
      this.#payloads[length] = view;
    }
    return view;
  }
}
