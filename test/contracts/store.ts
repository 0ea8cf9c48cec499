/**
 * The behaviour every TieredCache store (MemoryStore, FileStore, RedisStore, S3Store, a
 * shared MemoryStore) must have, run over each of them by its own test file.
 */
import { expect } from "bun:test";
import type { Store } from "../../src/tiered/index.ts";
import { bytes, expectCode, pattern, text } from "../helpers/index.ts";

/** Write `body` into `store` under `key` through its writer and commit. */
export async function put(store: Store, key: string, body: Uint8Array | string, meta: { etag?: string; contentType?: string; cachedAt?: number; extra?: string } = {}): Promise<void> {
  const data = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const w = store.writer(key, { cachedAt: meta.cachedAt ?? 1_000, ...meta });
  for (let off = 0; off < data.length; off += 100_000) await w.write(data.subarray(off, off + 100_000));
  await w.commit();
}

/**
 * The behaviour every Store must have. Call inside a describe block with a factory that
 * gives a fresh, empty store; the suite closes it.
 */
export function storeContract(make: () => Promise<Store> | Store, t: { test: typeof import("bun:test").test }): void {
  const { test } = t;

  test("contract: missing key, write/commit, read back with metadata", async () => {
    const store = await make();
    try {
      expect(await store.get("nope")).toBeUndefined();
      expect(await store.stat("nope")).toBeUndefined();
      const body = pattern(70_000, 3);
      await put(store, "k/1", body, { etag: '"e1"', contentType: "application/x-test", cachedAt: 12345 });
      const e = await store.get("k/1");
      expect(e).toBeDefined();
      expect(e!.meta.etag).toBe('"e1"');
      expect(e!.meta.contentType).toBe("application/x-test");
      expect(e!.meta.cachedAt).toBe(12345);
      expect(e!.meta.size).toBe(body.length);
      expect(await bytes(e!.body)).toEqual(body);
      const st = await store.stat("k/1");
      expect(st?.etag).toBe('"e1"');
      expect(await store.get("k/2")).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  test("contract: uncommitted and aborted writes are invisible; empty body", async () => {
    const store = await make();
    try {
      const w = store.writer("k", { cachedAt: 1 });
      await w.write(new TextEncoder().encode("partial"));
      expect(await store.get("k")).toBeUndefined();
      await w.abort();
      await w.abort();
      expect(await store.get("k")).toBeUndefined();
      await put(store, "empty", "");
      const e = await store.get("empty");
      expect(e?.meta.size).toBe(0);
      expect(await text(e!.body)).toBe("");
    } finally {
      await store.close();
    }
  });

  test("contract: replace, touch, delete", async () => {
    const store = await make();
    try {
      await put(store, "k", "one", { etag: '"1"', cachedAt: 10 });
      await put(store, "k", "two", { etag: '"2"', cachedAt: 20 });
      const e = await store.get("k");
      expect(e!.meta.etag).toBe('"2"');
      expect(await text(e!.body)).toBe("two");
      expect(await store.touch("k", { etag: '"2"', cachedAt: 99 })).toBe(true);
      const t2 = await store.get("k");
      expect(t2!.meta.cachedAt).toBe(99);
      expect(await text(t2!.body)).toBe("two");
      expect(await store.touch("absent", { cachedAt: 1 })).toBe(false);
      // Another version (other etag) is not relabelled.
      expect(await store.touch("k", { etag: '"1"', cachedAt: 500 })).toBe(false);
      expect((await store.stat("k"))!.cachedAt).toBe(99);
      await put(store, "noetag", "n", { cachedAt: 1 });
      expect(await store.touch("noetag", { etag: '"x"', cachedAt: 2 })).toBe(false);
      expect(await store.touch("noetag", { cachedAt: 3 })).toBe(true);
      expect((await store.stat("noetag"))!.cachedAt).toBe(3);
      expect(await store.delete("k")).toBe(true);
      expect(await store.get("k")).toBeUndefined();
      expect(await store.delete("k")).toBe(false);
    } finally {
      await store.close();
    }
  });

  test("contract: keys with odd characters stay apart", async () => {
    const store = await make();
    try {
      const keys = ["a", "A", "a/b", "a\u0000b", "ключ", "x".repeat(2000), "/path?q=1&r=2"];
      for (const [i, k] of keys.entries()) await put(store, k, `v${i}`);
      for (const [i, k] of keys.entries()) expect(await text((await store.get(k))!.body)).toBe(`v${i}`);
    } finally {
      await store.close();
    }
  });

  test("contract: after close every call throws ERR_CLOSED; close is idempotent", async () => {
    const store = await make();
    await store.close();
    await store.close();
    await expectCode(() => store.get("k"), "ERR_CLOSED");
    await expectCode(() => store.writer("k", { cachedAt: 1 }), "ERR_CLOSED");
    await expectCode(() => store.delete("k"), "ERR_CLOSED");
  });
}
