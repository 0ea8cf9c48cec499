import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { ArenaCache, codecs } from "../../src/arena/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

describe("shared across Workers", () => {
  test("attach gives the same cache: writes in one thread are read in another", async () => {
    using c = new ArenaCache<string>({ maxBytes: 1 << 20, shared: true, codec: codecs.string });
    c.set("from-main", "hello");
    const w = new Worker(
      URL.createObjectURL(
        new Blob(
          [
            `import { ArenaCache, codecs } from ${JSON.stringify(new URL("../../src/arena/index.ts", import.meta.url).href)};
             self.onmessage = (e) => {
               const c = ArenaCache.attach(e.data, { codec: codecs.string });
               const seen = c.get("from-main");
               c.set("from-worker", "hi back");
               postMessage({ seen, size: c.size });
               c.close();
             };`,
          ],
          { type: "text/javascript" },
        ),
      ),
    );
    const reply = new Promise<{ seen: string; size: number }>((resolve, reject) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => reject(e);
    });
    w.postMessage(c.handle());
    const r = await reply;
    w.terminate();
    expect(r).toEqual({ seen: "hello", size: 2 });
    expect(c.get("from-worker")).toBe("hi back");
    expect(c.stats().hits).toBe(2); // counters are shared too
  });

  test("a codec without decodeRange decodes outside the lock from a private copy", () => {
    using c = new ArenaCache<{ n: number }>({ maxBytes: 1 << 20, shared: true, codec: codecs.json });
    c.set("a", { n: 1 });
    const got = c.get("a")!;
    got.n = 2;
    expect(c.get("a")).toEqual({ n: 1 });
    expect(ArenaCache.attach<{ n: number }>(c.handle(), { codec: codecs.json }).peek("a")).toEqual({ n: 1 });
  });

  test("main thread and two Workers hammering one cache only ever read values written for that key", async () => {
    // Small enough that evictions and generation recycling run constantly under contention.
    using c = new ArenaCache<string>({ maxBytes: 256 << 10, shared: true, stripes: 4, codec: codecs.string });
    const ops = 200_000;
    const keys = 2_000;
    const workers = [1, 2].map(() => new Worker(new URL("./hammer-worker.ts", import.meta.url)));
    const done = workers.map(
      (w) =>
        new Promise<{ id: number; reads: number; hits: number; bad: string[] }>((resolve, reject) => {
          w.onmessage = (e) => resolve(e.data);
          w.onerror = (e) => reject(e);
        }),
    );
    const handle = c.handle();
    workers.forEach((w, i) => w.postMessage({ handle, id: i + 1, ops, keys, seed: 1234 * (i + 1) }));
    // The main thread hammers too, yielding now and then so Worker messages can arrive.
    let s = 99;
    let hits = 0;
    const bad: string[] = [];
    for (let i = 0; i < ops; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const key = `k${s % keys}`;
      if ((s >>> 8) % 3 === 0) c.set(key, `${key}|main|${i}|${"q".repeat((s >>> 12) % 200)}`);
      else {
        const v = c.get(key);
        if (v !== undefined) {
          hits++;
          if (!v.startsWith(`${key}|`)) bad.push(`${key} -> ${v.slice(0, 40)}`);
        }
      }
      if (i % 5000 === 0) await Bun.sleep(0);
    }
    const results = await Promise.all(done);
    for (const w of workers) w.terminate();
    expect(bad).toEqual([]);
    for (const r of results) expect(r.bad).toEqual([]);
    // Everyone saw real data, including entries the others wrote.
    expect(hits).toBeGreaterThan(0);
    for (const r of results) expect(r.hits).toBeGreaterThan(0);
    const st = c.stats();
    expect(st.bytes).toBeLessThanOrEqual(256 << 10);
    expect(st.evictionsCapacity).toBeGreaterThan(0);
    expect(st.compactions).toBeGreaterThan(0);
    // The index is intact: every key still present reads back consistently.
    for (let k = 0; k < keys; k++) {
      const v = c.get(`k${k}`);
      if (v !== undefined) expect(v.startsWith(`k${k}|`)).toBe(true);
    }
  });
});
