/**
 * The state every handle of a queue shares through the mapped directory file, and the
 * rules for changing it: the counters (first, next, count, bytes, epoch), the dirty word,
 * the change word followers wait on, the segment generation, and the crash-safe floors.
 *
 * The protocol: the counters are written only under the lock. A mutation sets the dirty
 * word before it changes anything, and {@link SharedState.publish} clears it, bumps the
 * change word and wakes followers once the call completed; a holder that dies mid-call
 * leaves the word set and the next holder recovers (recovery.ts). The segment generation
 * is bumped whenever a segment file is created or removed, so other handles know to
 * relist. The floors only rise (see `FLOORS` in layout.ts).
 *
 * Shared words are read with plain loads, never Atomics.load: JSC's optimizing tiers
 * compile Atomics.load to a locked read-modify-write, which faults on a read-only mapping.
 * Plain aligned loads are atomic on x86-64 and arm64, and ordered on x86-64.
 */
import { join } from "node:path";
import { File, futexWake, Mapping } from "../../ffi/index.ts";
import { readHeader, type CounterSnapshot } from "../primitives/header.ts";
import { WordWait } from "../primitives/word-wait.ts";
import type { SyncMode } from "../primitives/common-options.ts";
import {
  DIR_BYTES,
  DIR_CHANGES,
  DIR_COUNT,
  DIR_DIRTY,
  DIR_EPOCH,
  DIR_FILE_BYTES,
  DIR_FIRST,
  DIR_NEXT,
  DIR_SEGGEN,
  DIR_WANTED,
  dirFileName,
  FLOORS,
  WAKE_FILE_BYTES,
  WAKE_SPEC,
  WAKE_WAITERS,
  wakeFileName,
} from "./layout.ts";
import type { Segment } from "./segment.ts";

const W_CHANGES = DIR_CHANGES / 4;
const W_WAITERS = WAKE_WAITERS / 4;
const W_DIRTY = DIR_DIRTY / 4;
const W_SEGGEN = DIR_SEGGEN / 4;
const W_WANTED = DIR_WANTED / 4;
const F_FIRST = DIR_FIRST / 8;
const F_NEXT = DIR_NEXT / 8;
const F_COUNT = DIR_COUNT / 8;
const F_BYTES = DIR_BYTES / 8;
const F_EPOCH = DIR_EPOCH / 8;
/** Longest wait of a follower that cannot count itself in the wake file (nobody wakes it). */
const UNCOUNTED_POLL_MS = 20;

/** The crash-safe floors: `[first, next, epoch]`. */
export type Floors = [first: number, next: number, epoch: number];

/** One handle's view of a queue's shared state. */
export class SharedState {
  /** Path of the directory file (for messages). */
  readonly path: string;
  readonly #syncMode: SyncMode;
  readonly #map: Mapping;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #words: Int32Array;
  readonly #state: Float64Array;
  /** The floors as this handle last read or wrote them (see #floorsSnapshot). */
  #floors: CounterSnapshot | undefined;
  #wakeMap: Mapping | undefined;
  /** The wake file's words, or a private array when there is no wake file. */
  #wakeWords = new Int32Array(WAKE_FILE_BYTES / 4);
  #wakeWritable = false;
  /** How every follower of this handle waits (one Worker for all; made on first use). */
  #wait: WordWait | undefined;
  #closed = false;

  /** Over the mapped directory file `mapping`; maps the wake file too when it can. */
  constructor(dir: string, prefix: string, mapping: Mapping, syncMode: SyncMode) {
    this.path = join(dir, dirFileName(prefix));
    this.#syncMode = syncMode;
    this.#map = mapping;
    this.#bytes = mapping.bytes;
    this.#view = new DataView(mapping.buffer);
    this.#words = new Int32Array(mapping.buffer, 0, DIR_FILE_BYTES / 4);
    this.#state = new Float64Array(mapping.buffer, 0, DIR_FILE_BYTES / 8);
    this.#openWake(join(dir, wakeFileName(prefix)));
  }

  // Read freely; written only under the lock, through the four methods below, each one
  // step of the protocol (items appended, items removed, first moved, all rebuilt).

