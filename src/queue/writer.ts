/**
 * The append path: an item's record goes into the tail segment's data file (rolling over
 * to a new segment when it is full), then its index entry; the call publishes the new
 * `next` only when every item of it is written, so an item is never seen half made.
 * A call that fails is taken back whole ({@link QueueWriter.takeBack}).
 *
 * Callers hold the lock and have set nothing yet: the writer sets the dirty word itself
 * before its first write (see shared-state.ts).
 */
import { DATA_EXPECTED, elementName, invalidArg } from "../primitives/arguments.ts";
import type { SyncMode } from "../primitives/common-options.ts";
import { crc32 } from "../primitives/crc.ts";
import { removeFile } from "../primitives/publish.ts";
import { OffheapError } from "../errors.ts";
import { DATA_START, RECORD_HEADER } from "./layout.ts";
import { Segment, type SegmentGeometry } from "./segment.ts";
import type { SegmentTable } from "./segment-table.ts";
import type { SharedState } from "./shared-state.ts";
import { Stage, STAGE_THRESHOLD } from "./staging.ts";

/** What the writer needs to know about its queue. */
export interface WriterConfig {
  dir: string;
  prefix: string;
  geometry: SegmentGeometry;
  syncMode: SyncMode;
  /** Most live bytes, or `Infinity`. */
  maxBytes: number;
}

/** Largest UTF-8 buffer a handle keeps for string items. */
const SCRATCH_MAX = 256 << 10;

const encoder = new TextEncoder();

/** The items of one appendMany call, checked, as bytes. */
export interface Batch {
  items: Uint8Array[];
  /** Their bytes in all. */
  total: number;
}

/** Data written in this call and not yet flushed (sync "batch"/"always"). */
interface Pending {
  segment: Segment;
  fromOffset: number;
}

/** One handle's append path. */
export class QueueWriter {
  /** Largest item a segment can hold. */
  readonly maxItem: number;
  readonly #config: WriterConfig;
  // Copies of what every append reads, one load away (the hot path is a few hundred ns).
  readonly #segmentBytes: number;
  readonly #maxBytes: number;
  readonly #syncing: boolean;
  readonly #shared: SharedState;
  readonly #table: SegmentTable;
  readonly #stage: Stage;
  #pending: Pending | undefined;
  /** Reused UTF-8 buffer for string items of append. */
  #scratch = new Uint8Array(256);
  /** Reused item list of appendMany (see {@link collect}), and whether a call is using it. */
  #batch: Batch = { items: [], total: 0 };
  #batchBusy = false;

  /** The append path of one writable handle over its shared state and segments. */
  constructor(config: WriterConfig, shared: SharedState, table: SegmentTable) {
    this.#config = config;
    this.#segmentBytes = config.geometry.segmentBytes;
    this.#maxBytes = config.maxBytes;
    this.#syncing = config.syncMode !== "none";
    this.#shared = shared;
    this.#table = table;
    this.#stage = new Stage(this.#syncing);
    this.maxItem = config.geometry.segmentBytes - DATA_START - RECORD_HEADER;
  }

