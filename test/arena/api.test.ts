import { describe, expect, test, setDefaultTimeout } from "bun:test";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { ArenaCache, codecs, type Codec, MAX_KEY_BYTES } from "../../src/arena/index.ts";
import { OffheapError } from "../../src/errors.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const code = (c: string) => expect.objectContaining({ code: c });

describe("basics", () => {
  test("bytes codec is the default and get returns a copy", () => {
    using c = new ArenaCache({ maxBytes: 1 << 16 });
    const v = new Uint8Array([1, 2, 3]);
    expect(c.set("a", v)).toBe(true);
    v[0] = 9; // the cache copied on set
    const got = c.get("a")!;
    expect([...got]).toEqual([1, 2, 3]);
    got[1] = 7; // and on get
    expect([...c.get("a")!]).toEqual([1, 2, 3]);
    expect(c.size).toBe(1);
    expect(c.bytes).toBe(ArenaCache.entryBytes(1, 3));
  });

  test("string, json and custom codecs round-trip", () => {
    using s = new ArenaCache<string>({ maxBytes: 1 << 16, codec: codecs.string });
    s.set("k", "héllo ✓ 🎉");
    expect(s.get("k")).toBe("héllo ✓ 🎉");
    // A leading U+FEFF is data, not a byte-order mark to drop.
    s.set("bom", "\ufeffabc");
    expect(s.get("bom")).toBe("\ufeffabc");
    using j = new ArenaCache<{ a: number[]; b: string | null }>({ maxBytes: 1 << 16, codec: codecs.json });
    j.set("k", { a: [1, 2], b: null });
    expect(j.get("k")).toEqual({ a: [1, 2], b: null });
    const f64: Codec<number> = {
      name: "f64",
      encode: (v) => new Uint8Array(new Float64Array([v]).buffer),
      decode: (b) => new Float64Array(b.slice().buffer)[0]!,
    };
    using n = new ArenaCache<number>({ maxBytes: 1 << 16, codec: f64 });
    n.set("pi", Math.PI);
    expect(n.get("pi")).toBe(Math.PI);
    expect(() => j.set("u", undefined as never)).toThrow(code("ERR_INVALID"));
    expect(() => s.set("x", 5 as never)).toThrow(code("ERR_INVALID"));
  });

  test("peek is not a use; has and delete", () => {
    using c = new ArenaCache<string>({ maxBytes: 1 << 16, codec: codecs.string });
    c.set("a", "1");
    expect(c.peek("a")).toBe("1");
    expect(c.stats().hits).toBe(0);
    expect(c.get("a")).toBe("1");
    expect(c.get("zz")).toBeUndefined();
    expect(c.stats()).toMatchObject({ hits: 1, misses: 1 });
    expect(c.has("a")).toBe(true);
    expect(c.delete("a")).toBe(true);
    expect(c.delete("a")).toBe(false);
    expect(c.has("a")).toBe(false);
    expect(c.bytes).toBe(0);
  });

  test("maxBytes is never exceeded, whatever the sizes", () => {
    const maxBytes = 20_000;
    using c = new ArenaCache({ maxBytes, maxEntries: 1000 });
    let seed = 1;
    for (let i = 0; i < 20_000; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      c.set(`k${seed % 5000}`, new Uint8Array(seed % 1500));
      if (c.bytes > maxBytes) throw new Error(`bytes ${c.bytes} > ${maxBytes} at ${i}`);
    }
    expect(c.stats().evictionsCapacity).toBeGreaterThan(0);
  });

  test("records just over half a slab (worst packing) still fit: the arena evicts to make room", () => {
    let evicted = 0;
    using c = new ArenaCache({ maxBytes: 8192, maxEntries: 64, onEvict: () => evicted++ });
    const slab = c.stats().slabBytes;
    const size = Math.floor(slab / 2) + 16;
    for (let i = 0; i < 500; i++) {
      const v = new Uint8Array(size).fill(i & 255);
      expect(c.set(`k${i}`, v)).toBe(true);
      expect(c.bytes).toBeLessThanOrEqual(8192);
      expect(c.get(`k${i}`)![size - 1]).toBe(i & 255);
    }
    for (let i = 0; i < 500; i++) {
      const v = c.peek(`k${i}`);
      if (v) expect(v.every((b) => b === (i & 255))).toBe(true);
    }
    expect(c.size).toBeGreaterThan(0);
    expect(evicted).toBe(500 - c.size);
  });

  test("a value that can never fit: set returns false and drops the old value", () => {
    const seen: string[] = [];
    using c = new ArenaCache({ maxBytes: 4096, onEvict: (k, _v, r) => seen.push(`${k}:${r}`) });
    expect(c.set("k", new Uint8Array(10))).toBe(true);
    expect(c.set("k", new Uint8Array(5000))).toBe(false);
    expect(c.get("k")).toBeUndefined();
    expect(seen).toEqual(["k:deleted"]);
    expect(c.stats().rejected).toBe(1);
    // The largest record that fits is one slab (a 24-byte header, the key, the value).
    const slab = c.stats().slabBytes;
    expect(c.set("b", new Uint8Array(slab - 24 - 1))).toBe(true);
    expect(c.set("c", new Uint8Array(slab - 24))).toBe(false);
  });
});