  /** Oldest live index. */
  get first(): number {
    return this.#state[F_FIRST]!;
  }
  /** The index the next append gets. */
  get next(): number {
    return this.#state[F_NEXT]!;
  }
  /** Live items. */
  get count(): number {
    return this.#state[F_COUNT]!;
  }
  /** Bytes of the live items. */
  get bytes(): number {
    return this.#state[F_BYTES]!;
  }
  /** The epoch records are written with now (raised by every recovery). */
  get epoch(): number {
    return this.#state[F_EPOCH]!;
  }

  /** `count` items of `bytes` bytes in all were appended: `next` moves to `next`. */
  addItems(next: number, count: number, bytes: number): void {
    const state = this.#state;
    state[F_NEXT] = next;
    state[F_COUNT] = state[F_COUNT]! + count;
    state[F_BYTES] = state[F_BYTES]! + bytes;
  }

  /** One live item of `bytes` bytes was removed (`first` is moved separately). */
  removeItem(bytes: number): void {
    const state = this.#state;
    state[F_COUNT] = state[F_COUNT]! - 1;
    state[F_BYTES] = state[F_BYTES]! - bytes;
  }

  /** The oldest live index is now `first`. */
  moveFirst(first: number): void {
    this.#state[F_FIRST] = first;
  }

  /** Recovery rebuilt the state from the files: store all of it. */
  restore(values: { first: number; next: number; count: number; bytes: number; epoch: number }): void {
    const state = this.#state;
    state[F_EPOCH] = values.epoch;
    state[F_NEXT] = values.next;
    state[F_COUNT] = values.count;
    state[F_BYTES] = values.bytes;
    state[F_FIRST] = values.first;
  }

  /** The change word: bumped after every completed mutation. */
  get changes(): number {
    return this.#words[W_CHANGES]!;
  }

  /** Whether a mutation is under way, or died under way. */
  /** Whether a handle (in any process) waits for the producer lock. */
  get lockWanted(): boolean {
    return this.#words[W_WANTED] !== 0;
  }

