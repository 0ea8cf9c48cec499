/**
 * Load leases: how `getOrLoad` makes one load per key across every thread and process of a
 * shared cache, with no wait that can last for ever.
 *
 * Each stripe has {@link LEASES} cells of (key hash, holder token, deadline), changed only
 * under the stripe's lock. A thread about to load a key takes its cell; another thread that
 * misses the same key finds the cell and waits (polling, off the lock) for the value to
 * appear, for the cell to be released, or for the deadline: whichever comes first, it then
 * loads itself. A holder whose registration ended (closed, or found dead) loses its cell at
 * once. A `set` or `delete` of the key marks the cell stale, so the load in flight does not
 * overwrite what was written meanwhile. Keys sharing a 32-bit hash share a cell: one waits
 * for the other's load, then loads its own. With every cell in use, a load goes ahead
 * without one (as if nobody else were loading).
 */
import { type OwnerRegistry, TOKEN_MASK } from "../primitives/shared-mutex.ts";
import { LEASES, LEASES_HELD, type Shard } from "./shard.ts";

/** Bit of a cell's token word: a set or delete of the key happened during the load. */
const STALE = 0x4000_0000;

/** {@link takeLease}: this thread holds the key's lease now. */
export const LEASE_TAKEN = 0;
/** {@link takeLease}: no free cell; load without a lease. */
export const LEASE_NONE = -1;

function free(sh: Shard, i: number): void {
  sh.leases[(i << 1) + 1] = 0;
  sh.st[LEASES_HELD]!--;
}

/**
 * Take the lease of hash `h` for `token` until `until` (ms), unless another live holder has
 * it: then that holder's token (> 0) is returned. `deadHolder`, when not 0, is a token the
 * caller found dead: its cell may be taken. Call under the stripe's lock.
 */
export function takeLease(sh: Shard, registry: OwnerRegistry, h: number, token: number, now: number, until: number, deadHolder: number): number {
  const L = sh.leases;
  const U = sh.leaseUntil;
  const hi = h | 0;
  let empty = -1;
  for (let i = 0; i < LEASES; i++) {
    const t = L[(i << 1) + 1]!;
    if (t === 0) {
      if (empty < 0) empty = i;
      continue;
    }
    const holder = t & TOKEN_MASK;
    // Cells past their deadline or of a holder whose registration ended are free for all.
    const over = U[i]! <= now || holder === deadHolder || registry.liveness(holder, false) === "dead";
    if (L[i << 1] === hi) {
      if (!over && holder !== token) return holder;
      L[(i << 1) + 1] = token;
      U[i] = until;
      return LEASE_TAKEN;
    }
    if (over) {
      free(sh, i);
      if (empty < 0) empty = i;
    }
  }
  if (empty < 0) return LEASE_NONE;
  L[empty << 1] = hi;
  L[(empty << 1) + 1] = token;
  U[empty] = until;
  sh.st[LEASES_HELD]!++;
  return LEASE_TAKEN;
}

/**
 * End `token`'s lease of hash `h`. Returns whether the lease was still this holder's and
 * not stale: only then may the loaded value be stored. Call under the stripe's lock.
 */
export function endLease(sh: Shard, h: number, token: number): boolean {
  const L = sh.leases;
  const hi = h | 0;
  for (let i = 0; i < LEASES; i++) {
    const t = L[(i << 1) + 1]!;
    if (t !== 0 && L[i << 1] === hi && (t & TOKEN_MASK) === token) {
      free(sh, i);
      return (t & STALE) === 0;
    }
  }
  return false;
}

/** A set or delete of hash `h`: a load in flight for it must not store. Under the lock. */
export function staleLease(sh: Shard, h: number): void {
  const L = sh.leases;
  const hi = h | 0;
  for (let i = 0; i < LEASES; i++) {
    const t = L[(i << 1) + 1]!;
    if (t !== 0 && L[i << 1] === hi) L[(i << 1) + 1] = t | STALE;
  }
}

/** The token holding hash `h`'s lease, or 0. Under the lock. */
export function leaseHolder(sh: Shard, h: number): number {
  const L = sh.leases;
  const hi = h | 0;
  for (let i = 0; i < LEASES; i++) {
    const t = L[(i << 1) + 1]!;
    if (t !== 0 && L[i << 1] === hi) return t & TOKEN_MASK;
  }
  return 0;
}