describe("eviction reasons", () => {
  test("capacity, expired, deleted and replaced each reach onEvict with key and value", () => {
    let now = 0;
    const seen: Array<[string, string, string]> = [];
    using c = new ArenaCache<string>({
      maxBytes: 2048,
      codec: codecs.string,
      clock: () => now,
      onEvict: (k, v, r) => seen.push([k, v, r]),
    });
    c.set("a", "1");
    c.set("a", "2");
    expect(seen).toEqual([["a", "1", "replaced"]]);
    c.delete("a");
    expect(seen.at(-1)).toEqual(["a", "2", "deleted"]);
    c.set("t", "x", { ttl: 10 });
    now = 10;
    expect(c.get("t")).toBeUndefined();
    expect(seen.at(-1)).toEqual(["t", "x", "expired"]);
    for (let i = 0; i < 100; i++) c.set(`k${i}`, "v".repeat(20));
    expect(seen.some(([, , r]) => r === "capacity")).toBe(true);
    const s = c.stats();
    expect(s.evictionsReplaced).toBe(1);
    expect(s.evictionsDeleted).toBe(1);
    expect(s.evictionsExpired).toBe(1);
    expect(s.evictionsCapacity).toBeGreaterThan(0);
    c.clear();
    expect(c.size).toBe(0);
    expect(seen.at(-1)![2]).toBe("deleted");
  });

  test("onEvict may use the cache; its errors reach the caller after the operation is done", () => {
    const c = new ArenaCache<string>({
      maxBytes: 1 << 16,
      codec: codecs.string,
      onEvict: (k, v) => {
        if (k === "boom") throw new Error("listener failed");
        c.set(`evicted:${k}`, v);
      },
    });
    c.set("a", "1");
    c.delete("a");
    expect(c.get("evicted:a")).toBe("1");
    c.set("boom", "x");
    expect(() => c.delete("boom")).toThrow("listener failed");
    expect(c.has("boom")).toBe(false);
    c.close();
  });
});