  /** Count this handle in (+1) or out (-1) of the handles waiting for the producer lock. */
  wantLock(delta: 1 | -1): void {
    Atomics.add(this.#words, W_WANTED, delta);
  }

  /** Whether a mutation is under way or died midway (see the module comment). */
  get dirty(): boolean {
    return this.#words[W_DIRTY] !== 0;
  }

  /** Set the dirty word: call before a mutation changes anything. */
  markDirty(): void {
    Atomics.store(this.#words, W_DIRTY, 1);
  }

  /** Clear the dirty word without announcing a change (a call taken back whole). */
  markClean(): void {
    Atomics.store(this.#words, W_DIRTY, 0);
  }

  /** After a mutation completed: if it changed anything, clear the dirty word, bump the change word and wake followers. */
  publish(): void {
    const words = this.#words;
    if (words[W_DIRTY] === 0) return;
    Atomics.store(words, W_DIRTY, 0);
    Atomics.add(words, W_CHANGES, 1);
    this.#wake();
  }

  /** After a recovery: the state is whole again; announce it as a change. */
  recovered(): void {
    Atomics.store(this.#words, W_DIRTY, 0);
    Atomics.add(this.#words, W_CHANGES, 1);
    this.#wake();
  }

  /** The segment generation: bumped whenever a segment file is created or removed. */
  get segmentGeneration(): number {
    return this.#words[W_SEGGEN]!;
  }

  /** Bump the segment generation (after creating or removing a segment); returns the new one. */
  bumpSegmentGeneration(): number {
    return Atomics.add(this.#words, W_SEGGEN, 1) + 1;
  }

  /** The floors, or zeros when none were written yet. */
  readFloors(): Floors {
    const snapshot = this.#floorsSnapshot();
    return snapshot === undefined ? [0, 0, 0] : [snapshot.values[0]!, snapshot.values[1]!, snapshot.values[2]!];
  }

  /**
   * Raise the floors to at least `first`, `next` and `epoch` (none is ever lowered), and
   * flush them unless `flush` is false or `sync: "none"`.
   */
  writeFloors(first: number | undefined, next: number, epoch?: number, flush = true): void {
    const snapshot = this.#floorsSnapshot();
    const [oldFirst, oldNext, oldEpoch] = snapshot === undefined ? [0, 0, 0] : [snapshot.values[0]!, snapshot.values[1]!, snapshot.values[2]!];
    const newFirst = Math.max(oldFirst, first ?? 0);
    const newNext = Math.max(oldNext, next);
    const newEpoch = Math.max(oldEpoch, epoch ?? 0);
    if (newFirst === oldFirst && newNext === oldNext && newEpoch === oldEpoch && snapshot !== undefined) return;
    const values = [newFirst, newNext, newEpoch];
    const seq = (snapshot?.seq ?? 0) + 1;
    FLOORS.write(this.#bytes, seq, values, this.#view);
    this.#floors = { seq, values };
    if (flush && this.#syncMode !== "none") this.#map.sync(FLOORS.offset, FLOORS.size);
  }

  /**
   * Raise the floors to the current first and next (under the lock, with no mutation half
   * done): from here on, every item below `next` has its entry in the index of one of
   * `segments` (flushed first, with a sync mode), which recovery then requires.
   */
  raiseFloors(segments: readonly Segment[], options: { first?: number; epoch?: number } = {}): void {
    if (this.#syncMode !== "none") for (const segment of segments) segment.syncEntries(0, segment.written);
    this.writeFloors(options.first ?? this.first, this.next, options.epoch);
  }

  /**
   * After items were removed, with a sync mode: raise the first floor to `first`, so that
   * shifted items stay gone even if their entries are damaged while this writer runs
   * (recovery marks everything below the floor deleted). That needs no flush first, so the
   * floors are only stored (they reach the disk with the next flush, after the deletes'
   * own). Next to the call's flush this costs nothing; without a sync mode it would be a
   * third of a shift, so there the floors rise at rollover, removal, truncate and close.
   */
  floorAfterRemoval(): void {
    if (this.#syncMode !== "none") this.writeFloors(this.first, 0, undefined, false);
  }

  /**
   * Wait until the change word moves from `seen`, `pollMs` passed, or the queue closes.
   * Followers are counted in the wake file only while they wait, so that producers make
   * the wake-up call only when someone waits and a dropped follower leaves no count.
   */
  waitForChange(seen: number, pollMs: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#wait === undefined) {
      // No wake file: producers wake unconditionally, so a count in the private words is enough.
      const counter = this.#wakeMap === undefined || this.#wakeWritable ? { words: this.#wakeWords, index: W_WAITERS } : null;
      this.#wait = new WordWait({ mapping: this.#map, offset: DIR_CHANGES, counter: () => counter, pollMs: UNCOUNTED_POLL_MS });
    }
    return this.#wait.wait(seen, () => this.#words[W_CHANGES] !== seen, pollMs);
  }

  /** Flush the directory file. */
  sync(): void {
    this.#map.sync();
  }

  /** Whether the directory file is still mapped. */
  get isOpen(): boolean {
    return this.#map.isOpen;
  }

  /** End every follower's wait (taking its count out of the wake file), then unmap. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wait?.close();
    this.#map.close();
    this.#wakeMap?.close();
  }

  /** Wake followers, in any process, if any may be waiting. */
  #wake(): void {
    if (this.#wakeMap === undefined || this.#wakeWords[W_WAITERS] !== 0) futexWake(this.#map, DIR_CHANGES);
  }

  /**
   * The floors, checked; the copy this handle last read or wrote when nobody wrote since
   * (the floors are raised on every removal: a full read each time would cost more than
   * the removal).
   */
  #floorsSnapshot(): CounterSnapshot | undefined {
    const cached = this.#floors;
    if (cached !== undefined && FLOORS.newestSeq(this.#view) === cached.seq) return cached;
    this.#floors = FLOORS.read(this.#bytes, this.path);
    return this.#floors;
  }

  /**
   * Map the wake file read-write when the OS lets us (also for a read-only handle: it
   * holds no queue data), so followers can count themselves in.
   */
  #openWake(path: string): void {
    let file: File;
    try {
      file = File.open(path);
      this.#wakeWritable = true;
    } catch {
      try {
        file = File.open(path, { readonly: true });
      } catch {
        return; // no wake file: producers wake unconditionally, followers still wait on the futex
      }
    }
    try {
      readHeader(WAKE_SPEC, file);
      if (file.size < WAKE_FILE_BYTES) return;
      this.#wakeMap = Mapping.file(file, { length: WAKE_FILE_BYTES, readonly: !this.#wakeWritable });
      this.#wakeWords = new Int32Array(this.#wakeMap.buffer);
    } catch {
      this.#wakeWritable = false; // a damaged wake file only costs wake-ups, never data
    } finally {
      file.close();
    }
  }
}
