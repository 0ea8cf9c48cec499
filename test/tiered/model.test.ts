import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { seededRandom, tempDir, text, until } from "../helpers/index.ts";
import { FileStore, MemoryStore, NOT_FOUND, NOT_MODIFIED, TieredCache, type Fetcher } from "../../src/tiered/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

/**
 * Random operations against a TieredCache (a small memory tier that evicts, over a file
 * tier) and a plain Map model of what the cache must answer. Origin versions change under
 * the cache; the clock moves; entries expire and are revalidated with ETags.
 */
describe("TieredCache against an in-memory model", () => {
  for (const [seed, SWR] of [[1, 0], [2, 0], [3, 0], [4, 2_000], [5, 2_000], [6, 2_000]] as const) {
    test(`random get/set/delete/origin changes, seed ${seed}, staleWhileRevalidate ${SWR}`, async () => {
      const random = seededRandom(seed);
      const pick = (n: number) => Math.floor(random() * n);
      using dir = tempDir();
      const clock = { now: 5_000_000 };
      const FRESH = 1_000;
      const cache = new TieredCache({
        tiers: [new MemoryStore({ maxBytes: 64 * 1024, maxEntryBytes: 6_000 }), FileStore.open(dir.path, { sync: "none" })],
        fresh: FRESH,
        staleWhileRevalidate: SWR,
        negative: 500,
        clock: () => clock.now,
      });
      // The origin: key -> version (absent: 404).
      const origin = new Map<string, number>();
      const bodyOf = (key: string, version: number) => `${key}@${version}:` + "x".repeat((version * 997) % 9_000);
      let fetches = 0;
      const fetcher: Fetcher = async ({ key, etag }) => {
        fetches++;
        const v = origin.get(key);
        if (v === undefined) return NOT_FOUND;
        if (etag === `"${v}"`) return NOT_MODIFIED;
        return { body: bodyOf(key, v), etag: String(v) };
      };
      // The model: what the cache holds, and until when a not-found is remembered.
      const model = new Map<string, { body: string; cachedAt: number; etag?: string }>();
      const negative = new Map<string, number>();
      const keys = Array.from({ length: 12 }, (_, i) => `/k${i}`);
      for (const k of keys.slice(0, 9)) origin.set(k, 1);

      for (let step = 0; step < 400; step++) {
        const key = keys[pick(keys.length)]!;
        const op = random();
        if (op < 0.55) {
          const r = await cache.get(key, fetcher);
          const got = await text(r.body);
          const held = model.get(key);
          const v = origin.get(key);
          let want: { status: string; body: string };
          if (held !== undefined && clock.now - held.cachedAt <= FRESH) {
            want = { status: "hit", body: held.body };
          } else if (held !== undefined && clock.now - held.cachedAt <= FRESH + SWR) {
            want = { status: "stale", body: held.body };
            // The background refresh the cache started: apply it to the model once it ran.
            if (v === undefined) {
              model.delete(key);
              negative.set(key, clock.now + 500);
            } else if (held.etag === `"${v}"`) held.cachedAt = clock.now;
            else model.set(key, { body: bodyOf(key, v), cachedAt: clock.now, etag: `"${v}"` });
          } else if ((negative.get(key) ?? 0) > clock.now && held === undefined) {
            want = { status: "not-found", body: "" };
          } else if (v === undefined) {
            model.delete(key);
            negative.set(key, clock.now + 500);
            want = { status: "not-found", body: "" };
          } else if (held !== undefined && held.etag === `"${v}"`) {
            held.cachedAt = clock.now;
            want = { status: "hit", body: held.body };
          } else {
            model.set(key, { body: bodyOf(key, v), cachedAt: clock.now, etag: `"${v}"` });
            want = { status: "miss", body: bodyOf(key, v) };
          }
          expect([step, key, r.status, got]).toEqual([step, key, want.status, want.body]);
          if (r.status === "stale") {
            await until(() => cache.stats().refreshRunning === 0 && cache.stats().refreshQueued === 0, "refresh done");
          }
        } else if (op < 0.65) {
          const body = `set ${step}`;
          await cache.set(key, body);
          model.set(key, { body, cachedAt: clock.now });
          negative.delete(key);
        } else if (op < 0.72) {
          await cache.delete(key);
          model.delete(key);
          negative.delete(key);
        } else if (op < 0.85) {
          if (random() < 0.2) origin.delete(key);
          else origin.set(key, (origin.get(key) ?? 0) + 1);
        } else {
          clock.now += pick(1_500);
        }
      }
      expect(fetches).toBeGreaterThan(10);
      expect(cache.stats().storeErrors).toBe(0);
      await cache.close();
    });
  }
});
