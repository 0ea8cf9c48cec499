/**
 * What an open checks and repairs before a handle is used: a writer killed at any point
 * leaves the head words, the jump block and the slots in one of a few states, told apart
 * here from what the slots hold (each carries its id and CRC). A damaged head is
 * `ERR_CORRUPT`; what a killed writer left whole is published, what it left half-done is
 * marked deleted (or, a slot's first write, made empty again).
 */
import type { Mapping } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";
import { headCandidates, loadHead, resetHead } from "./head.ts";
import { readJumps, type Jumps } from "./jumps.ts";
import { MAX_ID } from "./layout.ts";
import { ABSENT, BUSY_SLOT, GONE, putDeleted, putEmpty, type SlotStore } from "./store.ts";

/** Whether the slot of `id` holds `id`, as a record or a deletion marker, and passes its CRC. */
export function holds(store: SlotStore, id: number): boolean {
  try {
    const n = store.read(id, null);
    return n >= 0 || n === GONE;
  } catch {
    return false;
  }
}

/** The writer's head on open; a crash during a high-bits change is settled by the slots. */
export function recoverHead(store: SlotStore, words: Int32Array, path: string): number {
  const candidates = headCandidates(words);
  let next = candidates[candidates.length - 1]!;
  if (candidates.length > 1) {
    for (const c of candidates) {
      if (c === 0 || holds(store, c - 1)) {
        next = c;
        break;
      }
    }
    resetHead(words, next);
  }
  if (next > MAX_ID) throw new OffheapError("ERR_CORRUPT", `${path}: head ${next} is past the largest id`, { path });
  return next;
}

/**
 * A writer killed inside a put leaves the slot of `next` BUSY. The record the window held
 * there is gone either way: mark it deleted so readers stop waiting for it. In the first
 * lap the slot held nothing: it is empty again, and `next` stays the next id (a deletion
 * marker of `next` itself would be published as a record that never was).
 */
export function repairInterrupted(store: SlotStore, next: number, capacity: number): void {
  let state: number;
  try {
    state = store.read(next, null);
  } catch {
    return; // damaged, not interrupted: get/verify report it
  }
  if (state !== BUSY_SLOT) return;
  if (next >= capacity) putDeleted(store, next - capacity);
  else putEmpty(store, next);
  store.syncDirty();
}

/**
 * The head is published only after the slot of `next - 1` is complete, and a slot only
 * ever takes newer ids; so when that slot is empty or holds an older id, the head was
 * damaged (it points past what was ever written). And the slot of `next` holds an older
 * id until the next write: a newer one there means the head was moved back (see
 * layout.ts), unless it is `next` itself or within a jump under way (a crash between
 * writing slots and publishing them). `writerJumps`: the writer's copy of the jump block;
 * undefined for a reader, which reads the block only after the slot (see below).
 */
export function checkHead(store: SlotStore, words: Int32Array, headMap: Mapping, next: number, path: string, writerJumps: Jumps | undefined): void {
  if (next > 0) {
    let state = 0;
    try {
      state = store.read(next - 1, null);
    } catch {
      // a damaged slot: its own CRC reports it to get and verify
    }
    if (state === ABSENT) {
      throw new OffheapError(
        "ERR_CORRUPT",
        `${path}: the head says the next id is ${next}, but the slot of id ${next - 1} does not hold it: the head is damaged`,
        { path },
      );
    }
  }
  if (next >= MAX_ID) return;
  const held = store.storedId(next);
  // A live writer stores the jump block before the slots it covers: read after the slot.
  const [, jumpFrom, jumpTo] = writerJumps ?? readJumps(headMap, path);
  // A reader's head may be stale by then (a live writer lapped it): only a head that
  // stood still meanwhile counts.
  if (writerJumps === undefined && loadHead(words) !== next) return;
  const jumping = next === jumpFrom && held <= jumpTo;
  if (held > next && !jumping && holds(store, held)) {
    throw new OffheapError(
      "ERR_CORRUPT",
      `${path}: the head says the next id is ${next}, but the slot of id ${next} already holds the later id ${held}: the head was moved back (damaged)`,
      { path },
    );
  }
}

/**
 * The head a writer killed between writing slots and publishing them would have
 * published: past a jump (or oversized batch) under way from this head whose last slot
 * is written, then past whole records in the slots of `next`, `next + 1`, … (an
 * append's or a batch's). Their ids were never handed out, and publishing them (as the
 * writer's open does) means they never are twice.
 */
export function settledHead(store: SlotStore, next: number, jumps: Jumps): number {
  const [, jumpFrom, jumpTo] = jumps;
  let n = next;
  if (next === jumpFrom && jumpTo >= next && store.storedId(jumpTo) === jumpTo && holds(store, jumpTo)) n = jumpTo + 1;
  while (n < MAX_ID && store.storedId(n) === n && holds(store, n)) n++;
  return n;
}

/**
 * The writer's open, when nothing was left whole to publish: a jump from `next` that died
 * before its last slot leaves slots holding ids past `next`, which the records they
 * replaced can't come back from: they become deletion markers of those records, so that
 * every slot again holds an id below the head. Returns whether there was such a jump
 * (then the caller clears it from the jump block).
 */
export function unwindJump(store: SlotStore, next: number, jumps: Jumps, capacity: number): boolean {
  const [, jumpFrom, jumpTo] = jumps;
  if (next !== jumpFrom || jumpTo < next) return false;
  for (let k = Math.max(next, jumpTo + 1 - capacity); k <= jumpTo; k++) {
    if (store.storedId(k) !== k) continue;
    // The id the slot held before: the one of the window congruent to k.
    const lost = next - capacity + ((((k - (next - capacity)) % capacity) + capacity) % capacity);
    if (lost >= 0) putDeleted(store, lost);
    else putEmpty(store, k); // never written before: empty again
  }
  return true;
}