describe("ttl", () => {
  test("an expired entry is never returned, by get, peek or has", () => {
    let now = 1000;
    using c = new ArenaCache<string>({ maxBytes: 1 << 16, ttl: 100, codec: codecs.string, clock: () => now });
    c.set("default", "d");
    c.set("short", "s", { ttl: 5 });
    c.set("forever", "f", { ttl: 0 });
    now += 5;
    expect(c.peek("short")).toBeUndefined();
    expect(c.get("default")).toBe("d");
    now += 95;
    expect(c.has("default")).toBe(false);
    expect(c.get("default")).toBeUndefined();
    now += 1e9;
    expect(c.get("forever")).toBe("f");
  });

  test("expired entries are reclaimed when their generation is recycled, without reads", () => {
    let now = 0;
    using c = new ArenaCache<string>({ maxBytes: 64 << 10, maxEntries: 4096, codec: codecs.string, clock: () => now });
    for (let i = 0; i < 200; i++) c.set(`old${i}`, "x".repeat(100), { ttl: 50 });
    const before = c.bytes;
    now = 100;
    // New writes fill the head and recycle the oldest generations: expired entries are
    // dropped there instead of being moved forward.
    for (let i = 0; i < 1000; i++) c.set(`new${i % 150}`, "y".repeat(100));
    const s = c.stats();
    expect(s.evictionsExpired).toBeGreaterThan(0);
    expect(s.compactions).toBeGreaterThan(0);
    expect(s.evictionsCapacity).toBe(0);
    expect(c.bytes).toBeLessThan(before + 150 * ArenaCache.entryBytes(6, 100));
  });

  test("bad ttl is ERR_INVALID", () => {
    expect(() => new ArenaCache({ maxBytes: 4096, ttl: -1 })).toThrow(code("ERR_INVALID"));
    using c = new ArenaCache({ maxBytes: 4096 });
    expect(() => c.set("a", new Uint8Array(1), { ttl: Number.NaN })).toThrow(code("ERR_INVALID"));
  });
});

