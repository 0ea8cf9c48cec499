/**
 * The bad-argument cases issue 13 named, each checked on its own (the sweep in
 * bad-arguments.test.ts covers them among thousands of others): the error, its code, a
 * message naming the argument, and that nothing was created, written or changed.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import {
  ArenaCache,
  DurableQueue,
  FileStore,
  MemoryStore,
  OffheapError,
  RecordStore,
  RedisStore,
  RingBuffer,
  TieredCache,
  codecs,
  schema,
  t,
  type Fetcher,
} from "../../src/index.ts";
import { dirSnapshot, tempDir, thrown } from "../helpers/index.ts";
import { listing } from "./sweep.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

/** The OffheapError the promise rejects with (anything else fails the test). */
async function rejected(p: () => Promise<unknown>): Promise<OffheapError> {
  try {
    await p();
  } catch (e) {
    if (e instanceof OffheapError) return e;
    throw e;
  }
  throw new Error("expected a rejection, the promise resolved");
}

const fetcher: Fetcher = async () => ({ body: "x" });

describe("paths", () => {
  test("a path with a NUL is refused before the disk is touched: no file named up to the NUL", () => {
    using dir = tempDir();
    const cut = dir.file("ring");
    for (const open of [
      () => RingBuffer.open(`${cut}\0.tail`, { recordSize: 8, capacity: 4 }),
      () => DurableQueue.open(`${cut}\0.tail`),
      () => RecordStore.open(`${cut}\0.tail`, schema({ a: t.u8 }, { name: "A", version: 1 })),
      () => FileStore.open(`${cut}\0.tail`),
    ]) {
      const e = thrown(open);
      expect(e.code).toBe("ERR_INVALID");
      expect(e.message).toContain("NUL");
    }
    expect(readdirSync(dir.path)).toEqual([]);
  });

  test("a number as a path is ERR_INVALID and creates no file named after it", () => {
    using dir = tempDir();
    const cwd = process.cwd();
    process.chdir(dir.path);
    try {
      for (const open of [
        () => RingBuffer.open(42 as unknown as string, { recordSize: 8, capacity: 4 }),
        () => DurableQueue.open(42 as unknown as string),
        () => RecordStore.open(42 as unknown as string, schema({ a: t.u8 }, { name: "A", version: 1 })),
        () => FileStore.open(42 as unknown as string),
      ]) {
        const e = thrown(open);
        expect(e.code).toBe("ERR_INVALID");
        expect(e.message).toContain("a number (42)");
      }
      expect(readdirSync(dir.path)).toEqual([]);
    } finally {
      process.chdir(cwd);
    }
  });

  test("DurableQueue.open(<a regular file>) is ERR_FORMAT naming the path, and the file is left as it was", () => {
    using dir = tempDir();
    const file = dir.file("not-a-queue");
    writeFileSync(file, "hello");
    for (const readonly of [false, true]) {
      const e = thrown(() => DurableQueue.open(file, { readonly }));
      expect(e.code).toBe("ERR_FORMAT");
      expect(e.message).toContain(file);
      expect(e.path).toBe(file);
    }
    expect(readFileSync(file, "utf8")).toBe("hello");
    expect(readdirSync(dir.path)).toEqual(["not-a-queue"]);
  });

  test("FileStore.open on a queue's directory (or any non-empty one that is not a file store) is ERR_FORMAT and writes nothing into it", () => {
    using dir = tempDir();
    const queueDir = dir.file("q");
    DurableQueue.open(queueDir, { segmentBytes: 4096 }).close();
    const before = dirSnapshot(queueDir);
    const e = thrown(() => FileStore.open(queueDir));
    expect(e.code).toBe("ERR_FORMAT");
    expect(e.message).toContain(queueDir);
    expect(dirSnapshot(queueDir)).toEqual(before);

    const other = dir.file("photos");
    mkdirSync(other);
    writeFileSync(`${other}/a.jpg`, "x");
    expect(thrown(() => FileStore.open(other)).code).toBe("ERR_FORMAT");
    expect(readdirSync(other)).toEqual(["a.jpg"]);
    expect(thrown(() => FileStore.open(`${other}/a.jpg`)).code).toBe("ERR_FORMAT");

    // An empty directory, or a missing one, becomes a store; a store reopens.
    const empty = dir.file("empty");
    mkdirSync(empty);
    FileStore.open(empty).close();
    FileStore.open(dir.file("missing")).close();
    FileStore.open(empty).close();
  });
});

