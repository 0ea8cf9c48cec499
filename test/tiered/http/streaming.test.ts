import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { tempDir } from "../../helpers/index.ts";
import { FileStore, MemoryStore, TieredCache, NOT_FOUND, type Fetcher } from "../../../src/tiered/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const BIG = 100 * 1024 * 1024;
const CHUNK = 64 * 1024;

let origin: ReturnType<typeof Bun.serve>;
let proxy: ReturnType<typeof Bun.serve>;
let cache: TieredCache;
const dir = tempDir("offheap-http-");
const originHits: Record<string, number> = {};

function bigBody(): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (sent >= BIG) return c.close();
        const b = new Uint8Array(Math.min(CHUNK, BIG - sent));
        b.fill((sent / CHUNK) & 0xff);
        sent += b.length;
        c.enqueue(b);
      },
    },
    { highWaterMark: 0 },
  );
}

beforeAll(() => {
  origin = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      originHits[path] = (originHits[path] ?? 0) + 1;
      if (path === "/a") {
        if (req.headers.get("if-none-match") === '"v1"') return new Response(null, { status: 304 });
        return new Response("alpha body", { headers: { etag: '"v1"', "content-type": "text/plain", "cache-control": "max-age=60" } });
      }
      if (path === "/big") return new Response(bigBody(), { headers: { etag: '"big1"', "content-type": "application/octet-stream", "cache-control": "max-age=600" } });
      if (path === "/fail") return new Response("nope", { status: 500 });
      return new Response("not here", { status: 404 });
    },
  });
  cache = new TieredCache({
    tiers: [new MemoryStore({ maxBytes: 16 << 20 }), FileStore.open(dir.path, { maxBytes: 512 << 20, sync: "none" })],
    fresh: 60_000,
    negative: 60_000,
  });
  proxy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: cache.handler(`http://127.0.0.1:${origin.port}`) });
});

afterAll(async () => {
  proxy?.stop(true);
  origin?.stop(true);
  await cache?.close();
  dir.remove();
});

const url = (path: string) => `http://127.0.0.1:${proxy.port}${path}`;

