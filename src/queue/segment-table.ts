/**
 * Which segment holds item n: the list of a handle's mapped segments, in base order, and
 * the lookup over it. A lookup is O(1) either way: the segment of the previous lookup is
 * tried first (sequential reads hit it), then a table with at most 4 slots per segment
 * (random reads), so its memory follows the segment count, not the item count.
 *
 * Other processes create and remove segments; the segment generation in the shared state
 * says when they did, and a lookup that misses while it moved relists from the directory.
 */
import { OffheapError } from "../errors.ts";
import { listDir } from "../primitives/publish.ts";
import { parseSegmentName } from "./layout.ts";
import { Segment, type SegmentGeometry } from "./segment.ts";

/** Where the table finds the segment files, and the shared segment generation. */
export interface SegmentSource {
  dir: string;
  prefix: string;
  geometry: SegmentGeometry;
  readonly: boolean;
  /** The segment generation now (see SharedState). */
  generation(): number;
}

/** One handle's segments and the lookup over them. */
export class SegmentTable {
  readonly #source: SegmentSource;
  #segments: Segment[] = [];
  /** The segment generation the list was last made for. */
  #seenGeneration = -1;
  /** The tail segment, which appends go to (undefined: the next append makes one). */
  #last: Segment | undefined;
  /** The segment the last lookup found. */
  #hot: Segment | undefined;
  /**
   * Entry j is the position of the last segment whose base is at most
   * `#tableLow + j * #tableStep`. Rebuilt lazily when the list changes.
   */
  #table = new Int32Array(0);
  #tableLen = 0;
  #tableLow = 0;
  #tableStep = 1;
  #tableStale = true;

  /** An empty table: {@link relist} or {@link replace} fills it. */
  constructor(source: SegmentSource) {
    this.#source = source;
  }

  /** The segments, in base order. */
  get list(): readonly Segment[] {
    return this.#segments;
  }

  /** The segment appends go to next, if it still takes them. */
  get last(): Segment | undefined {
    return this.#last;
  }

  /** Whether segments were created or removed since the list was made. */
  get stale(): boolean {
    return this.#source.generation() !== this.#seenGeneration;
  }

  /** Note that this handle itself moved the generation to `generation` (the list is current). */
  seen(generation: number): void {
    this.#seenGeneration = generation;
  }

  /**
   * The segment holding `index`, or `undefined`. An index is in a segment when it is
   * below the segment's `written` (shared through its index file), so a hit on the
   * segment of the previous lookup is O(1) and exact. A miss that may be explained by
   * segments another process created or removed relists once.
   */
  segmentFor(index: number): Segment | undefined {
    const hot = this.#hot;
    if (hot !== undefined && index >= hot.base && index - hot.base < hot.written) return hot;
    for (let attempt = 0; attempt < 2; attempt++) {
      const k = this.search(index);
      if (k >= 0) {
        const segment = this.#segments[k]!;
        if (index - segment.base < Math.min(segment.written, segment.limit)) {
          this.#hot = segment;
          return segment;
        }
      }
      if (attempt === 0 && this.stale) this.relist();
      else return undefined;
    }
    return undefined;
  }

  /**
   * `undefined` for an index below `next` that no segment covers, after checking that its
   * entry is blank: an entry is complete before its segment's `written` and `next` cover
   * it, so a set entry past `written` means that counter was damaged (`ERR_CORRUPT`).
   */
  absent(index: number): undefined {
    const k = this.search(index);
    const segment = k >= 0 ? this.#segments[k] : undefined;
    if (segment === undefined) return undefined;
    const pos = index - segment.base;
    if (pos >= segment.written && !segment.isBlank(pos)) {
      throw new OffheapError("ERR_CORRUPT", `${segment.indexPath}: item ${index} has an entry, but the segment counts only ${segment.written} entries written`, { path: segment.indexPath });
    }
    return undefined;
  }

