/**
 * A shared cache's stripe lock and change marker. Each stripe's lock word records its
 * holder's token; a holder that died is taken over ({@link lockSlow}). While a stripe
 * changes its DIRTY word is set, so that a holder dying mid-change is seen by the next
 * one, which empties the stripe before anything reads it. Private caches take none of this.
 */
import { lockSlow, unlockShared } from "../primitives/shared-mutex.ts";
import { C_RESET_DROPS, C_RESETS, C_TAKEOVERS, DIRTY, LOCK, type Shard } from "./shard.ts";

/**
 * Take `sh`'s lock for the thread of `token`. One compare-and-swap when free; otherwise
 * {@link lockSlow} waits, or takes the lock over from a holder that died. A stripe whose
 * last holder died in the middle of a change is emptied before anything reads it.
 */
export function lockStripe(sh: Shard, token: number): void {
  if (Atomics.compareExchange(sh.st, LOCK, 0, token) !== 0 && lockSlow(sh.st, LOCK, token, sh.lockCtx!)) sh.ctr[C_TAKEOVERS]!++;
  if (sh.st[DIRTY] !== 0) repairStripe(sh);
}

/** Release `sh`'s lock, waking a waiter. */
export function unlockStripe(sh: Shard): void {
  unlockShared(sh.st, LOCK, sh.lockCtx!.waiter);
}

/** Mark `sh` as changing (held locked): see {@link DIRTY}. */
export function beginChange(sh: Shard): void {
  Atomics.store(sh.st, DIRTY, 1);
}

/** `sh` is whole again. */
export function endChange(sh: Shard): void {
  Atomics.store(sh.st, DIRTY, 0);
}

/**
 * The last holder of `sh`'s lock died mid-change: nothing in the stripe can be trusted,
 * so it starts empty (its entries are dropped without `onEvict`: their bytes may be torn).
 */
function repairStripe(sh: Shard): void {
  const dropped = sh.count;
  sh.reset();
  sh.ctr[C_RESETS]!++;
  sh.ctr[C_RESET_DROPS]! += dropped > 0 ? dropped : 0;
  Atomics.store(sh.st, DIRTY, 0);
}
