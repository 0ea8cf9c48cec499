import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { ArenaCache, type ArenaCacheOptions, codecs, ENTRY_OVERHEAD, type EvictionReason } from "../../src/arena/index.ts";
import { POLICY_NAMES } from "../../src/policy/index.ts";
import { seededRandom, tempDir } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

interface Entry {
  value: string;
  expireAt: number; // 0: never
}

/**
 * 20,000 random operations against a Map model with a fake clock. Evictions the cache
 * chooses (capacity) are learnt from onEvict, so the model stays exact: every read must
 * agree with it, every eviction must carry the right value and reason.
 */
function runModel(policy: (typeof POLICY_NAMES)[number], seed: number, extra: { shared?: boolean; stripes?: number; path?: string } = {}) {
  const rnd = seededRandom(seed);
  let now = 1_000;
  const model = new Map<string, Entry>();
  const expected: Array<{ key: string; reason: EvictionReason }> = [];
  let clearing = false;
  const reasons: Record<EvictionReason, number> = { capacity: 0, expired: 0, deleted: 0, replaced: 0 };
  const maxBytes = 8192 * (extra.stripes ?? 1);
  const { path, ...layout } = extra;
  const options: ArenaCacheOptions<string> = {
    ...layout,
    maxBytes,
    policy,
    codec: codecs.string,
    clock: () => now,
    onEvict(key, value, reason) {
      reasons[reason]++;
      const m = model.get(key);
      if (!m) throw new Error(`onEvict(${key}, ${reason}) for a key the model lacks`);
      if (m.value !== value) throw new Error(`onEvict(${key}) value ${value} != model ${m.value}`);
      const isExpired = m.expireAt !== 0 && m.expireAt <= now;
      if (reason === "expired" && !isExpired) throw new Error(`${key} evicted as expired before its time`);
      if (reason === "capacity" && isExpired) throw new Error(`${key} expired but evicted for capacity`);
      if (clearing) {
        if (reason !== "deleted") throw new Error(`clear() evicted ${key} as ${reason}`);
      } else if (reason === "expired" && expected[0]?.key === key) expected.shift(); // delete/set of an expired entry
      else if (reason === "replaced" || reason === "deleted") {
        const want = expected.shift();
        if (!want || want.key !== key || want.reason !== reason) {
          throw new Error(`unexpected ${reason} of ${key}; expected ${JSON.stringify(want)}`);
        }
      }
      model.delete(key);
    },
  };
  const cache = path === undefined ? new ArenaCache<string>(options) : ArenaCache.open<string>(path, options);
  const keys = Array.from({ length: 300 }, (_, i) => (i % 7 === 0 ? `ключ-${i}-🔑` : `key:${i}`));
  const live = (k: string) => {
    const m = model.get(k);
    return m !== undefined && (m.expireAt === 0 || m.expireAt > now);
  };
  for (let op = 0; op < 20_000; op++) {
    const key = keys[Math.floor(rnd() * keys.length)]!;
    const r = rnd();
    if (r < 0.35) {
      const len = rnd() < 0.02 ? 2000 : Math.floor(rnd() * 120);
      const value = `${op}:`.padEnd(len, "x");
      const ttl = rnd() < 0.3 ? 1 + Math.floor(rnd() * 50) : undefined;
      if (model.has(key)) expected.push({ key, reason: "replaced" });
      // A record (all of an entry but its fixed overhead) fits in one slab.
      const fits = ArenaCache.entryBytes(Buffer.byteLength(key), Buffer.byteLength(value)) - ENTRY_OVERHEAD <= cache.stats().slabBytes;
      if (!fits && model.has(key)) expected[expected.length - 1]!.reason = "deleted";
      const ok = cache.set(key, value, ttl === undefined ? undefined : { ttl });
      expect(ok).toBe(fits);
      expect(expected.length).toBe(0);
      if (ok) model.set(key, { value, expireAt: ttl === undefined ? 0 : now + ttl });
      else expect(model.has(key)).toBe(false);
    } else if (r < 0.7) {
      const want = live(key) ? model.get(key)!.value : undefined;
      expect(cache.get(key)).toBe(want);
    } else if (r < 0.78) {
      const want = live(key) ? model.get(key)!.value : undefined;
      expect(cache.peek(key)).toBe(want);
    } else if (r < 0.84) {
      expect(cache.has(key)).toBe(live(key));
    } else if (r < 0.92) {
      const present = model.has(key);
      if (present) expected.push({ key, reason: "deleted" });
      expect(cache.delete(key)).toBe(present);
      expect(expected.length).toBe(0);
    } else if (r < 0.9995) {
      now += Math.floor(rnd() * 10);
    } else {
      clearing = true;
      cache.clear();
      clearing = false;
      expect(model.size).toBe(0);
    }
    // Invariants after every operation.
    const bytes = cache.bytes;
    if (bytes > maxBytes) throw new Error(`bytes ${bytes} > maxBytes ${maxBytes} after op ${op}`);
    if (cache.size !== model.size) throw new Error(`size ${cache.size} != model ${model.size} after op ${op}`);
    let modelBytes = 0;
    for (const [k, e] of model) modelBytes += ArenaCache.entryBytes(Buffer.byteLength(k), Buffer.byteLength(e.value));
    if (bytes !== modelBytes) throw new Error(`bytes ${bytes} != model ${modelBytes} after op ${op}`);
  }
  const stats = cache.stats();
  cache.close();
  return { reasons, stats };
}

describe("model-based", () => {
  for (const [i, policy] of POLICY_NAMES.entries()) {
    test(`${policy}: 20,000 random ops agree with a Map model`, () => {
      const { reasons, stats } = runModel(policy, 1000 + i);
      // The run exercised every path.
      expect(reasons.capacity).toBeGreaterThan(0);
      expect(reasons.expired).toBeGreaterThan(0);
      expect(reasons.deleted).toBeGreaterThan(0);
      expect(reasons.replaced).toBeGreaterThan(0);
      expect(stats.compactions).toBeGreaterThan(0);
      expect(stats.movedBytes).toBeGreaterThan(0);
      expect(stats.rejected).toBeGreaterThan(0);
    });
  }

  test("shared, 4 stripes: the same semantics", () => {
    const { reasons } = runModel("s3-fifo", 77, { shared: true, stripes: 4 });
    expect(reasons.capacity).toBeGreaterThan(0);
    expect(reasons.expired).toBeGreaterThan(0);
  });

  for (const policy of ["s3-fifo", "lru"] as const) {
    test(`in a shared file (ArenaCache.open), ${policy}, 4 stripes: the same semantics`, () => {
      using dir = tempDir();
      const { reasons, stats } = runModel(policy, 77, { stripes: 4, path: dir.file("cache") });
      expect(reasons.capacity).toBeGreaterThan(0);
      expect(reasons.expired).toBeGreaterThan(0);
      expect(stats.compactions).toBeGreaterThan(0);
      expect(stats.stripeResets).toBe(0);
    });
  }
});
