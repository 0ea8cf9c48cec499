import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { chunkedStream, deferred, expectCode, tempDir, text, until } from "../helpers/index.ts";
import { FileStore, MemoryStore, NOT_FOUND, NOT_MODIFIED, TieredCache, type FetchContext, type Fetcher, type FetchResult, type Store, type TieredCacheOptions } from "../../src/tiered/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

/** A cache over memory + file tiers with a hand-driven clock. */
function setup(options: Partial<TieredCacheOptions> = {}) {
  const dir = tempDir("offheap-tiered-");
  const clock = { now: 1_000_000 };
  const memory = new MemoryStore({ maxBytes: 8 << 20 });
  const file = FileStore.open(dir.path, { maxBytes: 64 << 20, sync: "none" });
  const cache = new TieredCache({ tiers: [memory, file], clock: () => clock.now, ...options });
  return {
    cache,
    memory,
    file,
    clock,
    async [Symbol.asyncDispose]() {
      await cache.close();
      dir.remove();
    },
  };
}

/** An origin with a current version per key, counting calls. */
function origin(initial: Record<string, { body: string; etag: string }>) {
  const data = new Map(Object.entries(initial));
  const calls: FetchContext[] = [];
  const fetcher: Fetcher = async (ctx) => {
    calls.push(ctx);
    const v = data.get(ctx.key);
    if (v === undefined) return NOT_FOUND;
    if (ctx.etag !== undefined && ctx.etag === `"${v.etag}"`) return NOT_MODIFIED;
    return { body: v.body, etag: v.etag, contentType: "text/plain" };
  };
  return { data, calls, fetcher };
}