describe("sizes checked up front", () => {
  test("a ring of capacity 2 ** 40 (inside the documented range) fails at once and leaves no shard file", () => {
    using dir = tempDir();
    const path = dir.file("huge.ring");
    const e = thrown(() => RingBuffer.open(path, { recordSize: 8, capacity: 2 ** 40 }));
    expect(["ERR_SYSTEM", "ERR_TOO_LARGE"]).toContain(e.code);
    expect(e.message).toContain("capacity");
    expect(readdirSync(dir.path)).toEqual([]);
    // More shards than a ring may have: ERR_TOO_LARGE before any disk question.
    const big = thrown(() => RingBuffer.open(path, { recordSize: 0x3fffffff, capacity: 2 ** 40 }));
    expect(big.code).toBe("ERR_TOO_LARGE");
    expect(big.message).toContain("65536 shards");
    expect(readdirSync(dir.path)).toEqual([]);
  });

  test("RecordStore capacity past one mapping is ERR_TOO_LARGE and creates nothing", () => {
    using dir = tempDir();
    const e = thrown(() => RecordStore.open(dir.file("r.rec"), schema({ a: t.u8 }, { name: "A", version: 1 }), { capacity: 2 ** 40 }));
    expect(e.code).toBe("ERR_TOO_LARGE");
    expect(readdirSync(dir.path)).toEqual([]);
  });
});

describe("rings and queues", () => {
  test("RingBuffer.open(p, null) and bad options are ERR_INVALID naming the option; nothing is created", () => {
    using dir = tempDir();
    const p = dir.file("r");
    expect(thrown(() => RingBuffer.open(p, null as never)).message).toContain("options must be an object");
    expect(thrown(() => RingBuffer.open(p, { recordSize: 8, capacity: 4, readonly: "yes" as never })).message).toContain("readonly");
    expect(thrown(() => RingBuffer.open(p, { recordSize: 8, capacity: 4, io: null as never })).message).toContain("io");
    expect(listing(dir.path)).toEqual([]);
  });

  test("appendMany(5) is ERR_INVALID; a batch with one bad item appends nothing (ring and queue)", () => {
    using dir = tempDir();
    using ring = RingBuffer.open(dir.file("r"), { recordSize: 8, capacity: 4 });
    using q = DurableQueue.open(dir.file("q"), { segmentBytes: 4096 });
    for (const s of [ring, q]) {
      s.append("first");
      const e = thrown(() => s.appendMany(5 as never));
      expect(e.code).toBe("ERR_INVALID");
      expect(e.message).toContain("items must be an iterable");
      const item = thrown(() => s.appendMany(["ok", 7 as never, "ok"]));
      expect(item.message).toContain("items[1]");
    }
    expect(ring.next).toBe(1);
    expect(q.length).toBe(1);
    expect(ring.append("next")).toBe(1);
    expect(q.append("next")).toBe(1);
  });

  test("getInto(id, []) is ERR_INVALID naming target, not a TypeError", () => {
    using dir = tempDir();
    using ring = RingBuffer.open(dir.file("r"), { recordSize: 8, capacity: 4 });
    ring.append("x");
    for (const target of [[], null, new Uint16Array(8)]) {
      const e = thrown(() => ring.getInto(0, target as never));
      expect(e.code).toBe("ERR_INVALID");
      expect(e.message).toContain("target must be a Uint8Array");
    }
    expect(ring.stats().gets).toBe(0);
  });
});

describe("records", () => {
  const Row = schema({ count: t.u8, price: t.f64, name: t.string(8) }, { name: "Row", version: 1 });

  test("schema(fields) without options is ERR_INVALID", () => {
    const e = thrown(() => (schema as (f: object) => unknown)({ a: t.u8 }));
    expect(e.code).toBe("ERR_INVALID");
    expect(e.message).toContain("options must be an object");
  });

  test("a view's setters check values exactly as set() does, and store nothing they refuse", () => {
    using dir = tempDir();
    using store = RecordStore.open(dir.file("r.rec"), Row);
    store.append({ count: 7, price: 1.5, name: "a" });
    const v = store.at(0);
    for (const [field, value] of [
      ["count", 300],
      ["count", -1],
      ["count", 1.5],
      ["count", "5"],
      ["price", "hot"],
      ["price", 1n],
      ["name", 5],
    ] as const) {
      const viaView = thrown(() => ((v as Record<string, unknown>)[field] = value));
      const viaSet = thrown(() => store.set(0, { [field]: value }));
      expect(viaView.code).toBe("ERR_INVALID");
      expect(viaSet.code).toBe(viaView.code);
      expect(viaView.message).toContain(`field ${field}`);
    }
    expect(thrown(() => (v.name = "x".repeat(9))).code).toBe("ERR_TOO_LARGE");
    expect(store.get(0)).toEqual({ count: 7, price: 1.5, name: "a" });
    v.count = 255;
    expect(store.get(0).count).toBe(255);
  });

  test("an unknown field in append or set is refused naming the field; nothing is written", () => {
    using dir = tempDir();
    using store = RecordStore.open(dir.file("r.rec"), Row);
    store.append({ price: 1 });
    const e = thrown(() => store.append({ prise: 5 } as never));
    expect(e.code).toBe("ERR_INVALID");
    expect(e.message).toContain('"prise"');
    expect(thrown(() => store.set(0, { price: 2, prise: 5 } as never)).message).toContain('"prise"');
    expect(store.length).toBe(1);
    expect(store.get(0).price).toBe(1);
    // A known field given as undefined is "not given", as before.
    store.set(0, { price: 3, name: undefined });
    expect(store.get(0).price).toBe(3);
  });

  test("a view after close throws ERR_CLOSED for every field kind, its index and toJSON", () => {
    using dir = tempDir();
    const store = RecordStore.open(dir.file("r.rec"), Row);
    store.append({ count: 1, price: 2, name: "n" });
    const v = store.at(0);
    const ro = RecordStore.open(dir.file("r.rec"), Row, { readonly: true });
    const rv = ro.at(0);
    store.close();
    ro.close();
    for (const view of [v, rv]) {
      for (const read of [() => view.count, () => view.price, () => view.name, () => view.index, () => view.toJSON()]) {
        expect(thrown(read).code).toBe("ERR_CLOSED");
      }
      for (const write of [() => (view.count = 2), () => (view.price = 3), () => (view.name = "m"), () => (view.index = 0)]) {
        expect(thrown(write).code).toBe("ERR_CLOSED");
      }
    }
  });
});

