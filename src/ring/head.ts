/**
 * The published head: the id the next append gets, kept as aligned 32-bit words in shard
 * 0's header page: the writer stores them with `Atomics.store`, any process reads them.
 *
 * Words (Int32 indexes from HEAD_OFFSET): `lo` (low 32 bits, also the futex word: it
 * changes on every append), `hiState` (2 × high bits; odd while the high bits change),
 * `hiPrev` (the high bits before that change). Appends store only `lo`. When the high
 * bits change (every 2^32 ids, or a far `write(id)`), the writer stores `hiPrev`, then
 * `hiState` odd, then `lo`, then `hiState` even. A reader accepts `lo` only between two
 * equal even `hiState` loads, so it never mixes halves (readers use plain aligned loads:
 * see loadHead); a crash in the middle is resolved
 * on the writer's reopen by checking which candidate the slots confirm.
 */
import { HEAD_OFFSET } from "./layout.ts";

const LO = HEAD_OFFSET / 4;
const HI = LO + 1;
const PREV = LO + 2;
const TWO32 = 0x1_0000_0000;

/** Byte offset of the futex word (the low half of the head). */
export const HEAD_FUTEX_OFFSET = HEAD_OFFSET;

/**
 * Read the head. `words` is an Int32Array over shard 0's header page. While the writer is
 * between the steps of a high-bits change (a few nanoseconds, or forever after it crashed
 * there) this returns a conservative value built from `hiPrev`: never above the truth as
 * far as any slot is concerned, because every slot is checked against its own id.
 */
export function loadHead(words: Int32Array): number {
  // Plain loads, not Atomics.load: JIT-compiled Atomics.load is a locked read-modify-write
  // on x86-64 and faults (SIGSEGV) on a read-only mapping. Aligned 32-bit loads are atomic
  // on x86-64 and arm64, and every slot carries its own id and CRC, so a stale head is safe.
  for (let spin = 0; spin < 1000; spin++) {
    const h1 = words[HI]!;
    const lo = words[LO]! >>> 0;
    const h2 = words[HI]!;
    if (h1 === h2 && (h1 & 1) === 0) return (h1 >>> 1) * TWO32 + lo;
  }
  return (words[PREV]! >>> 0) * TWO32 + (words[LO]! >>> 0);
}

/** Publish `next` as the head; `previous` is the head it replaces. Only the writer calls it. */
export function storeHead(words: Int32Array, next: number, previous: number): void {
  const hi = Math.floor(next / TWO32);
  const prevHi = Math.floor(previous / TWO32);
  if (hi === prevHi) {
    Atomics.store(words, LO, next >>> 0);
    return;
  }
  Atomics.store(words, PREV, prevHi);
  Atomics.store(words, HI, hi * 2 + 1);
  Atomics.store(words, LO, next >>> 0);
  Atomics.store(words, HI, hi * 2);
}

/**
 * The candidate heads a crash may have left: one value when the words are consistent,
 * two when the writer died during a high-bits change (the new value first).
 */
export function headCandidates(words: Int32Array): number[] {
  const state = Atomics.load(words, HI) >>> 0;
  const lo = Atomics.load(words, LO) >>> 0;
  if ((state & 1) === 0) return [(state >>> 1) * TWO32 + lo];
  const prev = Atomics.load(words, PREV) >>> 0;
  return [(state >>> 1) * TWO32 + lo, prev * TWO32 + lo];
}

/** The current futex value for a head of `next` (the low half, as the word holds it). */
export function futexValue(next: number): number {
  return next | 0;
}

/** Write `next` into all head words (used once on the writer's open after a torn change). */
export function resetHead(words: Int32Array, next: number): void {
  const hi = Math.floor(next / TWO32);
  Atomics.store(words, PREV, hi);
  Atomics.store(words, HI, hi * 2 + 1);
  Atomics.store(words, LO, next >>> 0);
  Atomics.store(words, HI, hi * 2);
}
