// MemoryStore({ path }): the top tier in a shared cache file, one for every process.
import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { MemoryStore, TieredCache } from "../../src/tiered/index.ts";
import { bytes, expectCode, pattern, ROOT, runScript, tempDir, text, writeScript } from "../helpers/index.ts";
import { put, storeContract } from "../contracts/store.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const dir = tempDir();
afterAll(() => dir.remove());
let n = 0;

describe("MemoryStore over a shared file", () => {
  storeContract(() => new MemoryStore({ path: dir.file(`store-${n++}`), maxBytes: 8 << 20 }), { test });

  test("two stores on one path are one tier: what one writes the other reads, and stats are the file's", async () => {
    const path = dir.file("one-tier");
    using a = new MemoryStore({ path, maxBytes: 4 << 20 });
    using b = new MemoryStore({ path });
    await put(a, "k", pattern(20_000, 5), { etag: '"v1"', contentType: "application/octet-stream", cachedAt: 77 });
    const e = b.get("k")!;
    expect(e.meta).toEqual({ etag: '"v1"', contentType: "application/octet-stream", cachedAt: 77, size: 20_000 });
    expect(await bytes(e.body)).toEqual(pattern(20_000, 5));
    expect(b.delete("k")).toBe(true);
    expect(a.get("k")).toBeUndefined();
    expect(a.stats()).toMatchObject({ hits: 1, misses: 1, entries: 0 });
    expect(b.stats().maxBytes).toBe(4 << 20);
  });

  test("bodies up to maxBytes / 16 are kept; larger ones are ERR_TOO_LARGE from write; options that differ are ERR_MISMATCH", async () => {
    const path = dir.file("limits");
    using s = new MemoryStore({ path, maxBytes: 1 << 20 });
    await put(s, "fits", pattern((1 << 20) / 16 - 2048));
    expect(s.get("fits")).toBeDefined();
    const w = s.writer("big", { cachedAt: 1 });
    await expectCode(() => w.write(new Uint8Array((1 << 20) / 16)), "ERR_TOO_LARGE");
    await expectCode(() => new MemoryStore({ path, maxBytes: 2 << 20 }), "ERR_MISMATCH");
    await expectCode(() => new MemoryStore({ path, policy: "lru" }), "ERR_MISMATCH");
    await expectCode(() => new MemoryStore({ path: "" }), "ERR_INVALID");
  });

  test("a TieredCache in each of two processes over one path: the second one's get is a memory hit, no origin fetch", async () => {
    const path = dir.file("fleet");
    const script = writeScript(
      dir.path,
      "tiered",
      `import { MemoryStore, TieredCache } from "${ROOT}/src/tiered/index.ts";
       const cache = new TieredCache({ tiers: [new MemoryStore({ path: process.argv[2], maxBytes: 4 << 20 })], fresh: 60_000 });
       let fetches = 0;
       const r = await cache.get("/item", async () => { fetches++; return { body: new Response("from origin").body, etag: '"1"' }; });
       console.log(r.status, await new Response(r.body).text(), fetches);
       await cache.close();`,
    );
    const first = await runScript(script, [path]);
    expect(first.stdout).toEqual(["miss from origin 1"]);
    const second = await runScript(script, [path]);
    expect(second.stdout).toEqual(["hit from origin 0"]);
    // And this process sees it too.
    await using cache = new TieredCache({ tiers: [new MemoryStore({ path })], fresh: 60_000 });
    const r = await cache.get("/item", async () => {
      throw new Error("no fetch expected");
    });
    expect(r.status).toBe("hit");
    expect(await text(r.body)).toBe("from origin");
  });
});