describe("caches", () => {
  test("the json codec on a bigint or a cycle is ERR_INVALID, in the codec and through a cache", () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    using cache = new ArenaCache<unknown>({ maxBytes: 1 << 16, codec: codecs.json });
    for (const value of [1n, { n: 2n }, cycle]) {
      const e = thrown(() => codecs.json.encode(value));
      expect(e.code).toBe("ERR_INVALID");
      expect(e.message).toContain("value");
      expect(thrown(() => cache.set("k", value)).code).toBe("ERR_INVALID");
    }
    expect(cache.size).toBe(0);
    expect(thrown(() => codecs.json.decode(new TextEncoder().encode("{"))).code).toBe("ERR_INVALID");
  });

  test("getOrLoad(k, null) rejects with ERR_INVALID naming the loader", async () => {
    using cache = new ArenaCache({ maxBytes: 1 << 16 });
    const e = await rejected(() => cache.getOrLoad("k", null as never));
    expect(e.code).toBe("ERR_INVALID");
    expect(e.message).toContain("loader must be a function");
    expect(cache.stats().loads).toBe(0);
  });

  test("tc.get(k, null) and tc.set(k, null) reject with ERR_INVALID; nothing is stored", async () => {
    await using cache = new TieredCache({ tiers: [new MemoryStore()] });
    expect((await rejected(() => cache.get("k", null as never))).message).toContain("fetcher");
    expect((await rejected(() => cache.set("k", null as never))).message).toContain("body");
    expect(cache.stats().gets).toBe(0);
    expect((await cache.get("k", fetcher)).status).toBe("miss");
  });

  test('RedisStore({ url: "x" }) and handler("x") are ERR_INVALID', async () => {
    expect(thrown(() => new RedisStore({ url: "x" })).code).toBe("ERR_INVALID");
    await using cache = new TieredCache({ tiers: [] });
    const e = thrown(() => cache.handler("x"));
    expect(e.code).toBe("ERR_INVALID");
    expect(e.message).toContain("origin");
  });

  test("a handler refuses anything but a Request, and answers 503 once the cache is closed", async () => {
    const cache = new TieredCache({ tiers: [new MemoryStore()] });
    const proxy = cache.handler("http://127.0.0.1:9/");
    const byFetcher = cache.handler(fetcher);
    for (const h of [proxy, byFetcher]) expect((await rejected(() => h("http://x/" as never))).message).toContain("req must be a Request");
    await cache.close();
    expect((await proxy(new Request("http://x/a"))).status).toBe(503);
    expect((await byFetcher(new Request("http://x/a"))).status).toBe(503);
  });

  test("a closed store is no tier", () => {
    const m = new MemoryStore();
    m.close();
    const e = thrown(() => new TieredCache({ tiers: [m] }));
    expect(e.code).toBe("ERR_INVALID");
    expect(e.message).toContain("tiers[0] is a closed memory store");
  });

  test("a store writer refuses chunks that are no Uint8Array, and is closed after commit", async () => {
    using dir = tempDir();
    using file = FileStore.open(dir.file("fs"));
    using memory = new MemoryStore();
    for (const store of [file, memory]) {
      const w = store.writer("k", { cachedAt: 1 });
      for (const chunk of ["text", [1, 2], new Uint16Array(2), null]) expect(thrown(() => w.write(chunk as never)).message).toContain("chunk must be a Uint8Array");
      await w.write(new Uint8Array([1, 2]));
      await w.commit();
      expect(thrown(() => w.write(new Uint8Array(1))).code).toBe("ERR_CLOSED");
      const e = await store.get("k");
      expect(new Uint8Array(await new Response(e!.body).arrayBuffer())).toEqual(new Uint8Array([1, 2]));
    }
    expect(existsSync(dir.file("fs", "offheap-filestore"))).toBe(true);
  });
});
