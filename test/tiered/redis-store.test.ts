import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { startRedis, type TestServer } from "../helpers/servers.ts";
import { MemoryStore, RedisStore, TieredCache, type Fetcher } from "../../src/tiered/index.ts";
import { bytes, chunkedStream, expectCode, pattern, text } from "../helpers/index.ts";
import { put, storeContract } from "../contracts/store.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

let server: TestServer;
let n = 0;

beforeAll(async () => {
  // Fails the suite with the reason when redis-server is missing or does not start.
  server = await startRedis();
});

afterAll(async () => {
  await server?.stop();
});

function store(options: Partial<ConstructorParameters<typeof RedisStore>[0]> = {}): RedisStore {
  return new RedisStore({ url: server.url, prefix: `t${++n}:`, chunkBytes: 64 * 1024, ...options });
}

describe("RedisStore (real redis-server)", () => {
  storeContract(() => store(), { test });

  test("a large body is stored in chunks and streamed chunk by chunk", async () => {
    const s = store({ chunkBytes: 100_000 });
    try {
      const body = pattern(1_050_000, 9);
      await put(s, "big", body);
      const keys = (await s.client.send("KEYS", [`t${n}:d:*`])) as string[];
      expect(keys.length).toBe(11);
      const e = (await s.get("big"))!;
      expect(e.meta.size).toBe(body.length);
      const reader = e.body.getReader();
      const sizes: number[] = [];
      const parts: Uint8Array[] = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        sizes.push(value.length);
        parts.push(value);
      }
      expect(Math.max(...sizes)).toBeLessThanOrEqual(100_000);
      expect(Buffer.concat(parts).equals(Buffer.from(body))).toBe(true);
    } finally {
      await s.close();
    }
  });

  test("an aborted write leaves no chunks; a replaced body stays readable for its reader", async () => {
    const s = store({ chunkBytes: 1000 });
    try {
      const w = s.writer("k", { cachedAt: 1 });
      await w.write(new Uint8Array(5000));
      await w.abort();
      expect(((await s.client.send("KEYS", [`t${n}:*`])) as string[]).length).toBe(0);

      await put(s, "k", pattern(10_000, 1));
      const old = (await s.get("k"))!;
      const reader = old.body.getReader();
      const first = await reader.read();
      await put(s, "k", pattern(10_000, 2));
      const parts = [first.value!];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
      }
      expect(Buffer.concat(parts).equals(Buffer.from(pattern(10_000, 1)))).toBe(true);
      expect(await bytes((await s.get("k"))!.body)).toEqual(pattern(10_000, 2));
      // Old chunks got an expiry (grace), new ones are persistent.
      const ttls = await Promise.all(((await s.client.send("KEYS", [`t${n}:d:*`])) as string[]).map((k) => s.client.pttl(k)));
      expect(ttls.filter((t) => t > 0).length).toBe(10);
      expect(ttls.filter((t) => t === -1).length).toBe(10);
    } finally {
      await s.close();
    }
  });

  test("a chunk gone under a reader (grace over) errors the stream with ERR_CORRUPT", async () => {
    const s = store({ chunkBytes: 1000 });
    try {
      await put(s, "k", pattern(5000));
      const e = (await s.get("k"))!;
      for (const k of (await s.client.send("KEYS", [`t${n}:d:*`])) as string[]) await s.client.del(k);
      await expectCode(() => bytes(e.body), "ERR_CORRUPT");
    } finally {
      await s.close();
    }
  });

  test("as a TieredCache tier: miss fills redis, a second cache (another process's view) hits it and promotes", async () => {
    const prefix = `shared${++n}:`;
    let calls = 0;
    const fetcher: Fetcher = async () => {
      calls++;
      return { body: chunkedStream(10, 30_000), etag: "r1" };
    };
    const a = new TieredCache({ tiers: [new MemoryStore(), new RedisStore({ url: server.url, prefix })] });
    const b = new TieredCache({ tiers: [new MemoryStore(), new RedisStore({ url: server.url, prefix })] });
    try {
      const r1 = await a.get("/obj", fetcher);
      expect((await text(r1.body)).length).toBe(300_000);
      const r2 = await b.get("/obj", fetcher);
      expect(r2.status).toBe("hit");
      expect(r2.source).toBe("redis");
      expect(r2.meta.etag).toBe('"r1"');
      expect((await text(r2.body)).length).toBe(300_000);
      const r3 = await b.get("/obj", fetcher);
      expect(r3.source).toBe("memory");
      expect(calls).toBe(1);
      expect(await b.delete("/obj")).toBe(true);
      expect(await b.tiers[1]!.get("/obj")).toBeUndefined();
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("ttlMs: entries and their chunks expire in Redis", async () => {
    const s = store({ ttlMs: 60_000, chunkBytes: 1000 });
    try {
      await put(s, "k", pattern(2500));
      const keys = (await s.client.send("KEYS", [`t${n}:*`])) as string[];
      expect(keys.length).toBe(4); // the entry and three chunks
      const ttls = await Promise.all(keys.map((k) => s.client.pttl(k)));
      for (const t of ttls) {
        expect(t).toBeGreaterThan(0);
        expect(t).toBeLessThanOrEqual(60_000);
      }
    } finally {
      await s.close();
    }
  });

  test("redis down: the tier errors are counted and the cache still answers from the origin", async () => {
    const dead = new RedisStore({ url: "redis://127.0.0.1:1", prefix: "x:" });
    const cache = new TieredCache({ tiers: [dead] });
    try {
      const r = await cache.get("/k", async () => ({ body: "from origin" }));
      expect(await text(r.body)).toBe("from origin");
      expect(cache.stats().storeErrors).toBeGreaterThan(0);
    } finally {
      await cache.close();
    }
  });
});
