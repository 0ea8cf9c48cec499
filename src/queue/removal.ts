/**
 * The removal path: shift, delete and truncate mark index entries deleted, keep the
 * counters and `first` in step, and remove a segment's files as soon as it holds nothing
 * live. Removals are soft (the records stay until their segment goes), so a removal
 * changes only index entries and counters, flushed per call with a sync mode.
 *
 * Callers hold the lock; each operation sets the dirty word before its first change.
 */
import type { SyncMode } from "../primitives/common-options.ts";
import { removeFile } from "../primitives/publish.ts";
import { OffheapError } from "../errors.ts";
import type { Segment } from "./segment.ts";
import type { SegmentTable } from "./segment-table.ts";
import type { SharedState } from "./shared-state.ts";

/** Entry positions a call removed in one segment, to flush: `[from, to)`. */
type Touched = Map<Segment, [number, number]>;

/** One handle's removal path. */
export class QueueRemover {
  readonly #dir: string;
  readonly #syncMode: SyncMode;
  readonly #shared: SharedState;
  readonly #table: SegmentTable;

  /** `dir` names the queue in messages; `syncMode` says whether removals are flushed. */
  constructor(dir: string, syncMode: SyncMode, shared: SharedState, table: SegmentTable) {
    this.#dir = dir;
    this.#syncMode = syncMode;
    this.#shared = shared;
    this.#table = table;
  }

  /** Remove and return the oldest live item. */
  shift(): Uint8Array | undefined {
    const shared = this.#shared;
    const first = shared.first;
    if (first >= shared.next) return undefined;
    const segment = this.#table.segmentFor(first);
    if (segment === undefined) throw this.#lost(first);
    const pos = first - segment.base;
    const item = segment.read(pos, first);
    if (item === undefined) throw this.#lost(first);
    shared.markDirty();
    this.deleteAt(segment, pos);
    this.#flushDeletes(segment, pos, pos + 1);
    this.advanceFirst();
    shared.floorAfterRemoval();
    return item;
  }

  /** Remove and return up to `count` of the oldest live items. */
  shiftMany(count: number): Uint8Array[] {
    const shared = this.#shared;
    const out: Uint8Array[] = [];
    const touched: Touched = new Map();
    while (out.length < count) {
      const first = shared.first;
      if (first >= shared.next) break;
      const segment = this.#table.segmentFor(first);
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
      if (out.length === 0) shared.markDirty();
      touch(touched, segment, pos);
      this.deleteAt(segment, pos);
      this.advanceFirst();
      out.push(item);
    }
    for (const [segment, [from, to]] of touched) this.#flushDeletes(segment, from, to);
    if (out.length > 0) shared.floorAfterRemoval();
    return out;
  }

  /** Soft-delete the live items among `indexes` (checked by the caller); returns how many. */
  delete(indexes: readonly number[]): number {
    const shared = this.#shared;
    const first = shared.first;
    const next = shared.next;
    const touched: Touched = new Map();
    let deleted = 0;
    for (const i of indexes) {
      if (i < first || i >= next) continue;
      const segment = this.#table.segmentFor(i);
      if (segment === undefined) continue;
      const pos = i - segment.base;
      if (!segment.isLive(pos)) continue;
      if (deleted === 0) shared.markDirty();
      touch(touched, segment, pos);
      this.deleteAt(segment, pos);
      deleted++;
    }
    if (deleted === 0) return 0;
    for (const [segment, [from, to]] of touched) this.#flushDeletes(segment, from, to);
    this.advanceFirst();
    shared.floorAfterRemoval();
    return deleted;
  }

  /** Drop every item before `until` (at most `next`): `ERR_RANGE` past it. */
  truncate(until: number): void {
    const shared = this.#shared;
    const next = shared.next;
    if (until > next) {
      throw new OffheapError("ERR_RANGE", `truncate(${until}) is past the end of the queue: the next index is ${next}`, { path: this.#dir });
    }
    if (until <= shared.first) return;
    shared.markDirty();
    shared.raiseFloors(this.#table.list, { first: until });
    for (const segment of [...this.#table.list]) {
      if (segment.base >= until) break;
      const end = Math.min(segment.base + segment.written, until);
      for (let pos = 0; pos < end - segment.base && !segment.closed; pos++) {
        if (segment.isLive(pos)) this.deleteAt(segment, pos);
      }
      this.#flushDeletes(segment, 0, end - segment.base);
    }
    shared.moveFirst(until);
    this.advanceFirst();
  }

  /** Mark entry `pos` deleted and update the counts; remove the segment when it empties. */
  deleteAt(segment: Segment, pos: number): void {
    const length = segment.length(pos);
    segment.markDeleted(pos);
    segment.live -= 1;
    segment.liveBytes -= length;
    this.#shared.removeItem(length);
    if (segment.live <= 0) this.removeSegment(segment);
  }

  /**
   * Remove a segment's files. The floors go to disk first, so that `next` survives even
   * when this was the last segment; then the data file, then the index: a removal cut
   * short leaves an index of removed items (recovery finishes it), never data without
   * its index (which recovery refuses as damage).
   */
  removeSegment(segment: Segment): void {
    this.#shared.raiseFloors(this.#table.list);
    removeFile(segment.dataPath);
    removeFile(segment.indexPath);
    segment.close();
    this.#table.remove(segment);
    this.#table.seen(this.#shared.bumpSegmentGeneration());
  }

  /** Move `first` forward past items that are no longer live. */
  advanceFirst(): void {
    const shared = this.#shared;
    const next = shared.next;
    let first = shared.first;
    if (shared.count <= 0) {
      shared.moveFirst(next);
      return;
    }
    const segments = this.#table.list;
    let k = this.#table.search(first);
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
    shared.moveFirst(k >= segments.length ? next : Math.min(first, next));
  }

  /** With a sync mode, flush the entries `[from, to)` a call removed (a segment removed meanwhile has none left). */
  #flushDeletes(segment: Segment, from: number, to: number): void {
    if (this.#syncMode !== "none" && !segment.closed) segment.syncEntries(from, to);
  }

  #lost(index: number): OffheapError {
    return new OffheapError("ERR_CORRUPT", `item ${index} is counted as live but its segment entry is missing`, { path: this.#dir });
  }
}

/** Widen the range of positions removed in `segment` by `pos`. */
function touch(touched: Touched, segment: Segment, pos: number): void {
  const range = touched.get(segment);
  if (range === undefined) touched.set(segment, [pos, pos + 1]);
  else {
    range[0] = Math.min(range[0], pos);
    range[1] = Math.max(range[1], pos + 1);
  }
}