  /**
   * UTF-8 bytes of a string item, encoded into a reused buffer (valid until the next
   * call); anything else that is not a Uint8Array is `ERR_INVALID`.
   */
  encode(data: unknown): Uint8Array {
    if (typeof data !== "string") return toBytes(data, "data");
    const most = data.length * 3;
    // Long strings: one allocation is small next to their copy, and the buffer stays small.
    if (most > SCRATCH_MAX) return encoder.encode(data);
    if (this.#scratch.length < most) this.#scratch = new Uint8Array(Math.min(SCRATCH_MAX, Math.max(most, this.#scratch.length * 2)));
    return this.#scratch.subarray(0, encoder.encodeInto(data, this.#scratch).written);
  }

  /** `ERR_TOO_LARGE` unless an item of `length` bytes fits in a segment. */
  checkSize(length: number): void {
    const room = this.maxItem;
    if (length > room) {
      const segmentBytes = this.#config.geometry.segmentBytes;
      throw new OffheapError(
        "ERR_TOO_LARGE",
        `an item of ${length} bytes does not fit in a segment: at most ${room} (segmentBytes ${segmentBytes} minus a ${DATA_START}-byte file header and a ${RECORD_HEADER}-byte record header)`,
        { path: this.#config.dir },
      );
    }
  }

  /**
   * The items of an appendMany call as bytes (strings as UTF-8), each checked, before any
   * is written. The list is reused across calls; an iterable that calls back into
   * appendMany gets a list of its own for the inner call. Hand it back with {@link release}.
   * @throws `ERR_INVALID` for an item that is neither a Uint8Array nor a string, `ERR_TOO_LARGE`.
   */
  collect(items: Iterable<Uint8Array | string>): Batch {
    const reuse = !this.#batchBusy;
    const batch: Batch = reuse ? this.#batch : { items: [], total: 0 };
    const list = batch.items;
    if (reuse) this.#batchBusy = true;
    try {
      let total = 0;
      const maxItem = this.maxItem;
      for (const item of items) {
        const bytes = item instanceof Uint8Array ? item : toBytes(item, elementName("items", list.length));
        if (bytes.length > maxItem) this.checkSize(bytes.length);
        list.push(bytes);
        total += bytes.length;
      }
      batch.total = total;
      return batch;
    } catch (e) {
      this.release(batch);
      throw e;
    }
  }

  /** The call is done with `batch` (from {@link collect}): its list may be reused. */
  release(batch: Batch): void {
    if (batch !== this.#batch) return;
    batch.items.length = 0;
    this.#batchBusy = false;
  }

  /** Append one item (checked with {@link checkSize}); returns its index. */
  appendOne(bytes: Uint8Array): number {
    const shared = this.#shared;
    const length = bytes.length;
    if (shared.bytes + length > this.#maxBytes) this.#checkRoom(length);
    const index = shared.next;
    shared.markDirty();
    this.#put(bytes, index);
    if (this.#syncing) this.#flushPending();
    shared.addItems(index + 1, 1, length);
    return index;
  }

  /** Append a batch (from {@link collect}) as one call; returns the first item's index. */
  appendAll(batch: Batch): number {
    const { items, total } = batch;
    const shared = this.#shared;
    const first = shared.next;
    const count = items.length;
    if (count === 0) return first;
    if (shared.bytes + total > this.#maxBytes) this.#checkRoom(total);
    shared.markDirty();
    const always = this.#config.syncMode === "always";
    if (!always && total >= STAGE_THRESHOLD) this.#stage.start(total + count * RECORD_HEADER);
    for (let i = 0; i < count; i++) {
      this.#put(items[i]!, first + i);
      if (always) this.#flushPending();
    }
    this.#flushPending();
    shared.addItems(first + count, count, total);
    return first;
  }

  /** The call is over (done or taken back): forget what it had pending. */
  endCall(): void {
    this.#pending = undefined;
    this.#stage.end();
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
  takeBack(): void {
    const shared = this.#shared;
    if (!shared.dirty) return; // failed before writing anything
    try {
      this.#stage.drop(); // staged records are dropped, not written
      const committed = shared.next;
      const table = this.#table;
      let removed = false;
      for (let tail = table.list.at(-1); tail !== undefined && tail.base >= committed; tail = table.list.at(-1)) {
        table.pop();
        removeFile(tail.dataPath);
        removeFile(tail.indexPath);
        tail.close();
        removed = true;
      }
      const tail = table.list.at(-1);
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
        if (this.#syncing) {
          tail.syncEntries(from, pos);
          tail.syncData(firstRecord, firstRecord + RECORD_HEADER);
        }
      }
      table.resumeTail();
      if (removed) table.seen(shared.bumpSegmentGeneration());
      shared.markClean();
    } catch {
      // the dirty word stays set: the next call (or open) recovers from the files
    }
  }

  /** Write item `index` as a record into the tail segment (rolling over when full) and index it. */
  #put(bytes: Uint8Array, index: number): void {
    const length = bytes.length;
    let segment = this.#table.last;
    if (
      segment === undefined ||
      segment.base + segment.written !== index ||
      segment.written >= segment.limit ||
      segment.dataEnd + RECORD_HEADER + length > this.#segmentBytes
    ) {
      this.#flushPending();
      segment = this.#createSegment(index);
    }
    const pos = segment.written;
    const at = segment.dataEnd;
    if (this.#syncing && this.#pending === undefined) this.#pending = { segment, fromOffset: at };
    const crc = crc32(bytes);
    const epoch = this.#shared.epoch;
    const stage = this.#stage;
    let offset: number;
    if (stage.active && stage.add(segment, at, pos, bytes, crc, epoch)) {
      offset = at + RECORD_HEADER;
    } else {
      if (stage.active) stage.flush();
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
    this.#stage.flush();
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    pending.segment.syncData(pending.fromOffset, pending.segment.dataEnd);
  }

  #createSegment(base: number): Segment {
    // What the previous segments hold is complete: raise the floors to it (the items of a
    // call in progress are not counted yet, so a call that fails can still take them back).
    const table = this.#table;
    const { dir, prefix, geometry, syncMode } = this.#config;
    this.#shared.raiseFloors(table.list);
    table.last?.releaseWriter();
    const segment = Segment.create(dir, prefix, base, geometry, syncMode !== "none");
    table.push(segment);
    table.seen(this.#shared.bumpSegmentGeneration());
    return segment;
  }

  #checkRoom(adding: number): void {
    const bytes = this.#shared.bytes;
    if (bytes + adding > this.#config.maxBytes) {
      throw new OffheapError("ERR_FULL", `the queue holds ${bytes} bytes; adding ${adding} would pass maxBytes ${this.#config.maxBytes}`, { path: this.#config.dir });
    }
  }
}

/** An item's bytes (strings as UTF-8); `name` is the argument's, for the message. */
function toBytes(data: unknown, name: string): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === "string") return encoder.encode(data);
  throw invalidArg(name, DATA_EXPECTED, data);
}
