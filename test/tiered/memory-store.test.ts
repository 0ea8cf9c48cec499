import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { heapStats } from "bun:jsc";
import { MemoryStore } from "../../src/tiered/index.ts";
import { bytes, expectCode, pattern } from "../helpers/index.ts";
import { put, storeContract } from "../contracts/store.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

describe("MemoryStore", () => {
  storeContract(() => new MemoryStore({ maxBytes: 8 << 20 }), { test });

  test("capacity in bytes: the policy evicts and bytes stay under maxBytes", async () => {
    using store = new MemoryStore({ maxBytes: 256 * 1024 });
    for (let i = 0; i < 200; i++) await put(store, `k${i}`, pattern(4000, i + 1));
    expect(store.bytes).toBeLessThanOrEqual(256 * 1024);
    expect(store.size).toBeLessThan(200);
    expect(store.size).toBeGreaterThan(10);
    expect(store.stats().evictions).toBeGreaterThan(0);
    expect(await bytes(store.get("k199")!.body)).toEqual(pattern(4000, 200));
  });

  test("a body over maxEntryBytes: ERR_TOO_LARGE from write, nothing stored", async () => {
    using store = new MemoryStore({ maxBytes: 1 << 20, maxEntryBytes: 1000 });
    const w = store.writer("big", { cachedAt: 1 });
    await w.write(new Uint8Array(600));
    await expectCode(() => w.write(new Uint8Array(600)), "ERR_TOO_LARGE");
    expect(store.get("big")).toBeUndefined();
    expect(store.stats().tooLarge).toBe(1);
  });

  test("bodies live off the JS heap: storing thousands adds no per-entry heap objects", async () => {
    using store = new MemoryStore({ maxBytes: 64 << 20 });
    const body = pattern(8 * 1024);
    await put(store, "warm", body);
    Bun.gc(true);
    const before = heapStats().objectCount;
    for (let i = 0; i < 4000; i++) {
      const w = store.writer(`key-${i}`, { cachedAt: i, etag: `"${i}"` });
      w.write(body);
      await w.commit();
    }
    Bun.gc(true);
    const after = heapStats().objectCount;
    expect(store.size).toBe(4001);
    // The same entries kept in a Map of JS objects, as a reference for what "on the heap" costs.
    const reference = new Map<string, { meta: object; body: Uint8Array }>();
    Bun.gc(true);
    const refBefore = heapStats().objectCount;
    for (let i = 0; i < 4000; i++) reference.set(`key-${i}`, { meta: { cachedAt: i, etag: `"${i}"` }, body: body.slice() });
    Bun.gc(true);
    const refGrowth = heapStats().objectCount - refBefore;
    expect(reference.size).toBe(4000);
    expect((after - before) * 5).toBeLessThan(refGrowth);
    const e = store.get("key-3999")!;
    expect(e.meta.etag).toBe('"3999"');
    expect(await bytes(e.body)).toEqual(body);
  });

  test("metadata round-trips: absent vs empty etag, non-ASCII content type", async () => {
    using store = new MemoryStore();
    await put(store, "a", "x", { cachedAt: 1.5e12 });
    await put(store, "b", "y", { etag: "", contentType: "text/plain; charset=utf-8; name=\"größe\"" });
    expect(store.get("a")!.meta).toEqual({ cachedAt: 1.5e12, size: 1 });
    const b = store.get("b")!.meta;
    expect(b.etag).toBe("");
    expect(b.contentType).toBe("text/plain; charset=utf-8; name=\"größe\"");
  });
});