describe("TieredCache.handler over Bun.serve (real fetch)", () => {
  test("miss then hit: body, ETag, Cache-Status; 304 on If-None-Match", async () => {
    const first = await fetch(url("/a"));
    expect(first.status).toBe(200);
    expect(await first.text()).toBe("alpha body");
    expect(first.headers.get("etag")).toBe('"v1"');
    expect(first.headers.get("content-type")).toBe("text/plain");
    expect(first.headers.get("cache-status")).toBe("offheap; fwd=uri-miss; fwd-status=200; stored");

    const second = await fetch(url("/a"));
    expect(await second.text()).toBe("alpha body");
    expect(second.headers.get("etag")).toBe('"v1"');
    expect(second.headers.get("cache-status")).toMatch(/^offheap; hit; ttl=\d+; detail=memory$/);
    expect(second.headers.get("content-length")).toBe("10");
    expect(second.headers.get("age")).not.toBeNull();

    for (const inm of ['"v1"', 'W/"v1"', '"zz", "v1"', "*"]) {
      const r = await fetch(url("/a"), { headers: { "if-none-match": inm } });
      expect([inm, r.status]).toEqual([inm, 304]);
      expect(await r.text()).toBe("");
      expect(r.headers.get("etag")).toBe('"v1"');
      expect(r.headers.get("cache-status")).toContain("hit");
    }
    const changed = await fetch(url("/a"), { headers: { "if-none-match": '"v0"' } });
    expect(changed.status).toBe(200);
    expect(originHits["/a"]).toBe(1);
  });

  test("HEAD answers headers only; other methods pass through to the origin", async () => {
    const head = await fetch(url("/a"), { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("etag")).toBe('"v1"');
    expect(await head.text()).toBe("");
    const post = await fetch(url("/a"), { method: "POST", body: "x" });
    expect(post.status).toBe(200);
    expect(await post.text()).toBe("alpha body");
  });

  test("a 404 from the origin is kept for the cache's negative time; an origin 500 reaches the client as it was", async () => {
    const a = await fetch(url("/missing"));
    expect(a.status).toBe(404);
    expect(a.headers.get("cache-status")).toBe("offheap; fwd=uri-miss; fwd-status=404; stored");
    const b = await fetch(url("/missing"));
    expect(b.status).toBe(404);
    expect(b.headers.get("cache-status")).toMatch(/^offheap; hit; ttl=\d+; detail=memory$/);
    expect(originHits["/missing"]).toBe(1);
    const f = await fetch(url("/fail"));
    expect(f.status).toBe(500);
    expect(await f.text()).toBe("nope");
    expect(f.headers.get("cache-status")).toBe("offheap; fwd=uri-miss; fwd-status=500");
  });

  test("a fetcher handler: NOT_FOUND is 404, a fetcher error 502 with its code", async () => {
    const c = new TieredCache({ tiers: [new MemoryStore()] });
    const nf: Fetcher = async () => NOT_FOUND;
    const boom: Fetcher = async () => {
      throw new Error("down");
    };
    const s1 = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: c.handler(nf) });
    const s2 = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: c.handler(boom) });
    try {
      const r1 = await fetch(`http://127.0.0.1:${s1.port}/y`);
      expect(r1.status).toBe(404);
      const r2 = await fetch(`http://127.0.0.1:${s2.port}/z`);
      expect(r2.status).toBe(502);
      expect(r2.headers.get("cache-status")).toBe("offheap; fwd=uri-miss; detail=ERR_UPSTREAM");
      const post = await fetch(`http://127.0.0.1:${s1.port}/y`, { method: "POST" });
      expect(post.status).toBe(405);
    } finally {
      s1.stop(true);
      s2.stop(true);
      await c.close();
    }
  });

  test("a fetcher handler: timeouts answer 504", async () => {
    const slow = new TieredCache({ tiers: [new MemoryStore()], timeout: 30 });
    const hang: Fetcher = () => new Promise(() => {});
    const nf: Fetcher = async () => NOT_FOUND;
    const s1 = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: slow.handler(hang) });
    const s2 = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: slow.handler(nf) });
    try {
      expect((await fetch(`http://127.0.0.1:${s1.port}/x`)).status).toBe(504);
      expect((await fetch(`http://127.0.0.1:${s2.port}/y`)).status).toBe(404);
    } finally {
      s1.stop(true);
      s2.stop(true);
      await slow.close();
    }
  });

  test("a 100 MB body streams through (miss, then file hit) with flat memory", async () => {
    async function readAll(): Promise<{ total: number; ok: boolean; peak: number; status: string | null }> {
      const res = await fetch(url("/big"));
      expect(res.status).toBe(200);
      let total = 0;
      let ok = true;
      let peak = process.memoryUsage.rss();
      let n = 0;
      for await (const chunk of res.body!) {
        // Every byte of the i-th 64 KiB block is i & 0xff: check the first byte of each block seen.
        const first = Math.floor(total / CHUNK) & 0xff;
        if (chunk[0] !== first && total % CHUNK === 0) ok = false;
        total += chunk.length;
        if (++n % 64 === 0) {
          // Collect the chunks already consumed (garbage, not retained), so RSS shows what is held.
          Bun.gc(true);
          peak = Math.max(peak, process.memoryUsage.rss());
        }
      }
      return { total, ok, peak, status: res.headers.get("cache-status") };
    }
    Bun.gc(true);
    const base = process.memoryUsage.rss();
    const miss = await readAll();
    expect(miss.total).toBe(BIG);
    expect(miss.ok).toBe(true);
    expect(miss.status).toContain("fwd=uri-miss");
    const hit = await readAll();
    expect(hit.total).toBe(BIG);
    expect(hit.ok).toBe(true);
    expect(hit.status).toContain("detail=file");
    expect(originHits["/big"]).toBe(1);
    const growth = Math.max(miss.peak, hit.peak) - base;
    // Buffering the body whole would add at least 100 MB; streaming stays far below.
    expect(growth).toBeLessThan(40 * 1024 * 1024);
  }, 60_000);
});