describe("getOrLoad", () => {
  test("50 concurrent callers share one load, and the value is cached", async () => {
    using c = new ArenaCache<string>({ maxBytes: 1 << 16, codec: codecs.string });
    let calls = 0;
    const { promise: gate, resolve } = Promise.withResolvers<void>();
    const loader = async (k: string) => {
      calls++;
      await gate;
      return `value of ${k}`;
    };
    const all = Promise.all(Array.from({ length: 50 }, () => c.getOrLoad("k", loader)));
    resolve();
    const values = await all;
    expect(calls).toBe(1);
    expect(new Set(values)).toEqual(new Set(["value of k"]));
    expect(c.get("k")).toBe("value of k");
    expect(await c.getOrLoad("k", loader)).toBe("value of k");
    expect(calls).toBe(1);
    expect(c.stats()).toMatchObject({ loads: 1, loadErrors: 0, loadsInFlight: 0 });
  });

  test("a rejected load reaches every caller and is not cached", async () => {
    using c = new ArenaCache<string>({ maxBytes: 1 << 16, codec: codecs.string });
    let calls = 0;
    const failing = async () => {
      calls++;
      await Bun.sleep(1);
      throw new Error("origin down");
    };
    const results = await Promise.allSettled([c.getOrLoad("k", failing), c.getOrLoad("k", failing)]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(calls).toBe(1);
    expect(c.has("k")).toBe(false);
    expect(await c.getOrLoad("k", async () => "ok")).toBe("ok");
    expect(c.stats()).toMatchObject({ loads: 2, loadErrors: 1 });
  });

  test("signal aborts one caller's wait; the load goes on for the others", async () => {
    using c = new ArenaCache<string>({ maxBytes: 1 << 16, codec: codecs.string });
    const { promise: gate, resolve } = Promise.withResolvers<void>();
    let loaderSignal: AbortSignal | undefined;
    const loader = async (_k: string, { signal }: { signal: AbortSignal }) => {
      loaderSignal = signal;
      await gate;
      return "v";
    };
    const ac = new AbortController();
    const aborted = c.getOrLoad("k", loader, { signal: ac.signal });
    const other = c.getOrLoad("k", loader);
    ac.abort(new Error("caller gave up"));
    await expect(aborted).rejects.toThrow("caller gave up");
    resolve();
    expect(await other).toBe("v");
    expect(loaderSignal!.aborted).toBe(false);
    expect(c.get("k")).toBe("v");
    // An already aborted signal rejects at once.
    await expect(c.getOrLoad("x", loader, { signal: AbortSignal.abort() })).rejects.toThrow();
  });

  test("when every caller aborts, the loader's signal aborts and nothing is cached", async () => {
    using c = new ArenaCache<string>({ maxBytes: 1 << 16, codec: codecs.string });
    let loaderSignal: AbortSignal | undefined;
    const loader = (_k: string, { signal }: { signal: AbortSignal }) =>
      new Promise<string>((resolve) => {
        loaderSignal = signal;
        setTimeout(() => resolve("late"), 20);
      });
    const ac = new AbortController();
    const p = c.getOrLoad("k", loader, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toThrow();
    expect(loaderSignal!.aborted).toBe(true);
    await Bun.sleep(40);
    expect(c.has("k")).toBe(false);
  });

  test("a set during the load wins over the load's result", async () => {
    using c = new ArenaCache<string>({ maxBytes: 1 << 16, codec: codecs.string });
    const { promise: gate, resolve } = Promise.withResolvers<void>();
    const p = c.getOrLoad("k", async () => {
      await gate;
      return "loaded";
    });
    c.set("k", "written");
    resolve();
    expect(await p).toBe("loaded");
    expect(c.get("k")).toBe("written");
  });

  test("close rejects pending loads with ERR_CLOSED", async () => {
    const c = new ArenaCache<string>({ maxBytes: 1 << 16, codec: codecs.string });
    const p = c.getOrLoad("k", () => new Promise<string>(() => {}));
    c.close();
    await expect(p).rejects.toThrow(code("ERR_CLOSED"));
  });
});

describe("keys", () => {
  test("any Unicode key, including lone surrogates and NUL, is stored exactly", () => {
    const keys = ["", "a", "\u0000", "é", "日本語", "🔑🗝️", "\ud800", "\udc00x", "a\ud83d", "\ud83d\ude00", "ß".repeat(300), "mixed ascii-ключ-鍵-🔐"];
    const seen: string[] = [];
    using c = new ArenaCache<string>({ maxBytes: 1 << 20, codec: codecs.string, onEvict: (k) => seen.push(k) });
    for (const [i, k] of keys.entries()) expect(c.set(k, `v${i}`)).toBe(true);
    expect(c.size).toBe(keys.length);
    for (const [i, k] of keys.entries()) expect(c.get(k)).toBe(`v${i}`);
    // Lone surrogates don't collapse into U+FFFD: distinct keys stay distinct.
    expect(c.get("\ufffd")).toBeUndefined();
    for (const k of keys) c.delete(k);
    expect(seen).toEqual(keys);
  });

  test("keys up to MAX_KEY_BYTES work; one byte more is ERR_TOO_LARGE", () => {
    using c = new ArenaCache<string>({ maxBytes: 4 << 20, codec: codecs.string });
    const ascii = "k".repeat(MAX_KEY_BYTES);
    const multi = "€".repeat(MAX_KEY_BYTES / 3); // 3 bytes each: exactly the limit
    expect(c.set(ascii, "a")).toBe(true);
    expect(c.set(multi, "m")).toBe(true);
    expect(c.get(ascii)).toBe("a");
    expect(c.get(multi)).toBe("m");
    const tooLong = `${ascii}k`;
    for (const op of [() => c.set(tooLong, "x"), () => c.get(tooLong), () => c.has(tooLong), () => c.delete(tooLong), () => c.peek(`${multi}é`)]) {
      expect(op).toThrow(code("ERR_TOO_LARGE"));
    }
    try {
      c.get(tooLong);
    } catch (e) {
      expect((e as OffheapError).message).toContain(`${MAX_KEY_BYTES}`);
      expect((e as OffheapError).message).toContain(`${MAX_KEY_BYTES + 1}`);
    }
  });

  test("a non-string key is ERR_INVALID", () => {
    using c = new ArenaCache({ maxBytes: 4096 });
    expect(() => c.get(1 as never)).toThrow(code("ERR_INVALID"));
  });
});

describe("metrics", () => {
  test("Prometheus text parses line by line in the exposition format", () => {
    using c = new ArenaCache<string>({ maxBytes: 4096, codec: codecs.string });
    c.set("a", "1");
    c.get("a");
    c.get("b");
    c.set("a", "2");
    c.delete("a");
    for (let i = 0; i < 100; i++) c.set(`k${i}`, "x".repeat(30));
    const text = c.metrics();
    expect(text.endsWith("\n")).toBe(true);
    // Parsed by a real Prometheus text parser; each family typed, counters named _total.
    const families = parsePrometheusTextFormat(text) as { name: string; type: string; metrics: { value: string; labels?: Record<string, string> }[] }[];
    const values = new Map<string, number>();
    for (const f of families) {
      expect([f.name, f.type === "COUNTER"]).toEqual([f.name, f.name.endsWith("_total")]);
      for (const m of f.metrics) {
        expect(m.labels?.structure).toBe("arena");
        values.set(`${f.name}${m.labels?.reason === undefined ? "" : `{reason="${m.labels.reason}"}`}`, Number(m.value));
      }
    }
    const s = c.stats();
    expect(values.get("offheap_arena_hits_total")).toBe(1);
    expect(values.get("offheap_arena_misses_total")).toBe(1);
    expect(values.get('offheap_arena_evictions_total{reason="replaced"}')).toBe(1);
    expect(values.get('offheap_arena_evictions_total{reason="deleted"}')).toBe(1);
    expect(values.get('offheap_arena_evictions_total{reason="capacity"}')).toBe(s.evictionsCapacity);
    expect(values.get('offheap_arena_evictions_total{reason="expired"}')).toBe(0);
    expect(values.get("offheap_arena_entries")).toBe(s.entries);
    expect(values.get("offheap_arena_bytes")).toBe(s.bytes);
    for (const v of Object.values(s)) expect(typeof v).toBe("number");
  });
});

describe("lifecycle and errors", () => {
  test("close is idempotent; every later call is ERR_CLOSED", async () => {
    const c = new ArenaCache({ maxBytes: 4096 });
    c.close();
    c.close();
    for (const op of [() => c.get("a"), () => c.set("a", new Uint8Array(1)), () => c.has("a"), () => c.delete("a"), () => c.clear(), () => c.stats(), () => c.size, () => c.bytes, () => c.metrics()]) {
      expect(op).toThrow(code("ERR_CLOSED"));
    }
    await expect(c.getOrLoad("a", async () => new Uint8Array(1))).rejects.toThrow(code("ERR_CLOSED"));
  });

  test("Symbol.dispose closes", () => {
    let outer: ArenaCache | undefined;
    {
      using c = new ArenaCache({ maxBytes: 4096 });
      outer = c;
    }
    expect(() => outer!.get("a")).toThrow(code("ERR_CLOSED"));
  });

  test("bad options are ERR_INVALID; an arena beyond 4 GiB per stripe is ERR_TOO_LARGE", () => {
    for (const o of [
      { maxBytes: 0 },
      { maxBytes: 1.5 },
      { maxBytes: 32 },
      { maxBytes: 4096, policy: "fifo" },
      { maxBytes: 4096, stripes: 0 },
      { maxBytes: 4096, maxEntries: -1 },
      { maxBytes: 4096, codec: {} },
      { maxBytes: 4096, shared: "yes" },
      { maxBytes: 4096, lockTimeout: -1 },
      { maxBytes: 4096, loadLease: 0 },
      { maxBytes: 4096, clock: 5 },
      { maxBytes: 4096, onEvict: "log" },
    ]) {
      expect(() => new ArenaCache(o as never)).toThrow(code("ERR_INVALID"));
    }
    expect(() => new ArenaCache({ maxBytes: 2 ** 33, maxEntries: 16, slabBytes: 1 << 20 })).toThrow(code("ERR_TOO_LARGE"));
    // Metadata for 2^30 entries is beyond what one mapping may hold.
    expect(() => new ArenaCache({ maxBytes: 1 << 20, maxEntries: 2 ** 30 })).toThrow(code("ERR_TOO_LARGE"));
  });

  test("handle() needs shared: true; attach rejects what is not a handle (ERR_FORMAT)", () => {
    using c = new ArenaCache({ maxBytes: 4096 });
    expect(() => c.handle()).toThrow(code("ERR_INVALID"));
    expect(() => ArenaCache.attach({ kind: "nope" } as never)).toThrow(code("ERR_FORMAT"));
    using s = new ArenaCache({ maxBytes: 1 << 16, shared: true });
    const h = s.handle();
    const truncated = { ...h, shards: h.shards.map((b) => ({ ...b, meta: new SharedArrayBuffer(16) })) };
    expect(() => ArenaCache.attach(truncated)).toThrow(code("ERR_FORMAT"));
  });
});