  /**
   * Position in the list of the last segment with base ≤ index, or -1: a table lookup,
   * then a step forward past the segments that start inside the table's bucket (none or
   * one when segments hold similar numbers of items).
   */
  search(index: number): number {
    const segments = this.#segments;
    const last = segments.length - 1;
    if (last < 0 || index < segments[0]!.base) return -1;
    if (index >= segments[last]!.base) return last;
    if (this.#tableStale) this.#buildTable();
    const bucket = Math.floor((index - this.#tableLow) / this.#tableStep);
    let k = bucket < this.#tableLen ? this.#table[bucket]! : last;
    while (k < last && segments[k + 1]!.base <= index) k++;
    return k;
  }

  /** Catch up with the segment files on disk: drop removed ones, map new ones. */
  relist(): void {
    const { dir, prefix, geometry, readonly } = this.#source;
    this.#seenGeneration = this.#source.generation();
    const bases = new Set<number>();
    for (const name of listDir(dir)) {
      const parsed = parseSegmentName(prefix, name);
      if (parsed?.ext === "idx") bases.add(parsed.base);
    }
    const kept: Segment[] = [];
    for (const segment of this.#segments) {
      if (bases.has(segment.base)) {
        kept.push(segment);
        bases.delete(segment.base);
      } else segment.close();
    }
    for (const base of bases) {
      try {
        kept.push(Segment.open(dir, prefix, base, geometry, readonly));
      } catch (e) {
        if ((e as OffheapError).errno === "ENOENT") continue; // removed meanwhile
        for (const s of kept) if (!this.#segments.includes(s)) s.close();
        throw e;
      }
    }
    kept.sort((a, b) => a.base - b.base);
    this.replace(kept);
  }

  /** Use `segments` (in base order) from now on; the last one takes appends. */
  replace(segments: Segment[]): void {
    this.#segments = segments;
    this.#last = segments[segments.length - 1];
    this.#changed();
  }

  /** Add a segment just created past every other one: appends go to it. */
  push(segment: Segment): void {
    this.#segments.push(segment);
    this.#last = segment;
    this.#changed();
  }

  /** Take the tail segment off the list (its files are the caller's to remove). */
  pop(): Segment | undefined {
    const segment = this.#segments.pop();
    if (this.#last === segment) this.#last = undefined;
    this.#changed();
    return segment;
  }

  /** Appends go to the list's tail segment again (after a failed call was taken back). */
  resumeTail(): void {
    this.#last = this.#segments[this.#segments.length - 1];
    this.#changed();
  }

  /** Take `segment` off the list (its files are the caller's to remove); a removed tail leaves none for appends. */
  remove(segment: Segment): void {
    const i = this.#segments.indexOf(segment);
    if (i >= 0) this.#segments.splice(i, 1);
    if (this.#last === segment) this.#last = undefined;
    this.#changed();
  }

  /** Close every segment and empty the list. */
  closeAll(): void {
    for (const segment of this.#segments) segment.close();
    this.replace([]);
  }

  /** Forget the lookup cache and table: the list changed. */
  #changed(): void {
    this.#hot = undefined;
    this.#tableStale = true;
  }

  /** Rebuild the lookup table of {@link search}. */
  #buildTable(): void {
    this.#tableStale = false;
    const segments = this.#segments;
    const count = segments.length;
    if (count < 2) {
      this.#tableLen = 0;
      return;
    }
    const low = segments[0]!.base;
    const span = segments[count - 1]!.base - low;
    // A power-of-two step keeps the table within 4 entries per segment.
    let step = 1;
    while (span / step > 4 * count) step *= 2;
    const length = Math.ceil(span / step);
    if (this.#table.length < length) this.#table = new Int32Array(Math.max(length, this.#table.length * 2, 16));
    const table = this.#table;
    let k = 0;
    for (let j = 0; j < length; j++) {
      const at = low + j * step;
      while (k < count - 1 && segments[k + 1]!.base <= at) k++;
      table[j] = k;
    }
    this.#tableLow = low;
    this.#tableStep = step;
    this.#tableLen = length;
  }
}
