/**
 * The two readers in id order: `RingBuffer.range` (a window, once) and the loop behind
 * `RingBuffer.follow` (every record from an id on, waiting on HeadWaits when caught up,
 * handling being lapped by the writer). They see the ring only through a
 * {@link FollowSource}, the handle's read side, so they hold nothing of their own between
 * records: an iterator dropped without `return()` leaks nothing.
 */
import { OffheapError } from "../errors.ts";
import type { RingRecord } from "./options.ts";
import { ABSENT, BUSY_SLOT, NEWER, type SlotStore } from "./store.ts";

/** What a follower needs of its ring handle. */
export interface FollowSource {
  readonly path: string;
  readonly capacity: number;
  /** True once the handle closed: the follow ends. */
  isClosed(): boolean;
  readonly store: SlotStore;
  /** The head as this handle sees it. */
  loadNext(): number;
  /** An empty slot inside the window: ABSENT when skipped by a far jump, else `ERR_CORRUPT`. */
  absentInWindow(id: number): number;
  /** Resolve once the head may have moved past `next` (or the handle closed). */
  waitPast(next: number, signal: AbortSignal | undefined): Promise<void>;
  /** Count a lap that skipped `missed` records. */
  lapped(missed: number): void;
}

/** Yield the records with ids in `[from, to)`, as {@link RingBuffer.range} documents (`to` defaults to the head when iteration starts). */
export function* rangeRing(ring: FollowSource, from: number, to: number | undefined): Generator<RingRecord> {
  const stop = to ?? ring.loadNext();
  let id = from;
  while (id < stop) {
    if (ring.isClosed()) throw new OffheapError("ERR_CLOSED", `ring ${ring.path} is closed`, { path: ring.path });
    const next = ring.loadNext();
    if (id >= next) return;
    if (id < next - ring.capacity) id = next - ring.capacity;
    if (id >= stop) return;
    const n = ring.store.read(id, null);
    if (n >= 0) yield { id, data: ring.store.copy };
    else if (n === ABSENT) ring.absentInWindow(id);
    id++;
  }
}

/** Yield the records from `from` on, as {@link RingBuffer.follow} documents. */
export async function* followRing(ring: FollowSource, from: number, signal: AbortSignal | undefined, onLap: "throw" | "skip"): AsyncGenerator<RingRecord> {
  const store = ring.store;
  let pos = from;
  for (;;) {
    if (ring.isClosed()) return;
    signal?.throwIfAborted();
    const next = ring.loadNext();
    const first = Math.max(0, next - ring.capacity);
    if (pos < first) {
      pos = lap(ring, pos, first, onLap);
      continue;
    }
    if (pos < next) {
      const n = store.read(pos, null);
      if (n >= 0) {
        const data = store.copy;
        yield { id: pos, data };
        pos++;
      } else if (n === BUSY_SLOT) {
        await Bun.sleep(1); // a writer is mid-rewrite of this slot (or died there)
      } else if (n === NEWER) {
        // Overwritten between loading the head and reading the slot.
        const now = Math.max(0, ring.loadNext() - ring.capacity);
        pos = lap(ring, pos, Math.max(now, pos + 1), onLap);
      } else {
        if (n === ABSENT) ring.absentInWindow(pos);
        pos++; // deleted, or skipped by a write(id) past it
      }
      continue;
    }
    await ring.waitPast(next, signal);
  }
}

/** A follower at `pos` when the oldest id held is `first`: throw `ERR_LAPPED`, or skip to `first`. */
function lap(ring: FollowSource, pos: number, first: number, onLap: "throw" | "skip"): number {
  const missed = first - pos;
  if (onLap === "throw") {
    throw new OffheapError(
      "ERR_LAPPED",
      `the writer overwrote ${missed} records this reader had not read (it was at id ${pos}, the oldest held is ${first})`,
      { path: ring.path, missed },
    );
  }
  ring.lapped(missed);
  return first;
}