describe("TieredCache semantics", () => {
  test("fresh hit: served from the top tier without a fetch", async () => {
    await using s = setup({ fresh: 10_000 });
    const o = origin({ "/a": { body: "alpha", etag: "v1" } });
    const first = await s.cache.get("/a", o.fetcher);
    expect(first.status).toBe("miss");
    expect(await text(first.body)).toBe("alpha");
    s.clock.now += 5_000;
    const second = await s.cache.get("/a", o.fetcher);
    expect(second.status).toBe("hit");
    expect(second.source).toBe("memory");
    expect(second.meta.etag).toBe('"v1"');
    expect(second.meta.contentType).toBe("text/plain");
    expect(await text(second.body)).toBe("alpha");
    expect(o.calls.length).toBe(1);
  });

  test("stale hit is served at once, with one background refresh per key", async () => {
    await using s = setup({ fresh: 1_000, staleWhileRevalidate: 60_000 });
    await s.cache.set("/a", "old", { etag: "v1" });
    s.clock.now += 2_000;
    const gate = deferred();
    let calls = 0;
    const fetcher: Fetcher = async () => {
      calls++;
      await gate.promise;
      return { body: "new", etag: "v2" };
    };
    // The origin has not answered yet, and still every get returns the old body.
    for (let i = 0; i < 5; i++) {
      const r = await s.cache.get("/a", fetcher);
      expect(r.status).toBe("stale");
      expect(await text(r.body)).toBe("old");
    }
    await until(() => calls === 1, "the refresh started");
    expect(calls).toBe(1);
    gate.resolve();
    await until(() => s.cache.stats().refreshRunning === 0, "the refresh finished");
    const r = await s.cache.get("/a", fetcher);
    expect(r.status).toBe("hit");
    expect(r.meta.etag).toBe('"v2"');
    expect(await text(r.body)).toBe("new");
    expect(calls).toBe(1);
  });

  test("background refreshes are bounded by workers", async () => {
    await using s = setup({ fresh: 1_000, staleWhileRevalidate: 60_000, workers: 2 });
    for (let i = 0; i < 6; i++) await s.cache.set(`/k${i}`, `v${i}`);
    s.clock.now += 2_000;
    const gate = deferred();
    let running = 0;
    let most = 0;
    let started = 0;
    const fetcher: Fetcher = async ({ key }) => {
      started++;
      running++;
      most = Math.max(most, running);
      await gate.promise;
      running--;
      return { body: `fresh ${key}` };
    };
    for (let i = 0; i < 6; i++) expect((await s.cache.get(`/k${i}`, fetcher)).status).toBe("stale");
    await until(() => started === 2, "two refreshes started");
    expect(s.cache.stats().refreshQueued).toBe(4);
    gate.resolve();
    await until(() => s.cache.stats().refreshRunning === 0 && s.cache.stats().refreshQueued === 0, "all refreshes done");
    expect(started).toBe(6);
    expect(most).toBe(2);
    expect(await text((await s.cache.get("/k5", fetcher)).body)).toBe("fresh /k5");
  });

  test("a refresh answered NOT_MODIFIED renews cachedAt in every tier", async () => {
    await using s = setup({ fresh: 1_000, staleWhileRevalidate: 60_000 });
    await s.cache.set("/a", "body", { etag: "v1" });
    const t0 = s.clock.now;
    s.clock.now += 5_000;
    const o = origin({ "/a": { body: "body", etag: "v1" } });
    expect((await s.cache.get("/a", o.fetcher)).status).toBe("stale");
    await until(() => s.cache.stats().refreshRunning === 0 && o.calls.length === 1, "refresh done");
    expect(o.calls[0]!.etag).toBe('"v1"');
    expect((await s.memory.stat("/a"))!.cachedAt).toBe(t0 + 5_000);
    expect(s.file.stat("/a")!.cachedAt).toBe(t0 + 5_000);
    const r = await s.cache.get("/a", o.fetcher);
    expect(r.status).toBe("hit");
    expect(await text(r.body)).toBe("body");
  });

  test("an expired entry is revalidated in the foreground; NOT_MODIFIED serves it as a hit", async () => {
    await using s = setup({ fresh: 1_000 });
    await s.cache.set("/a", "body", { etag: "v1" });
    s.clock.now += 5_000;
    const o = origin({ "/a": { body: "body", etag: "v1" } });
    const r = await s.cache.get("/a", o.fetcher);
    expect(r.status).toBe("hit");
    expect(r.revalidated).toBe(true);
    expect(r.meta.cachedAt).toBe(s.clock.now);
    expect(await text(r.body)).toBe("body");
    o.data.set("/a", { body: "changed", etag: "v2" });
    s.clock.now += 5_000;
    const r2 = await s.cache.get("/a", o.fetcher);
    expect(r2.status).toBe("miss");
    expect(await text(r2.body)).toBe("changed");
  });

  test("revalidation renews only the version the origin confirmed; other versions in other tiers stay as they are", async () => {
    await using s = setup({ fresh: 1_000 });
    const old = s.clock.now;
    const fw = s.file.writer("/x", { cachedAt: old, etag: '"b"' });
    fw.write(new TextEncoder().encode("version b"));
    await fw.commit();
    const mw = s.memory.writer("/x", { cachedAt: old, etag: '"a"' });
    await mw.write(new TextEncoder().encode("version a"));
    await mw.commit();
    s.clock.now += 5_000;
    const seen: Array<string | undefined> = [];
    const r = await s.cache.get("/x", async ({ etag }) => {
      seen.push(etag);
      return NOT_MODIFIED;
    });
    expect(seen).toEqual(['"a"']);
    expect(r.status).toBe("hit");
    expect(r.revalidated).toBe(true);
    expect(await text(r.body)).toBe("version a");
    expect((await s.memory.stat("/x"))!.cachedAt).toBe(s.clock.now);
    expect(s.file.stat("/x")).toEqual({ cachedAt: old, etag: '"b"', size: 9 });
  });

  test("staleIfError serves stale data when the origin fails, within its bound, and only then", async () => {
    await using s = setup({ fresh: 1_000, staleIfError: 10_000 });
    await s.cache.set("/a", "old", { etag: "v1" });
    const failing: Fetcher = async () => {
      throw new Error("origin down");
    };
    s.clock.now += 5_000; // expired, within fresh + staleIfError
    const r = await s.cache.get("/a", failing);
    expect(r.status).toBe("stale");
    expect(await text(r.body)).toBe("old");
    // The origin works: the new body is served, not the stale one.
    const ok: Fetcher = async () => ({ body: "new", etag: "v2" });
    const r2 = await s.cache.get("/a", ok);
    expect(r2.status).toBe("miss");
    expect(await text(r2.body)).toBe("new");
    // Past the bound: the error surfaces.
    await s.cache.set("/b", "old-b", { etag: "v1" });
    s.clock.now += 20_000;
    await expect(s.cache.get("/b", failing)).rejects.toThrow("origin down");
  });

  test("staleIfError holds for every caller that waited on the failing revalidation", async () => {
    await using s = setup({ fresh: 1_000, staleIfError: 10_000 });
    await s.cache.set("/a", "old");
    s.clock.now += 5_000;
    const gate = deferred();
    let calls = 0;
    const failing: Fetcher = async () => {
      calls++;
      await gate.promise;
      throw new Error("origin down");
    };
    const gets = Array.from({ length: 4 }, () => s.cache.get("/a", failing));
    gate.resolve();
    const results = await Promise.all(gets);
    expect(calls).toBe(1);
    expect(results.map((r) => r.status)).toEqual(["stale", "stale", "stale", "stale"]);
    expect(await Promise.all(results.map((r) => text(r.body)))).toEqual(["old", "old", "old", "old"]);
  });

  test("without staleIfError, an origin failure on an expired entry is an error", async () => {
    await using s = setup({ fresh: 1_000 });
    await s.cache.set("/a", "old");
    s.clock.now += 2_000;
    await expect(s.cache.get("/a", async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
  });

  test("NOT_FOUND is cached for `negative` ms", async () => {
    await using s = setup({ negative: 5_000 });
    const o = origin({});
    const r = await s.cache.get("/missing", o.fetcher);
    expect(r.status).toBe("not-found");
    expect(r.body).toBeNull();
    s.clock.now += 4_000;
    const r2 = await s.cache.get("/missing", o.fetcher);
    expect(r2.status).toBe("not-found");
    expect(r2.source).toBe("negative");
    expect(o.calls.length).toBe(1);
    s.clock.now += 2_000;
    o.data.set("/missing", { body: "here now", etag: "v1" });
    const r3 = await s.cache.get("/missing", o.fetcher);
    expect(r3.status).toBe("miss");
    expect(await text(r3.body)).toBe("here now");
    expect(o.calls.length).toBe(2);
  });

  test("maxNegativeKeys bounds the negative cache; the oldest are forgotten first", async () => {
    await using s = setup({ negative: 60_000, maxNegativeKeys: 3 });
    const o = origin({});
    for (const k of ["/a", "/b", "/c", "/d"]) await s.cache.get(k, o.fetcher);
    expect(s.cache.stats().negativeKeys).toBe(3);
    expect((await s.cache.get("/d", o.fetcher)).source).toBe("negative");
    expect((await s.cache.get("/a", o.fetcher)).source).toBe("origin");
  });

  test("negative: 0 disables negative caching", async () => {
    await using s = setup({ negative: 0 });
    const o = origin({});
    await s.cache.get("/x", o.fetcher);
    await s.cache.get("/x", o.fetcher);
    expect(o.calls.length).toBe(2);
  });

  test('ifNoneMatch "v1", W/"v1", a list and * answer not-modified', async () => {
    await using s = setup();
    await s.cache.set("/a", "body", { etag: '"v1"' });
    const o = origin({});
    for (const inm of ['"v1"', 'W/"v1"', '"x", "y", W/"v1"', "*", "v1"]) {
      const r = await s.cache.get("/a", o.fetcher, { ifNoneMatch: inm });
      expect([inm, r.status]).toEqual([inm, "not-modified"]);
      expect(r.body).toBeNull();
      expect(r.meta.etag).toBe('"v1"');
    }
    const other = await s.cache.get("/a", o.fetcher, { ifNoneMatch: '"v2", "v3"' });
    expect(other.status).toBe("hit");
    expect(await text(other.body)).toBe("body");
    expect(o.calls.length).toBe(0);
  });

  test("a miss whose fetched etag matches ifNoneMatch answers not-modified and still fills", async () => {
    await using s = setup();
    const o = origin({ "/a": { body: "abc", etag: "v1" } });
    const r = await s.cache.get("/a", o.fetcher, { ifNoneMatch: '"v1"' });
    expect(r.status).toBe("not-modified");
    await until(async () => (await s.memory.stat("/a")) !== undefined, "background fill published");
    const r2 = await s.cache.get("/a", o.fetcher);
    expect(r2.status).toBe("hit");
    expect(await text(r2.body)).toBe("abc");
  });

  test("20 concurrent cold gets make one origin fetch and all read the body", async () => {
    await using s = setup();
    const gate = deferred();
    let calls = 0;
    const fetcher: Fetcher = async () => {
      calls++;
      await gate.promise;
      return { body: chunkedStream(4, 10_000), etag: "v1" };
    };
    const gets = Array.from({ length: 20 }, () => s.cache.get("/hot", fetcher));
    gate.resolve();
    const results = await Promise.all(gets);
    const bodies = await Promise.all(results.map((r) => text(r.body)));
    expect(calls).toBe(1);
    expect(new Set(bodies).size).toBe(1);
    expect(bodies[0]!.length).toBe(40_000);
    expect(results.filter((r) => r.collapsed).length).toBe(19);
    const after = await s.cache.get("/hot", fetcher);
    expect(after.status).toBe("hit");
    expect(calls).toBe(1);
  });

  test("collapsed callers that come after the leader started reading wait for the published entry", async () => {
    await using s = setup();
    let calls = 0;
    const fetcher: Fetcher = async () => {
      calls++;
      return { body: chunkedStream(3, 1000), etag: "v1" };
    };
    const leader = await s.cache.get("/k", fetcher);
    const reader = leader.body!.getReader();
    await reader.read(); // the first chunk is dropped from the shared buffer after this
    await reader.read();
    const late = s.cache.get("/k", fetcher);
    for (;;) if ((await reader.read()).done) break;
    const r = await late;
    expect(r.status).toBe("hit");
    expect(r.collapsed).toBe(true);
    expect((await text(r.body)).length).toBe(3000);
    expect(calls).toBe(1);
  });

  test("a lower-tier hit is promoted into the upper tiers while it streams", async () => {
    await using s = setup();
    const o = origin({});
    await s.file.writer("/deep", { cachedAt: s.clock.now, etag: '"d1"' }).commit();
    const w = s.file.writer("/big", { cachedAt: s.clock.now });
    for (let i = 0; i < 8; i++) w.write(new Uint8Array(50_000).fill(i));
    await w.commit();
    expect(await s.memory.stat("/big")).toBeUndefined();
    const r = await s.cache.get("/big", o.fetcher);
    expect(r.status).toBe("hit");
    expect(r.source).toBe("file");
    const reader = r.body!.getReader();
    let got = 0;
    const first = await reader.read();
    got += first.value!.length;
    // Halfway: not yet in memory (published only at the end).
    expect(await s.memory.stat("/big")).toBeUndefined();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      got += value.length;
    }
    expect(got).toBe(400_000);
    const m = await s.memory.get("/big");
    expect(m).toBeDefined();
    expect(m!.meta.size).toBe(400_000);
    const again = await s.cache.get("/big", o.fetcher);
    expect(again.source).toBe("memory");
    expect((await text(again.body)).length).toBe(400_000);
    expect(o.calls.length).toBe(0);
  });

  test("a body read halfway and cancelled is never published", async () => {
    await using s = setup();
    let calls = 0;
    const fetcher: Fetcher = async () => {
      calls++;
      return { body: chunkedStream(10, 10_000), etag: "v1" };
    };
    const r = await s.cache.get("/k", fetcher);
    const reader = r.body!.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    expect(await s.memory.stat("/k")).toBeUndefined();
    expect(s.file.stat("/k")).toBeUndefined();
    expect(s.file.stats().openWriters).toBe(0);
    const r2 = await s.cache.get("/k", fetcher);
    expect(r2.status).toBe("miss");
    expect((await text(r2.body)).length).toBe(100_000);
    expect(calls).toBe(2);
    expect((await s.cache.get("/k", fetcher)).status).toBe("hit");
  });

  test("a promotion cancelled halfway publishes nothing in the upper tier", async () => {
    await using s = setup();
    const w = s.file.writer("/p", { cachedAt: s.clock.now });
    for (let i = 0; i < 4; i++) w.write(new Uint8Array(300_000).fill(i));
    await w.commit();
    const r = await s.cache.get("/p", origin({}).fetcher);
    const reader = r.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect(await s.memory.stat("/p")).toBeUndefined();
  });

  test("a delete during an in-flight fill wins", async () => {
    await using s = setup();
    const fetcher: Fetcher = async () => ({ body: chunkedStream(5, 1000), etag: "v1" });
    const r = await s.cache.get("/k", fetcher);
    const reader = r.body!.getReader();
    await reader.read();
    expect(await s.cache.delete("/k")).toBe(false);
    let n = 1000;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.length;
    }
    expect(n).toBe(5000); // the reader still gets its whole body
    expect(await s.memory.stat("/k")).toBeUndefined();
    expect(s.file.stat("/k")).toBeUndefined();
    expect(s.cache.stats().superseded).toBe(1);
  });

  test("a set during an in-flight fill wins", async () => {
    await using s = setup();
    const fetcher: Fetcher = async () => ({ body: chunkedStream(5, 1000), etag: "origin" });
    const r = await s.cache.get("/k", fetcher);
    const reader = r.body!.getReader();
    await reader.read();
    await s.cache.set("/k", "from set", { etag: "mine" });
    for (;;) if ((await reader.read()).done) break;
    const after = await s.cache.get("/k", fetcher);
    expect(after.meta.etag).toBe('"mine"');
    expect(await text(after.body)).toBe("from set");
    expect(s.file.stat("/k")!.etag).toBe('"mine"');
  });

  test("a delete while the fetcher has not answered yet wins: nothing is published, the next get fetches again", async () => {
    await using s = setup();
    const answer = deferred<FetchResult>();
    let calls = 0;
    const fetcher: Fetcher = async () => (++calls === 1 ? answer.promise : { body: "second", etag: "v2" });
    const pending = s.cache.get("/k", fetcher);
    await until(() => calls === 1, "the fetcher was called");
    await s.cache.delete("/k");
    answer.resolve({ body: "deleted value", etag: "v1" });
    const first = await pending;
    expect(await text(first.body)).toBe("deleted value"); // the caller that asked still gets it
    expect(await s.memory.stat("/k")).toBeUndefined();
    expect(s.file.stat("/k")).toBeUndefined();
    const next = await s.cache.get("/k", fetcher);
    expect(next.status).toBe("miss");
    expect(await text(next.body)).toBe("second");
  });

  test("a set while the fetcher has not answered yet wins over the fill", async () => {
    await using s = setup();
    const answer = deferred<FetchResult>();
    const fetcher: Fetcher = () => answer.promise;
    const pending = s.cache.get("/k", fetcher);
    await Bun.sleep(1);
    await s.cache.set("/k", "from set", { etag: "mine" });
    answer.resolve({ body: "from origin", etag: "origin" });
    await text((await pending).body);
    const after = await s.cache.get("/k", fetcher);
    expect(after.status).toBe("hit");
    expect(await text(after.body)).toBe("from set");
    expect(s.file.stat("/k")!.etag).toBe('"mine"');
  });

  test("a delete while the tiers are being written waits for that write, then removes the key", async () => {
    const gate = deferred();
    let committing = false;
    const slow: Store = {
      name: "slow",
      entries: new Map<string, string>(),
      get(key: string) {
        const v = (this as unknown as { entries: Map<string, string> }).entries.get(key);
        return v === undefined ? undefined : { meta: { cachedAt: 0, size: v.length }, body: new Response(v).body! };
      },
      stat: () => undefined,
      writer(key: string) {
        const entries = (this as unknown as { entries: Map<string, string> }).entries;
        let data = "";
        return {
          write: (c: Uint8Array) => void (data += new TextDecoder().decode(c)),
          commit: async () => {
            committing = true;
            await gate.promise;
            entries.set(key, data);
          },
          abort: async () => {},
        };
      },
      delete(key: string) {
        return (this as unknown as { entries: Map<string, string> }).entries.delete(key);
      },
      touch: () => false,
      stats: () => ({}),
      close: () => {},
    } as unknown as Store;
    const cache = new TieredCache({ tiers: [slow] });
    try {
      const r = await cache.get("/k", async () => ({ body: "filled" }));
      const reading = text(r.body);
      await until(() => committing, "the store's commit began");
      const deleting = cache.delete("/k");
      await Bun.sleep(5);
      gate.resolve();
      await deleting;
      await reading;
      expect((slow as unknown as { entries: Map<string, string> }).entries.has("/k")).toBe(false);
    } finally {
      await cache.close();
    }
  });

  test("a NOT_FOUND answered after a set began does not delete what the set stored", async () => {
    await using s = setup({ fresh: 0 });
    await s.cache.set("/k", "old", { etag: "v0" });
    s.clock.now += 10;
    const answer = deferred<FetchResult>();
    const pending = s.cache.get("/k", () => answer.promise);
    await Bun.sleep(1);
    await s.cache.set("/k", "new", { etag: "v1" });
    answer.resolve(NOT_FOUND);
    expect((await pending).status).toBe("not-found");
    expect(s.file.stat("/k")!.etag).toBe('"v1"');
  });

  test("bodies are checked: a fetcher body, set() body or writer chunk of another type is ERR_INVALID and stores nothing", async () => {
    await using s = setup();
    for (const bad of [5, { json: 1 }, null, undefined, true, [1, 2], Symbol("x")]) {
      await expectCode(() => s.cache.get("/f", (async () => ({ body: bad })) as unknown as Fetcher), "ERR_INVALID");
      await expectCode(() => s.cache.set("/s", bad as unknown as string), "ERR_INVALID");
    }
    await expectCode(() => s.cache.get("/f", (async () => ({ body: "x", etag: 7 })) as unknown as Fetcher), "ERR_INVALID");
    await expectCode(() => s.cache.set("/s", "x", { etag: 7 } as unknown as { etag: string }), "ERR_INVALID");
    const w = s.cache.writer("/w");
    const writer = w.getWriter();
    await expectCode(() => writer.write(42 as unknown as Uint8Array), "ERR_INVALID");
    expect(await s.memory.stat("/f")).toBeUndefined();
    expect(await s.memory.stat("/s")).toBeUndefined();
    expect(await s.memory.stat("/w")).toBeUndefined();
    expect(s.file.stat("/f")).toBeUndefined();
    expect(s.file.stat("/s")).toBeUndefined();
    expect(s.file.stat("/w")).toBeUndefined();
    // Every accepted type stores its bytes.
    for (const [i, good] of ["text", new TextEncoder().encode("bytes"), new TextEncoder().encode("buffer").buffer, new Blob(["blob"]), new Response("response")].entries()) {
      await s.cache.set(`/ok${i}`, good);
      expect((await s.memory.stat(`/ok${i}`)) !== undefined).toBe(true);
    }
  });

  test("bytes() and text() take the whole body: from the memory tier without a stream, from the others by reading it", async () => {
    await using s = setup({ fresh: 60_000 });
    const o = origin({ "/a": { body: "alpha", etag: "v1" } });
    const miss = await s.cache.get("/a", o.fetcher);
    expect(await miss.text()).toBe("alpha"); // a miss: read from the fill's stream, which publishes
    const hit = await s.cache.get("/a", o.fetcher);
    expect(hit.source).toBe("memory");
    expect(new TextDecoder().decode((await hit.bytes())!)).toBe("alpha");
    expect(hit.body).toBeNull(); // taken
    expect(await hit.bytes()).toBeNull();
    const streamed = await s.cache.get("/a", o.fetcher);
    expect(await text(streamed.body)).toBe("alpha");
    s.memory.delete("/a");
    const fromFile = await s.cache.get("/a", o.fetcher);
    expect(fromFile.source).toBe("file");
    expect(await fromFile.text()).toBe("alpha");
    const notFound = await s.cache.get("/nothing", o.fetcher);
    expect(await notFound.bytes()).toBeNull();
    expect(o.calls.length).toBe(2);
  });

  test("writer(): close publishes, abort discards", async () => {
    await using s = setup();
    const w = s.cache.writer("/w", { etag: "w1", contentType: "text/plain" });
    const wr = w.getWriter();
    await wr.write(new TextEncoder().encode("hello "));
    expect(await s.memory.stat("/w")).toBeUndefined();
    await wr.write(new TextEncoder().encode("writer"));
    await wr.close();
    const r = await s.cache.get("/w", origin({}).fetcher);
    expect(r.status).toBe("hit");
    expect(r.meta.etag).toBe('"w1"');
    expect(await text(r.body)).toBe("hello writer");

    const strings = s.cache.writer("/strings").getWriter();
    await strings.write("text chunks " as unknown as Uint8Array);
    await strings.write("are UTF-8 encoded" as unknown as Uint8Array);
    await strings.close();
    expect(await text((await s.cache.get("/strings", origin({}).fetcher)).body)).toBe("text chunks are UTF-8 encoded");

    const a = s.cache.writer("/aborted").getWriter();
    await a.write(new TextEncoder().encode("half"));
    await a.abort(new Error("changed my mind"));
    expect(await s.memory.stat("/aborted")).toBeUndefined();
    expect(s.file.stat("/aborted")).toBeUndefined();
  });

  test("fetcher errors surface and do not poison the cache", async () => {
    await using s = setup();
    let fail = true;
    const fetcher: Fetcher = async () => {
      if (fail) throw new Error("origin exploded");
      return { body: "ok" };
    };
    await expect(s.cache.get("/k", fetcher)).rejects.toThrow("origin exploded");
    fail = false;
    const r = await s.cache.get("/k", fetcher);
    expect(r.status).toBe("miss");
    expect(await text(r.body)).toBe("ok");
  });

  test("concurrent callers share a fetcher error, and the next get tries again", async () => {
    await using s = setup();
    const gate = deferred();
    let calls = 0;
    const fetcher: Fetcher = async () => {
      calls++;
      await gate.promise;
      throw new Error("shared failure");
    };
    const gets = Array.from({ length: 5 }, () => s.cache.get("/k", fetcher).then(() => "ok", (e: Error) => e.message));
    gate.resolve();
    expect(await Promise.all(gets)).toEqual(Array(5).fill("shared failure"));
    expect(calls).toBe(1);
    const r = await s.cache.get("/k", async () => ({ body: "fine" }));
    expect(await text(r.body)).toBe("fine");
  });

  test("a body stream that errors midway surfaces the error and publishes nothing", async () => {
    await using s = setup();
    const fetcher: Fetcher = async () => {
      let i = 0;
      return {
        body: new ReadableStream<Uint8Array>({
          pull(c) {
            if (i++ < 2) c.enqueue(new Uint8Array(100));
            else c.error(new Error("connection reset"));
          },
        }),
      };
    };
    const r = await s.cache.get("/k", fetcher);
    await expect(text(r.body)).rejects.toThrow("connection reset");
    expect(await s.memory.stat("/k")).toBeUndefined();
    expect(s.file.stat("/k")).toBeUndefined();
  });

  test("a fetcher that does not answer in time fails with ERR_TIMEOUT and its signal aborts", async () => {
    await using s = setup({ timeout: 50 });
    let seen: AbortSignal | undefined;
    const hang: Fetcher = ({ signal }) => {
      seen = signal;
      return new Promise(() => {});
    };
    await expectCode(() => s.cache.get("/slow", hang), "ERR_TIMEOUT");
    expect(seen?.aborted).toBe(true);
    const r = await s.cache.get("/slow", async () => ({ body: "eventually" }));
    expect(await text(r.body)).toBe("eventually");
  });

  test("the caller's signal aborts waiting for the origin", async () => {
    await using s = setup();
    const ctl = new AbortController();
    const p = s.cache.get("/k", () => new Promise(() => {}), { signal: ctl.signal });
    ctl.abort(new Error("client went away"));
    await expect(p).rejects.toThrow("client went away");
  });

  test("the first caller going away after the origin answered does not cut the body for the others", async () => {
    await using s = setup();
    let fetchSignal: AbortSignal | undefined;
    const fetcher: Fetcher = async ({ signal }) => {
      fetchSignal = signal;
      return { body: chunkedStream(6, 1000), etag: "v1" };
    };
    const ctl = new AbortController();
    const leader = await s.cache.get("/k", fetcher, { signal: ctl.signal });
    const follower = await s.cache.get("/k", fetcher);
    expect(follower.collapsed).toBe(true);
    const reader = leader.body!.getReader();
    await reader.read();
    ctl.abort(new Error("client went away"));
    await reader.cancel();
    expect(fetchSignal!.aborted).toBe(false);
    expect((await text(follower.body)).length).toBe(6000);
    expect((await s.cache.get("/k", fetcher)).status).toBe("hit");
  });

  test("a fetcher returning nonsense is ERR_INVALID; NOT_MODIFIED with nothing cached is ERR_INVALID", async () => {
    await using s = setup();
    await expectCode(() => s.cache.get("/k", (async () => ({ nobody: 1 })) as unknown as Fetcher), "ERR_INVALID");
    await expectCode(() => s.cache.get("/k", async (): Promise<FetchResult> => NOT_MODIFIED), "ERR_INVALID");
    await expectCode(() => s.cache.get("", async () => ({ body: "x" })), "ERR_INVALID");
    await expectCode(() => s.cache.get("k".repeat(5000), async () => ({ body: "x" })), "ERR_TOO_LARGE");
    expect(() => new TieredCache({ tiers: [], fresh: -1 })).toThrow("fresh");
    expect(() => new TieredCache({ tiers: [], workers: 0 })).toThrow("workers");
  });

  test("bodies too large for the memory tier stream through and land in the file tier", async () => {
    await using s = setup();
    const fetcher: Fetcher = async () => ({ body: chunkedStream(20, 100_000) });
    const r = await s.cache.get("/large", fetcher);
    expect((await text(r.body)).length).toBe(2_000_000);
    expect(await s.memory.stat("/large")).toBeUndefined();
    expect(s.file.stat("/large")?.size).toBe(2_000_000);
    const again = await s.cache.get("/large", fetcher);
    expect(again.source).toBe("file");
    expect((await text(again.body)).length).toBe(2_000_000);
  });

  test("set with every body type; set of a body no tier can hold throws the store's error", async () => {
    await using s = setup();
    const o = origin({});
    await s.cache.set("/s", "string");
    await s.cache.set("/u", new TextEncoder().encode("bytes"));
    await s.cache.set("/ab", new TextEncoder().encode("buffer").buffer as ArrayBuffer);
    await s.cache.set("/b", new Blob(["blob"]));
    await s.cache.set("/r", new Response("stream").body!);
    for (const [k, v] of [["/s", "string"], ["/u", "bytes"], ["/ab", "buffer"], ["/b", "blob"], ["/r", "stream"]] as const) {
      expect(await text((await s.cache.get(k, o.fetcher)).body)).toBe(v);
    }
    const dir = tempDir();
    const tiny = new TieredCache({ tiers: [new MemoryStore({ maxBytes: 1 << 16, maxEntryBytes: 100 }), FileStore.open(dir.path, { maxBytes: 1000, sync: "none" })] });
    await expectCode(() => tiny.set("/huge", new Uint8Array(5000)), "ERR_TOO_LARGE");
    await tiny.close();
    dir.remove();
  });

  test("after close(): ERR_CLOSED from every call; close is idempotent and closes the tiers", async () => {
    const s = setup();
    const o = origin({ "/a": { body: "a", etag: "v1" } });
    await s.cache.get("/a", o.fetcher).then((r) => text(r.body));
    await s.cache.close();
    await s.cache.close();
    expect(s.cache.closed).toBe(true);
    await expectCode(() => s.cache.get("/a", o.fetcher), "ERR_CLOSED");
    await expectCode(() => s.cache.set("/a", "x"), "ERR_CLOSED");
    await expectCode(() => s.cache.delete("/a"), "ERR_CLOSED");
    await expectCode(() => s.cache.writer("/a"), "ERR_CLOSED");
    await expectCode(() => s.cache.handler(o.fetcher), "ERR_CLOSED");
    await expectCode(() => s.memory.get("/a"), "ERR_CLOSED");
    await expectCode(() => s.file.get("/a"), "ERR_CLOSED");
    await s[Symbol.asyncDispose]();
  });

  test("close() cancels background refreshes and waits for them", async () => {
    const s = setup({ fresh: 1, staleWhileRevalidate: 60_000 });
    await s.cache.set("/a", "old");
    s.clock.now += 10;
    let aborted = false;
    const fetcher: Fetcher = ({ signal }) =>
      new Promise((_, reject) => {
        signal.addEventListener("abort", () => {
          aborted = true;
          reject(signal.reason);
        });
      });
    expect((await s.cache.get("/a", fetcher)).status).toBe("stale");
    await until(() => s.cache.stats().refreshRunning === 1, "refresh running");
    await s.cache.close();
    expect(aborted).toBe(true);
    // close() stops the background work before it closes the tiers: closed tiers mean the
    // refresh is over. The cache's own stats() is ERR_CLOSED from here on.
    expect(s.memory.closed).toBe(true);
    expect(s.file.closed).toBe(true);
    expect(() => s.cache.stats()).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
    await s[Symbol.asyncDispose]();
  });

  test("a store that fails is skipped: reads fall through, fills go to the others", async () => {
    const broken = {
      name: "broken",
      get: () => Promise.reject(new Error("down")),
      stat: () => Promise.reject(new Error("down")),
      writer: () => {
        throw new Error("down");
      },
      delete: () => Promise.reject(new Error("down")),
      touch: () => Promise.reject(new Error("down")),
      stats: () => ({ hits: 0, misses: 0, writes: 0, aborts: 0, touches: 0 }),
      close: () => {},
    };
    const dir = tempDir();
    const cache = new TieredCache({ tiers: [broken, FileStore.open(dir.path, { sync: "none" })] });
    const o = origin({ "/a": { body: "a", etag: "v1" } });
    expect(await text((await cache.get("/a", o.fetcher)).body)).toBe("a");
    const r = await cache.get("/a", o.fetcher);
    expect(r.status).toBe("hit");
    expect(r.source).toBe("file");
    expect(cache.stats().storeErrors).toBeGreaterThan(0);
    await cache.close();
    dir.remove();
  });

  test("Symbol.asyncDispose closes the cache", async () => {
    let cache: TieredCache;
    {
      await using c = new TieredCache({ tiers: [new MemoryStore()] });
      cache = c;
      expect(cache.closed).toBe(false);
    }
    expect(cache.closed).toBe(true);
  });
});
