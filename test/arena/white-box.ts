/** Looking inside an ArenaCache, for tests that need to know where a key lives (not a test file). */
import type { ArenaCache } from "../../src/arena/index.ts";
import { hashKey } from "../../src/arena/keys.ts";

/** The stripe `key` lives in (the object the cache picks for it). */
export function stripeOf<V>(c: ArenaCache<V>, key: string): unknown {
  return (c as unknown as { shardOf(h: number): unknown }).shardOf(hashKey(key));
}

/** `n` keys (`${prefix}0`, `${prefix}1`, …) in the same stripe as `key`, and `n` in other stripes. */
export function keysBy<V>(c: ArenaCache<V>, key: string, n: number, prefix = "k"): { same: string[]; other: string[] } {
  const same: string[] = [];
  const other: string[] = [];
  for (let i = 0; same.length < n || other.length < n; i++) {
    const k = `${prefix}${i}`;
    (stripeOf(c, k) === stripeOf(c, key) ? same : other).push(k);
  }
  return { same: same.slice(0, n), other: other.slice(0, n) };
}
