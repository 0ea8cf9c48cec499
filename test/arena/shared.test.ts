import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { ArenaCache, codecs, type ArenaHandle } from "../../src/arena/index.ts";
import { codeOf, seededRandom } from "../helpers/index.ts";
import { keysBy, stripeOf } from "./white-box.ts";

const ARENA = JSON.stringify(new URL("../../src/arena/index.ts", import.meta.url).href);
const KEYS = JSON.stringify(new URL("../../src/arena/keys.ts", import.meta.url).href);

// A Worker that attaches, takes the lock of `key`'s stripe as a call would (mid-change or
// mid-read), says "held", and stays there: blocked in Atomics.wait or spinning.
const HOLDER = `
import { ArenaCache } from ${ARENA};
import { hashKey } from ${KEYS};
self.onmessage = (e) => {
  const { handle, key, midChange, spin } = e.data;
  const c = ArenaCache.attach(handle);
  const sh = c.shardOf(hashKey(key));
  if (Atomics.compareExchange(sh.st, 0, 0, c.token) !== 0) throw new Error("stripe busy");
  if (midChange) Atomics.store(sh.st, 5, 1);
  postMessage("held");
  if (spin) for (;;) {}
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
};`;

async function holdingWorker(handle: ArenaHandle, key: string, midChange: boolean, spin: boolean): Promise<Worker> {
  const w = new Worker(URL.createObjectURL(new Blob([HOLDER], { type: "text/javascript" })));
  await new Promise<void>((resolve, reject) => {
    w.onmessage = () => resolve();
    w.onerror = (e) => reject(e);
    w.postMessage({ handle, key, midChange, spin });
  });
  return w;
}

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

  test("a Worker terminated while it holds a stripe mid-change: the next call takes over and empties that stripe", async () => {
    for (const spin of [false, true]) {
      // Were the dead holder not detected, get would wait 60 s and throw ERR_TIMEOUT.
      using c = new ArenaCache<string>({ maxBytes: 1 << 20, shared: true, stripes: 4, codec: codecs.string, lockTimeout: 60_000 });
      const keys = keysBy(c, "victim", 10).same;
      const elsewhere = Array.from({ length: 40 }, (_, i) => `e${i}`).filter((k) => stripeOf(c, k) !== stripeOf(c, "victim"));
      for (const k of keys) c.set(k, `v:${k}`);
      for (const k of elsewhere) c.set(k, "kept");
      const w = await holdingWorker(c.handle(), "victim", true, spin);
      w.terminate();
      for (const k of keys) expect(c.get(k)).toBeUndefined();
      expect(c.stats()).toMatchObject({ lockTakeovers: 1, stripeResets: 1, resetDrops: 10 });
      expect(elsewhere.length).toBeGreaterThan(0);
      for (const k of elsewhere) expect(c.get(k)).toBe("kept");
      c.set(keys[0]!, "again");
      expect(c.get(keys[0]!)).toBe("again");
    }
  });

  test("a Worker terminated mid-read: its stripe is taken over and keeps its entries", async () => {
    using c = new ArenaCache<string>({ maxBytes: 1 << 20, shared: true, stripes: 4, codec: codecs.string, lockTimeout: 60_000 });
    const keys = keysBy(c, "victim", 10).same;
    for (const k of keys) c.set(k, `v:${k}`);
    const w = await holdingWorker(c.handle(), "victim", false, false);
    w.terminate();
    for (const k of keys) expect(c.get(k)).toBe(`v:${k}`);
    expect(c.stats()).toMatchObject({ lockTakeovers: 1, stripeResets: 0 });
  });

  test("a Worker that holds a stripe and lives on is waited for up to lockTimeout: ERR_TIMEOUT, never a spin without end", async () => {
    using c = new ArenaCache<string>({ maxBytes: 1 << 20, shared: true, stripes: 4, codec: codecs.string, lockTimeout: 100 });
    const keys = keysBy(c, "victim", 2).same;
    c.set(keys[0]!, "v");
    const w = await holdingWorker(c.handle(), "victim", false, false);
    try {
      expect(codeOf(() => c.set(keys[1]!, "x"))).toBe("ERR_TIMEOUT");
      expect(codeOf(() => c.get(keys[0]!))).toBe("ERR_TIMEOUT");
    } finally {
      w.terminate();
    }
    expect(c.get(keys[0]!)).toBe("v");
  });

  test("Workers terminated at random moments while hammering: values stay right, the survivors never hang", async () => {
    using c = new ArenaCache<string>({ maxBytes: 256 << 10, shared: true, stripes: 4, codec: codecs.string });
    const handle = c.handle();
    const random = seededRandom(99);
    const start = () => {
      const w = new Worker(new URL("./hammer-worker.ts", import.meta.url));
      w.postMessage({ handle, id: 9, ops: 1e9, keys: 2_000, seed: Math.floor(random() * 1e9) });
      return w;
    };
    for (let round = 0; round < 25; round++) {
      const w = start();
      await Bun.sleep(10 + random() * 40);
      w.terminate();
      // The main thread goes on using the cache: every call answers, every value is right.
      for (let i = 0; i < 2000; i++) {
        const k = `k${i}`;
        const v = c.get(k);
        if (v !== undefined && !v.startsWith(`${k}|`)) throw new Error(`${k} -> ${v.slice(0, 40)}`);
        if (i % 7 === 0) c.set(k, `${k}|main|${round}`);
      }
    }
    const st = c.stats();
    expect(st.bytes).toBeLessThanOrEqual(256 << 10);
    // Terminations did land inside calls (about half of them do): the rounds tested recovery.
    expect(st.lockTakeovers).toBeGreaterThan(0);
  }, 60_000);

  test("at most 256 attached handles at once (ERR_FULL beyond); closing one frees its place", () => {
    using c = new ArenaCache({ maxBytes: 1 << 16, shared: true });
    const h = c.handle();
    const more: ArenaCache[] = [];
    try {
      for (let i = 0; i < 255; i++) more.push(ArenaCache.attach(h));
      expect(codeOf(() => ArenaCache.attach(h))).toBe("ERR_FULL");
      more.pop()!.close();
      more.push(ArenaCache.attach(h));
    } finally {
      for (const m of more) m.close();
    }
  });
});

