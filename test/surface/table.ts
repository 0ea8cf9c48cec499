/**
 * The public API as the argument sweep sees it: every exported class with each static,
 * constructor, method and accessor, every exported function, the handles of unexported
 * classes that public calls return (a record view, store writers, HTTP handlers), each
 * with valid arguments and the bad values to try per argument. The sweep compares this
 * table with the real prototypes and exports, so a new public member fails it until it
 * is added here.
 *
 * Rules this table encodes: a method declared `async` (or returning a promise) rejects on
 * a bad argument and never throws synchronously; every other method throws synchronously,
 * including those returning an iterator (`range`, `follow`, `[Symbol.iterator]`), which
 * check their arguments before the first `next()`.
 */
import * as api from "../../src/index.ts";
import {
  ArenaCache,
  ClockProPolicy,
  DurableQueue,
  FileStore,
  LruPolicy,
  MemoryStore,
  QueueReader,
  RecordStore,
  RedisBus,
  RedisStore,
  RingBuffer,
  S3FifoPolicy,
  S3Store,
  SievePolicy,
  TieredCache,
  codecs,
  schema,
  t,
  type EvictionPolicy,
  type Fetcher,
  type Store,
  type StoreWriter,
} from "../../src/index.ts";
import type { Ctx, Member, Param, Subject } from "./sweep.ts";
import * as bad from "./values.ts";
import { naming } from "./values.ts";

const te = new TextEncoder();
const fetcher: Fetcher = async () => ({ body: "origin body" });

// --- shared parameter shapes -----------------------------------------------------------

const id = (name: string, o: { min?: number; max?: number; required?: boolean; mention?: string } = {}): Param => ({
  name,
  bad: bad.integer({ min: o.min, max: o.max, required: o.required ?? true }),
  mention: o.mention,
});
const opt = (name: string, fields: Record<string, readonly unknown[]>, required = false): Param => ({ name, bad: bad.options(required), fields });
const pathParam = (name = "path"): Param => ({ name, bad: bad.path() });
const keyParam: Param = { name: "key", bad: bad.key() };
const metaParam: Param = { name: "meta", bad: bad.entryMeta() };
const chunkParam: Param = { name: "chunk", bad: bad.bytes() };

const lockTimeout = bad.integer({ max: 600_000 });
const followFields = { signal: bad.signal() };

// --- records ---------------------------------------------------------------------------

/** The schema of the sweep's record store: one field of most kinds. */
export const Row = schema(
  { count: t.u8, delta: t.i16, big: t.u32, price: t.f64, ratio: t.f32, id: t.u64, diff: t.i64, hot: t.bool, name: t.string(8), raw: t.bytes(4) },
  { name: "SweepRow", version: 1 },
);

/** Bad values of each field of {@link Row}, as a field (the value alone). */
const rowFieldBad: Record<string, unknown[]> = {
  count: [300, -1, 1.5, NaN, Infinity, "5", "hot", 5n, null, true, {}],
  delta: [40_000, -40_000, 0.5, NaN, "1", 1n, null],
  big: [2 ** 32, -1, 1.5, NaN, "1", 1n, null],
  price: ["hot", 1n, null, true, {}, [1]],
  ratio: ["1", 1n, null, false],
  id: [5, -1n, 2n ** 64n, "5", null, 1.5],
  diff: [5, 2n ** 63n, -(2n ** 63n) - 1n, "5", null],
  hot: [1, 0, "true", null, 1n],
  name: [5, null, true, "x".repeat(9), ["a"], 1n],
  raw: ["abc", [1, 2], null, new Uint8Array(5), new Uint16Array(1), 5],
};

/** Bad `values` objects for append/set: each names the field (or the unknown one). */
function rowValues(required: boolean): unknown[] {
  const out: unknown[] = [...bad.options(required)];
  for (const [field, values] of Object.entries(rowFieldBad)) {
    for (const v of values) out.push(naming(field, { [field]: v }, `{ ${field}: ${bad.show(v)} }`));
  }
  out.push(naming("prise", { prise: 5 }, "{ prise: 5 } (unknown field)"));
  out.push(naming("Count", { count: 1, Count: 2 }, "{ count: 1, Count: 2 } (unknown field)"));
  return out;
}

const validRow = { count: 7, delta: -3, big: 70_000, price: 1.5, ratio: 0.5, id: 9n, diff: -9n, hot: true, name: "ab", raw: new Uint8Array([1, 2]) };

// --- tiered ----------------------------------------------------------------------------

function storeMembers<S extends Store>(o: { async: boolean; closedStatsWork?: boolean }): Member<S>[] {
  const a = o.async;
  return [
    { name: "get", async: a, args: () => ["k"], params: [keyParam] },
    { name: "stat", async: a, args: () => ["k"], params: [keyParam] },
    { name: "writer", args: () => ["w", { cachedAt: 1 }], params: [keyParam, metaParam] },
    { name: "delete", async: a, args: () => ["nothing"], params: [keyParam] },
    { name: "touch", async: a, args: () => ["k", { cachedAt: 2, etag: '"e"' }], params: [keyParam, metaParam] },
    { name: "stats" },
    { name: "close", afterClose: "works" },
    { name: "closed", kind: "getter", afterClose: "works" },
  ];
}

async function seedStore(s: Store): Promise<void> {
  const w = s.writer("k", { cachedAt: 1, etag: '"e"' });
  await w.write(te.encode("stored body"));
  await w.commit();
}

async function readBack(s: Store, key: string): Promise<string> {
  const e = await s.get(key);
  if (e === undefined) throw new Error(`${key} is not there`);
  return new Response(e.body).text();
}

function writerSubject(name: string, open: (ctx: Ctx) => Store | Promise<Store>, o: { async: boolean; internal?: Record<string, string> }): Subject<{ store: Store; w: StoreWriter }> {
  return {
    name,
    surface: (h) => Object.getPrototypeOf(h.w) as object,
    internal: o.internal,
    async make(ctx) {
      const store = await open(ctx);
      return { store, w: store.writer("wk", { cachedAt: 1 }) };
    },
    async close(h) {
      await h.w.abort();
      await h.store.close();
    },
    async probe(h) {
      await h.w.write(te.encode("after"));
      await h.w.commit();
      if ((await readBack(h.store, "wk")) !== "after") throw new Error("the writer's body did not arrive");
    },
    members: [
      { name: "write", async: o.async, call: (h, a) => h.w.write(a[0] as Uint8Array), args: () => [te.encode("x")], params: [chunkParam] },
      { name: "commit", async: true, call: (h) => h.w.commit() },
      { name: "abort", async: true, call: (h) => h.w.abort(), afterClose: "works" },
    ],
  };
}

const tieredOptionFields = {
  tiers: [null, 5, "x", {}, [null], [5], [{}], naming("tiers[0]", [closedMemoryStore()], "[a closed MemoryStore]")],
  fresh: bad.finite(),
  negative: bad.finite(),
  staleWhileRevalidate: bad.finite(),
  staleIfError: bad.finite(),
  timeout: bad.finite(),
  workers: bad.integer({ min: 1, max: 1024 }),
  maxNegativeKeys: bad.integer(),
  clock: bad.func(false),
  bus: [null, 5, "x", {}, bad.aFunction],
  busFallbackFresh: bad.finite(),
};

function closedMemoryStore(): MemoryStore {
  const m = new MemoryStore();
  m.close();
  return m;
}

const proxyOptionFields = {
  preserveHost: bad.boolean(),
  heuristicFraction: bad.finite({ max: 1 }),
  targetedFields: [null, 5, "CDN-Cache-Control", [5], ["bad field"]],
  staleIfUnreachable: bad.finite(),
};

const requestParam: Param = { name: "req", bad: [undefined, null, 5, "http://x/", {}, new URL("http://x/")] };

// --- policies --------------------------------------------------------------------------

const POLICY_INTERNAL: Record<string, string> = {
  carve: "@internal (the state's layout, for the inherited static bytes)",
  pushHead: "TypeScript-private (LRU list)",
  unlink: "TypeScript-private (list links)",
  evictSmall: "TypeScript-private (S3-FIFO queue)",
  evictMain: "TypeScript-private (S3-FIFO queue)",
  remember: "TypeScript-private (ghost history)",
  push: "TypeScript-private (queue links)",
  runHandCold: "TypeScript-private (CLOCK-Pro hand)",
  runHandHot: "TypeScript-private (CLOCK-Pro hand)",
  runHandTest: "TypeScript-private (CLOCK-Pro hand)",
  demote: "TypeScript-private (CLOCK-Pro)",
  forceDemote: "TypeScript-private (CLOCK-Pro)",
  popPending: "TypeScript-private (CLOCK-Pro)",
  dropPending: "TypeScript-private (CLOCK-Pro)",
  link: "TypeScript-private (CLOCK-Pro ring)",
  deleteNode: "TypeScript-private (CLOCK-Pro ring)",
};

const hashParam: Param = { name: "keyHash", bad: [null, undefined, "1", NaN, 1.5, 2 ** 32, 1n, {}] };

function policySubject(cls: new (capacity: number) => EvictionPolicy, extraGetters: string[], extra: Member<EvictionPolicy>[] = []): Subject<EvictionPolicy> {
  const capacity = 8;
  return {
    name: cls.name,
    cls,
    internal: POLICY_INTERNAL,
    make() {
      const p = new cls(capacity);
      p.insert(1, 11);
      p.insert(2, 22);
      return p;
    },
    close() {},
    state: (p) => [p.size, ...extraGetters.map((g) => (p as unknown as Record<string, unknown>)[g])],
    probe(p) {
      p.touch(1);
      p.insert(3, 33);
      if (p.size !== 3) throw new Error(`size ${p.size}, expected 3`);
    },
    members: [
      { name: cls.name, kind: "constructor", args: () => [capacity], params: [id("capacity", { min: 1, max: 0x3fffffff })] },
      { name: "bytes", kind: "static", args: () => [capacity], params: [id("capacity", { min: 1, max: 0x3fffffff })] },
      { name: "size", kind: "getter", afterClose: "works" },
      ...extraGetters.map((g): Member<EvictionPolicy> => ({ name: g, kind: "getter", afterClose: "works" })),
      { name: "insert", args: () => [5, 55], params: [id("slot", { max: capacity - 1 }), hashParam], afterClose: "works" },
      { name: "touch", args: () => [1], params: [id("slot", { max: capacity - 1 })], afterClose: "works" },
      { name: "remove", args: () => [6], params: [id("slot", { max: capacity - 1 })], afterClose: "works" },
      { name: "evict", afterClose: "works" },
      { name: "clear", afterClose: "works" },
      ...extra,
    ],
  };
}

// --- the table -------------------------------------------------------------------------

/** Every subject of the sweep. */
export function subjects(): Subject<any>[] {
  return [
    // ---- RingBuffer ----
    {
      name: "RingBuffer",
      cls: RingBuffer,
      make(ctx) {
        const ring = RingBuffer.open(ctx.fresh("ring"), { recordSize: 8, capacity: 4 });
        ring.appendMany(["a", "b"]);
        return ring;
      },
      state: (r: RingBuffer) => r.stats(),
      probe(r: RingBuffer) {
        const at = r.append("probe");
        if (new TextDecoder().decode(r.get(at)) !== "probe") throw new Error("append/get after the refused calls");
      },
      members: [
        {
          name: "open",
          kind: "static",
          creates: true,
          args: (_r, ctx) => [ctx.fresh("new-ring"), { recordSize: 8, capacity: 4 }],
          params: [
            pathParam(),
            opt("options", {
              recordSize: [...bad.integer({ min: 1, max: 0x3fffffff }), naming("recordSize", 2 ** 31)],
              capacity: [...bad.integer({ min: 1, max: 2 ** 40 }), naming("capacity", 2 ** 40, "2 ** 40 (more than the disk holds)")],
              shards: [...bad.integer({ min: 1, max: 65_536 }), naming("shards", 5, "5 (more shards than records)")],
              io: bad.oneOf(),
              sync: bad.oneOf(),
              prefetch: bad.integer(),
              readonly: bad.boolean(),
              lockTimeout,
            }),
          ],
        },
        { name: "next", kind: "getter" },
        { name: "first", kind: "getter" },
        { name: "size", kind: "getter" },
        { name: "closed", kind: "getter", afterClose: "works" },
        { name: "append", args: () => ["x"], params: [{ name: "data", bad: [...bad.data(), naming("recordSize", "x".repeat(9), "9 bytes (over recordSize)")] }] },
        { name: "appendMany", args: () => [["x"]], params: [{ name: "items", bad: [...bad.items(), naming("recordSize", ["ok", "x".repeat(9)], "[ok, 9 bytes]")] }] },
        { name: "write", args: (r: RingBuffer) => [r.next - 1, "w"], params: [id("id"), { name: "data", bad: bad.data() }] },
        { name: "get", args: () => [0], params: [id("id")] },
        { name: "getInto", args: () => [0, new Uint8Array(8)], params: [id("id"), { name: "target", bad: bad.bytes() }] },
        { name: "delete", args: () => [0], params: [id("id")] },
        { name: "range", args: () => [0, 2], params: [id("from", { required: false }), id("to", { required: false })] },
        { name: "follow", args: () => [0, {}], params: [id("from", { required: false }), opt("options", { ...followFields, onLap: bad.oneOf() })] },
        { name: "sync" },
        { name: "stats" },
        { name: "close", afterClose: "works" },
        { name: Symbol.dispose, afterClose: "works" },
      ],
    } satisfies Subject<RingBuffer>,

    // ---- DurableQueue ----
    {
      name: "DurableQueue",
      cls: DurableQueue,
      make(ctx) {
        const q = DurableQueue.open(ctx.fresh("queue"), { segmentBytes: 4096 });
        q.appendMany(["a", "b", "c"]);
        return q;
      },
      state: (q: DurableQueue) => q.stats(),
      probe(q: DurableQueue) {
        const at = q.append("probe");
        if (new TextDecoder().decode(q.get(at)) !== "probe") throw new Error("append/get after the refused calls");
      },
      members: [
        {
          name: "open",
          kind: "static",
          creates: true,
          args: (_q, ctx) => [ctx.fresh("new-queue"), { segmentBytes: 4096 }],
          params: [
            pathParam("dir"),
            opt("options", {
              prefix: [...bad.string({ nonEmpty: true, noNul: true }), "a/b", ".hidden", "x".repeat(65)],
              segmentBytes: bad.integer({ min: 256, max: 2 ** 32 }),
              segmentItems: bad.integer({ min: 1, max: 2 ** 26 }),
              maxBytes: bad.integer({ min: 1 }),
              sync: bad.oneOf(),
              readonly: bad.boolean(),
              lockTimeout,
              exclusive: bad.boolean(),
            }),
          ],
        },
        { name: "first", kind: "getter" },
        { name: "next", kind: "getter" },
        { name: "length", kind: "getter" },
        { name: "bytes", kind: "getter" },
        { name: "closed", kind: "getter", afterClose: "works" },
        { name: "get", args: () => [0], params: [id("index")] },
        { name: "peek" },
        { name: "append", args: () => ["x"], params: [{ name: "data", bad: [...bad.data(), naming("segmentBytes", "x".repeat(5000), "5000 bytes (over a segment)")] }] },
        { name: "appendMany", args: () => [["x"]], params: [{ name: "items", bad: bad.items() }] },
        { name: "shift" },
        { name: "shiftMany", args: () => [0], params: [id("count")] },
        { name: "delete", args: () => [[]], params: [{ name: "index", bad: [...bad.integer({ required: true }).filter((v) => !(Array.isArray(v) && v.length === 0)), [1.5], ["1"], [null], [0, -1], [NaN]] }] },
        { name: "truncate", args: () => [0], params: [id("before", { required: false })] },
        { name: "sync" },
        { name: "reader", args: () => ["r"], params: [{ name: "name", bad: [...bad.string({ nonEmpty: true, noNul: true, required: true }), "a/b", "..", "x".repeat(65)] }] },
        { name: "follow", args: () => [0, {}], params: [id("from", { required: false }), opt("options", { ...followFields, pollMs: bad.finite({ min: 1 }) })] },
        { name: "stats" },
        { name: "close", afterClose: "works" },
        { name: Symbol.dispose, afterClose: "works" },
      ],
    } satisfies Subject<DurableQueue>,

    // ---- QueueReader ----
    {
      name: "QueueReader",
      cls: QueueReader,
      make(ctx) {
        const q = DurableQueue.open(ctx.fresh("rq"), { segmentBytes: 4096 });
        q.appendMany(["a", "b"]);
        const r = q.reader("sweep");
        return r;
      },
      state: (r: QueueReader) => r.position,
      probe(r: QueueReader) {
        const item = r.next();
        if (item === undefined || new TextDecoder().decode(item.data) !== "a") throw new Error("next after the refused calls");
        r.commit();
      },
      members: [
        { name: "position", kind: "getter" },
        { name: "seek", args: () => [0], params: [id("index")] },
        { name: "next" },
        { name: "commit" },
        { name: "follow", args: () => [{}], params: [opt("options", { ...followFields, pollMs: bad.finite({ min: 1 }) })] },
        { name: "close", afterClose: "works" },
        { name: Symbol.dispose, afterClose: "works" },
      ],
    } satisfies Subject<QueueReader>,

    // ---- RecordStore ----
    {
      name: "RecordStore",
      cls: RecordStore,
      make(ctx) {
        const s = RecordStore.open(ctx.fresh("rec"), Row, { capacity: 4 });
        s.append(validRow);
        s.append({ count: 1 });
        return s;
      },
      state: (s: RecordStore<typeof Row>) => [s.length, s.get(0), s.get(1)],
      probe(s: RecordStore<typeof Row>) {
        const i = s.append({ count: 2, name: "p" });
        s.set(i, { count: 3 });
        if (s.get(i).count !== 3 || s.get(i).name !== "p") throw new Error("append/set/get after the refused calls");
      },
      members: [
        {
          name: "open",
          kind: "static",
          creates: true,
          args: (_s, ctx) => [ctx.fresh("new-rec"), Row, { capacity: 4 }],
          params: [
            pathParam(),
            { name: "schema", bad: [...bad.object(), {}, { hash: 1 }, naming("schema", { hash: 1, layout: [] }, "{ hash, layout } (not made by schema())")] },
            opt("options", {
              capacity: [...bad.integer({ min: 1 }), naming("capacity", 2 ** 40, "2 ** 40 (more than one mapping)")],
              readonly: bad.boolean(),
              lockTimeout,
              readTimeout: bad.integer(),
              verify: bad.boolean(),
            }),
          ],
        },
        { name: "length", kind: "getter" },
        { name: "capacity", kind: "getter" },
        { name: "closed", kind: "getter", afterClose: "works" },
        { name: "append", args: () => [{ count: 1 }], params: [{ name: "values", bad: rowValues(false) }] },
        { name: "get", args: () => [0], params: [id("index", { max: 1 })] },
        { name: "getInto", args: () => [0, {}], params: [id("index", { max: 1 }), { name: "target", bad: bad.object() }] },
        { name: "getChecked", args: () => [0], params: [id("index", { max: 1 })] },
        { name: "getIntoChecked", args: () => [0, {}], params: [id("index", { max: 1 }), { name: "target", bad: bad.object() }] },
        { name: "set", args: () => [1, { count: 2 }], params: [id("index", { max: 1 }), { name: "values", bad: rowValues(true) }] },
        { name: "at", args: () => [0], params: [id("index", { max: 1 })] },
        { name: "sync" },
        { name: "stats" },
        { name: "close", afterClose: "works" },
        { name: Symbol.iterator },
        { name: Symbol.dispose, afterClose: "works" },
      ],
    } satisfies Subject<RecordStore<typeof Row>>,

    // ---- RecordView (what store.at(i) returns) ----
    {
      name: "RecordView",
      surface: (v: { view: Record<string, unknown> }) => Object.getPrototypeOf(v.view) as object,
      make(ctx) {
        const store = RecordStore.open(ctx.fresh("view"), Row, { capacity: 4 });
        store.append(validRow);
        store.append({ count: 1 });
        return { store, view: store.at(0) as unknown as Record<string, unknown> };
      },
      close: (h: { store: RecordStore<typeof Row> }) => h.store.close(),
      state: (h: { store: RecordStore<typeof Row>; view: { index: number } }) => [h.view.index, h.store.get(0), h.store.get(1), h.store.length],
      probe(h: { store: RecordStore<typeof Row>; view: Record<string, unknown> }) {
        h.view.count = 9;
        h.view.name = "v";
        if (h.store.get(0).count !== 9 || h.store.get(0).name !== "v") throw new Error("view stores after the refused ones");
      },
      members: [
        { name: "index", kind: "getter", call: (h: { view: { index: number } }) => h.view.index },
        { name: "index", kind: "setter", call: (h: { view: { index: number } }, a) => void (h.view.index = a[0] as number), args: () => [0], params: [id("index", { max: 1 })] },
        { name: "toJSON", call: (h: { view: { toJSON(): unknown } }) => h.view.toJSON() },
        ...Object.keys(Row.fields).flatMap((field): Member<{ view: Record<string, unknown> }>[] => [
          { name: field, kind: "getter", call: (h) => h.view[field] },
          {
            name: field,
            kind: "setter",
            call: (h, a) => void (h.view[field] = a[0]),
            args: () => [(validRow as Record<string, unknown>)[field]],
            params: [{ name: field, bad: [undefined, ...rowFieldBad[field]!] }],
          },
        ]),
      ],
    },

    // ---- schema(), t ----
    {
      name: "t",
      surface: () => t,
      make: () => t,
      close() {},
      members: [
        { name: "string", args: () => [4], params: [id("maxBytes", { min: 1, max: 0x3fffffff })], afterClose: "works" },
        { name: "bytes", args: () => [4], params: [id("maxBytes", { min: 1, max: 0x3fffffff })], afterClose: "works" },
      ],
    },

    // ---- ArenaCache ----
    {
      name: "ArenaCache",
      cls: ArenaCache,
      internal: {
        read: "TypeScript-private",
        store: "TypeScript-private",
        flush: "TypeScript-private",
        hashOf: "TypeScript-private",
        shardOf: "TypeScript-private",
        lock: "TypeScript-private",
        unlock: "TypeScript-private",
        check: "TypeScript-private",
        begin: "TypeScript-private",
        end: "TypeScript-private",
      },
      make() {
        const c = new ArenaCache({ maxBytes: 1 << 16 });
        c.set("a", new Uint8Array([1, 2, 3]));
        return c;
      },
      state: (c: ArenaCache) => [c.stats(), c.peek("a")],
      async probe(c: ArenaCache) {
        c.set("p", new Uint8Array([4]));
        if (c.get("p")?.[0] !== 4) throw new Error("set/get after the refused calls");
        if ((await c.getOrLoad("l", () => new Uint8Array([5])))[0] !== 5) throw new Error("getOrLoad after the refused calls");
      },
      members: [
        {
          name: "ArenaCache",
          kind: "constructor",
          args: () => [{ maxBytes: 1 << 16 }],
          params: [
            opt(
              "options",
              {
                maxBytes: [...bad.integer({ min: 1, required: true }), naming("maxBytes", 2 ** 50, "2 ** 50")],
                ttl: bad.finite(),
                policy: bad.oneOf(),
                codec: [null, 5, "json", {}, { encode: 5, decode: 5 }],
                onEvict: bad.func(false),
                shared: bad.boolean(),
                stripes: bad.integer({ min: 1, max: 256 }),
                maxEntries: bad.integer({ min: 1, max: 2 ** 30 }),
                slabBytes: bad.integer({ min: 1, max: 1 << 30 }),
                clock: bad.func(false),
                lockTimeout: bad.integer({ min: 0 }),
                loadLease: bad.integer({ min: 1 }),
              },
              true,
            ),
          ],
        },
        {
          name: "attach",
          kind: "static",
          args: () => [new ArenaCache({ maxBytes: 1 << 16, shared: true }).handle(), {}],
          params: [
            { name: "handle", bad: [...bad.object(), {}, { kind: "offheap.arena" }, { kind: "offheap.arena", version: 1, shards: [5] }] },
            opt("options", { codec: [null, 5, {}], onEvict: bad.func(false), clock: bad.func(false) }),
          ],
        },
        {
          name: "open",
          kind: "static",
          creates: true,
          args: (_c, ctx) => [ctx.fresh("new-arena"), { maxBytes: 1 << 16 }],
          params: [
            pathParam(),
            opt("options", {
              maxBytes: [...bad.integer({ min: 1 }), naming("maxBytes", 2 ** 50, "2 ** 50")],
              ttl: bad.finite(),
              policy: bad.oneOf(),
              stripes: bad.integer({ min: 1, max: 256 }),
              maxEntries: bad.integer({ min: 1, max: 2 ** 30 }),
              slabBytes: bad.integer({ min: 1, max: 1 << 30 }),
              codec: [null, 5, "json", {}, { encode: 5, decode: 5 }],
              onEvict: bad.func(false),
              clock: bad.func(false),
              lockTimeout: bad.integer({ min: 0 }),
              loadLease: bad.integer({ min: 1 }),
            }),
          ],
        },
        { name: "entryBytes", kind: "static", args: () => [1, 1], params: [id("keyBytes"), id("valueBytes")] },
        { name: "handle" },
        { name: "size", kind: "getter" },
        { name: "bytes", kind: "getter" },
        { name: "closed", kind: "getter", afterClose: "works" },
        { name: "get", args: () => ["a"], params: [{ name: "key", bad: [...bad.key(), naming("key", "k".repeat(70_000), "a key of 70000 bytes")] }] },
        { name: "peek", args: () => ["a"], params: [keyParam] },
        { name: "has", args: () => ["a"], params: [keyParam] },
        {
          name: "set",
          args: () => ["b", new Uint8Array([1]), {}],
          params: [keyParam, { name: "value", bad: bad.bytes() }, opt("options", { ttl: bad.finite() })],
        },
        { name: "delete", args: () => ["nothing"], params: [keyParam] },
        { name: "clear" },
        {
          name: "getOrLoad",
          async: true,
          args: () => ["a", () => new Uint8Array([1]), {}],
          params: [keyParam, { name: "loader", bad: bad.func() }, opt("options", { ttl: bad.finite(), signal: bad.signal() })],
        },
        { name: "stats" },
        { name: "metrics", args: () => ["arena", "offheap"], params: [{ name: "name", bad: bad.string() }, { name: "prefix", bad: [...bad.string(), "", "bad prefix", "9x"] }] },
        { name: "close", afterClose: "works" },
        { name: Symbol.dispose, afterClose: "works" },
      ],
    } satisfies Subject<ArenaCache>,

    // ---- codecs ----
    ...(["bytes", "string", "json"] as const).map((name): Subject<unknown> => {
      const codec = codecs[name];
      const sample = name === "bytes" ? new Uint8Array([1]) : name === "string" ? "s" : { a: 1 };
      const valueBad =
        name === "bytes"
          ? bad.bytes()
          : name === "string"
            ? bad.string({ required: true })
            : [undefined, 1n, { big: 1n }, bad.SYM, bad.aFunction, (() => { const c: Record<string, unknown> = {}; c.self = c; return c; })()];
      const stored = codec.encode(sample as never);
      return {
        name: `codecs.${name}`,
        surface: () => codec,
        make: () => codec,
        close() {},
        members: [
          { name: "encode", args: () => [sample], params: [{ name: "value", bad: valueBad }], afterClose: "works" },
          {
            name: "decode",
            args: () => [stored],
            params: [{ name: "bytes", bad: name === "json" ? [...bad.bytes(), naming("bytes", te.encode("{"), "the bytes of '{'")] : bad.bytes() }],
            afterClose: "works",
          },
          ...(codec.decodeRange === undefined
            ? []
            : [
                {
                  name: "decodeRange",
                  args: () => [stored, 0, stored.length],
                  params: [{ name: "buf", bad: bad.bytes() }, id("start", { max: stored.length }), id("end", { max: stored.length })],
                  afterClose: "works",
                } satisfies Member<unknown>,
              ]),
        ],
      };
    }),

    // ---- policies ----
    policySubject(LruPolicy, []),
    policySubject(SievePolicy, []),
    policySubject(S3FifoPolicy, ["smallSize", "mainSize"], [{ name: "inGhost", args: () => [1], params: [hashParam], afterClose: "works" }]),
    policySubject(ClockProPolicy, ["hotCount", "coldCount", "testCount", "coldTarget"], [{ name: "inTest", args: () => [1], params: [hashParam], afterClose: "works" }]),

    // ---- TieredCache ----
    {
      name: "TieredCache",
      cls: TieredCache,
      async make() {
        const c = new TieredCache({ tiers: [new MemoryStore()] });
        await c.set("k", "cached");
        return c;
      },
      state: (c: TieredCache) => c.stats(),
      async probe(c: TieredCache) {
        const r = await c.get("k", fetcher);
        if ((await r.text()) !== "cached") throw new Error("get after the refused calls");
        await c.set("k2", "two");
        if ((await (await c.get("k2", fetcher)).text()) !== "two") throw new Error("set/get after the refused calls");
      },
      members: [
        { name: "TieredCache", kind: "constructor", args: () => [{ tiers: [] }], params: [opt("options", tieredOptionFields, true)] },
        { name: "tiers", kind: "getter" },
        { name: "closed", kind: "getter", afterClose: "works" },
        {
          name: "get",
          async: true,
          args: () => ["k", fetcher, {}],
          params: [
            { name: "key", bad: [...bad.key(), "", naming("key", "k".repeat(5000), "a key of 5000 bytes")] },
            { name: "fetcher", bad: bad.func() },
            opt("options", { ifNoneMatch: [5, true, {}, 1n], signal: bad.signal() }),
          ],
        },
        {
          name: "writer",
          args: () => ["w", {}],
          params: [
            { name: "key", bad: [...bad.key(), ""] },
            opt("meta", { etag: [5, null, {}], contentType: [5, null], cachedAt: [NaN, "1", Infinity, null], extra: [5, null, "x".repeat(40_000)] }),
          ],
        },
        {
          name: "set",
          async: true,
          args: () => ["s", "body", {}],
          params: [
            { name: "key", bad: [...bad.key(), ""] },
            { name: "body", bad: [undefined, null, 5, true, {}, [1, 2], bad.SYM, 1n] },
            opt("meta", { etag: [5, null, {}], contentType: [5, null], cachedAt: [NaN, "1", Infinity, null], extra: [5, null, "x".repeat(40_000)] }),
          ],
        },
        { name: "delete", async: true, args: () => ["nothing"], params: [{ name: "key", bad: [...bad.key(), ""] }] },
        {
          name: "handler",
          args: () => ["http://127.0.0.1:9/", {}],
          params: [
            { name: "source", mention: "origin", bad: [undefined, null, 5, "x", "ftp://x/", "http://u:p@x/", "http://x/?q", {}, new URL("ftp://x/"), true, bad.SYM] },
            opt("options", proxyOptionFields),
          ],
        },
        { name: "stats" },
        { name: "close", afterClose: "works" },
        { name: Symbol.asyncDispose, afterClose: "works" },
      ],
    } satisfies Subject<TieredCache>,

    // ---- the handlers cache.handler() returns ----
    {
      name: "cache.handler(origin)",
      async make() {
        const c = new TieredCache({ tiers: [new MemoryStore()] });
        return { c, h: c.handler("http://127.0.0.1:9/") };
      },
      close: (x: { c: TieredCache }) => x.c.close(),
      // After close a handler answers 503 (it serves HTTP; see the named tests).
      members: [{ name: "(req)", async: true, call: (x: { h: (r: unknown) => unknown }, a) => x.h(a[0]), args: () => [new Request("http://x/")], params: [requestParam], afterClose: "works" }],
    },
    {
      name: "cache.handler(fetcher)",
      async make() {
        const c = new TieredCache({ tiers: [new MemoryStore()] });
        return { c, h: c.handler(fetcher) };
      },
      close: (x: { c: TieredCache }) => x.c.close(),
      members: [{ name: "(req)", async: true, call: (x: { h: (r: unknown) => unknown }, a) => x.h(a[0]), args: () => [new Request("http://x/k")], params: [requestParam], afterClose: "works" }],
    },

    // ---- stores ----
    {
      name: "MemoryStore",
      cls: MemoryStore,
      internal: { put: "@internal: how its writers publish", discarded: "@internal: how its writers report an abort" },
      async make() {
        const s = new MemoryStore();
        await seedStore(s);
        return s;
      },
      state: (s: MemoryStore) => s.stats(),
      async probe(s: MemoryStore) {
        if ((await readBack(s, "k")) !== "stored body") throw new Error("get after the refused calls");
      },
      members: [
        {
          name: "MemoryStore",
          kind: "constructor",
          args: () => [{}],
          params: [opt("options", { maxBytes: bad.integer({ min: 4096 }), maxEntryBytes: bad.integer(), maxEntries: bad.integer({ min: 1 }), policy: bad.oneOf() })],
        },
        { name: "size", kind: "getter" },
        { name: "bytes", kind: "getter" },
        ...storeMembers<MemoryStore>({ async: false }),
        { name: Symbol.dispose, afterClose: "works" },
      ],
    } satisfies Subject<MemoryStore>,
    writerSubject("MemoryStore writer", () => new MemoryStore(), { async: false }),

    {
      name: "FileStore",
      cls: FileStore,
      async make(ctx) {
        const s = FileStore.open(ctx.fresh("files"), { sync: "none" });
        await seedStore(s);
        return s;
      },
      state: (s: FileStore) => s.stats(),
      async probe(s: FileStore) {
        if ((await readBack(s, "k")) !== "stored body") throw new Error("get after the refused calls");
      },
      members: [
        {
          name: "open",
          kind: "static",
          creates: true,
          args: (_s, ctx) => [ctx.fresh("new-files"), {}],
          params: [
            { name: "dir", bad: bad.path() },
            opt("options", {
              maxBytes: bad.integer({ min: 1 }),
              maxEntries: bad.integer({ min: 1, max: 1 << 24 }),
              policy: bad.oneOf(),
              sync: bad.oneOf(),
              lockTimeout,
              openFiles: bad.integer({ max: 65_536 }),
              readonly: bad.boolean(),
            }),
          ],
        },
        { name: "size", kind: "getter" },
        { name: "bytes", kind: "getter" },
        ...storeMembers<FileStore>({ async: false }),
        { name: Symbol.dispose, afterClose: "works" },
      ],
    } satisfies Subject<FileStore>,
    writerSubject("FileStore writer", (ctx) => FileStore.open(ctx.fresh("wfiles"), { sync: "none" }), {
      async: false,
      internal: { writeSync: "@internal: the store's touch copies through it", commitSync: "@internal", abortSync: "@internal", bodyCrc: "@internal" },
    }),

    {
      name: "RedisStore",
      cls: RedisStore,
      internal: {
        chunkBytes: "@internal: used by its writers",
        chunkPrefix: "@internal: used by its writers",
        putChunk: "@internal: used by its writers",
        publish: "@internal: used by its writers",
        dropChunks: "@internal: used by its writers",
      },
      async make(ctx) {
        const s = new RedisStore({ url: ctx.redisUrl, prefix: `sweep-${crypto.randomUUID()}:` });
        await seedStore(s);
        return s;
      },
      state: (s: RedisStore) => s.stats(),
      async probe(s: RedisStore) {
        if ((await readBack(s, "k")) !== "stored body") throw new Error("get after the refused calls");
      },
      members: [
        {
          name: "RedisStore",
          kind: "constructor",
          args: (_s, ctx) => [{ url: ctx.redisUrl }],
          params: [
            opt("options", {
              url: [...bad.string({ nonEmpty: true }), "x", "http://x/"],
              client: [null, 5, "x", {}],
              clientOptions: [null, 5, "x"],
              prefix: bad.string({ noNul: false }),
              chunkBytes: bad.integer({ min: 1 }),
              pendingTtlMs: bad.integer(),
              graceMs: bad.integer(),
              ttlMs: bad.integer(),
            }),
          ],
        },
        { name: "client", kind: "getter", afterClose: "works" },
        ...storeMembers<RedisStore>({ async: true }),
        { name: Symbol.dispose, afterClose: "works" },
      ],
    } satisfies Subject<RedisStore>,
    writerSubject("RedisStore writer", (ctx) => new RedisStore({ url: ctx.redisUrl, prefix: `sweep-${crypto.randomUUID()}:` }), { async: true }),

    {
      name: "S3Store",
      cls: S3Store,
      internal: {
        partSize: "@internal: used by its writers",
        dataName: "@internal: used by its writers",
        sink: "@internal: used by its writers",
        publish: "@internal: used by its writers",
        discard: "@internal: used by its writers",
      },
      // No server: every refused call must fail before it reaches the network.
      make: () => new S3Store({ endpoint: "http://127.0.0.1:9", bucket: "b", accessKeyId: "a", secretAccessKey: "s" }),
      state: (s: S3Store) => s.stats(),
      members: [
        {
          name: "S3Store",
          kind: "constructor",
          args: () => [{ endpoint: "http://127.0.0.1:9", bucket: "b" }],
          params: [
            opt("options", {
              client: [null, 5, "x", {}],
              prefix: bad.string(),
              partSize: bad.integer({ min: 5 << 20 }),
              graceMs: bad.integer(),
              bucket: [5, null, {}],
              endpoint: [5, null, {}, "not a url"],
            }),
          ],
        },
        { name: "client", kind: "getter", afterClose: "works" },
        ...storeMembers<S3Store>({ async: true }),
        { name: Symbol.asyncDispose, afterClose: "works" },
      ],
    } satisfies Subject<S3Store>,

    {
      name: "RedisBus",
      cls: RedisBus,
      make: (ctx) => new RedisBus({ url: ctx.redisUrl }),
      state: (b: RedisBus) => b.stats(),
      members: [
        {
          name: "RedisBus",
          kind: "constructor",
          args: (_b, ctx) => [{ url: ctx.redisUrl }],
          params: [opt("options", { url: [...bad.string({ nonEmpty: true }), "x", "http://x/"], channel: bad.string({ nonEmpty: true }), maxPending: bad.integer({ min: 1 }), maxBackoff: bad.integer({ min: 10 }) })],
        },
        { name: "connected", kind: "getter", afterClose: "works" },
        { name: "stats" },
        {
          name: "start",
          args: () => [{ invalidate() {}, invalidateAll() {}, connection() {} }],
          params: [{ name: "listener", bad: [...bad.object(), naming("listener.invalidate", {}, "{}"), naming("listener.invalidateAll", { invalidate() {}, invalidateAll: 5 }, "{ invalidate, invalidateAll: 5 }")] }],
        },
        // Documented never to throw for a key (the cache may announce a change while it closes): a no-op after close.
        { name: "publish", args: () => ["k"], params: [keyParam], afterClose: "works" },
        { name: "close", async: true, afterClose: "works" },
      ],
    } satisfies Subject<RedisBus>,

    // ---- exported functions ----
    {
      name: "functions",
      make: () => api,
      close() {},
      members: [
        { name: "schema", args: () => [{ a: t.u8 }, { name: "S", version: 1 }], params: [{ name: "fields", bad: [...bad.object(), {}, naming("a", { a: null }), naming("a", { a: 5 }), naming("a", { a: { kind: 5 } }), naming("bad name", { "bad name": t.u8 }), naming("index", { index: t.u8 })] }, opt("options", { name: bad.string({ required: true }), version: bad.integer({ max: 0xffff_ffff, required: true }) }, true)], afterClose: "works" },
        { name: "describeRing", args: (_a, ctx) => [ringFile(ctx)], params: [pathParam()], afterClose: "works" },
        { name: "verifyRing", args: (_a, ctx) => [ringFile(ctx), () => {}], params: [pathParam(), { name: "onProgress", bad: bad.func(false) }], afterClose: "works" },
        { name: "describeQueue", args: (_a, ctx) => [queueDir(ctx)], params: [pathParam()], afterClose: "works" },
        { name: "verifyQueue", args: (_a, ctx) => [queueDir(ctx), () => {}], params: [pathParam(), { name: "onProgress", bad: bad.func(false) }], afterClose: "works" },
        { name: "describeArena", args: (_a, ctx) => [arenaFile(ctx)], params: [pathParam()], afterClose: "works" },
        { name: "describeRecords", args: (_a, ctx) => [recordFile(ctx)], params: [pathParam()], afterClose: "works" },
        { name: "verifyRecords", args: (_a, ctx) => [recordFile(ctx), () => {}], params: [pathParam(), { name: "onProgress", bad: bad.func(false) }], afterClose: "works" },
        {
          name: "createPolicy",
          args: () => ["lru", 8, {}],
          params: [{ name: "name", mention: "policy", bad: bad.oneOf(true) }, id("capacity", { min: 1, max: 0x3fffffff }), opt("options", { shared: bad.boolean(), allocate: bad.func(false) })],
          afterClose: "works",
        },
        {
          name: "attachPolicy",
          args: () => { const p = api.createPolicy("lru", 8); return ["lru", 8, p.buffer]; },
          params: [{ name: "name", mention: "policy", bad: bad.oneOf(true) }, id("capacity", { min: 1, max: 0x3fffffff }), { name: "buffer", bad: [undefined, null, 5, "x", {}, [], new Uint8Array(4), naming("buffer", new ArrayBuffer(4), "ArrayBuffer(4) (too small)")] }],
          afterClose: "works",
        },
        { name: "renderMetrics", args: () => [{}, {}], params: [{ name: "sources", bad: [...bad.object(), naming("sources.x", { x: 5 }, "{ x: 5 }"), naming("sources.x", { x: {} }, "{ x: {} }")] }, opt("options", { prefix: [...bad.string(), "", "bad prefix", "9x"] })], afterClose: "works" },
        { name: "metricsHandler", args: () => [{}, {}], params: [{ name: "sources", bad: [...bad.object(), naming("sources.x", { x: 5 }, "{ x: 5 }")] }, opt("options", { prefix: [...bad.string(), "", "bad prefix"] })], afterClose: "works" },
        { name: "describeStats", args: () => [class Mine {}, { kind: "mine", specs: {} }], params: [{ name: "ctor", bad: [undefined, null, 5, "x", true, 1n, bad.SYM] }, { name: "description", bad: [...bad.object(), naming("kind", { specs: {} }, "{ specs } (no kind)"), naming("kind", { kind: "bad kind", specs: {} }), naming("specs", { kind: "k", specs: 5 })] }], afterClose: "works" },
        { name: "ifNoneMatchMatches", args: () => ['"a"', '"a"'], params: [{ name: "ifNoneMatch", bad: [5, true, {}, [], 1n, bad.SYM] }, { name: "etag", bad: [5, null, true, {}, [], 1n] }], afterClose: "works" },
        { name: "normalizeEtag", args: () => ["v1"], params: [{ name: "etag", bad: bad.string({ required: true }) }], afterClose: "works" },
        { name: "isOffheapError", args: () => [new Error("x"), "ERR_CLOSED"], params: [{ name: "e", bad: [] }, { name: "code", bad: [null, 5, "ERR_NOPE", "", true, {}] }], afterClose: "works" },
      ],
    } satisfies Subject<typeof api>,

    // ---- the handler metricsHandler() returns ----
    {
      name: "metricsHandler()",
      make: () => api.metricsHandler({}),
      close() {},
      members: [{ name: "(req)", call: (h: (r: unknown) => unknown, a) => h(a[0]), args: () => [new Request("http://x/metrics")], params: [requestParam], afterClose: "works" }],
    },
  ];
}

function ringFile(ctx: Ctx): string {
  const p = ctx.fresh("inspect-ring");
  RingBuffer.open(p, { recordSize: 8, capacity: 2 }).close();
  return p;
}

function queueDir(ctx: Ctx): string {
  const p = ctx.fresh("inspect-queue");
  DurableQueue.open(p, { segmentBytes: 4096 }).close();
  return p;
}

function arenaFile(ctx: Ctx): string {
  const p = ctx.fresh("inspect-arena");
  ArenaCache.open(p, { maxBytes: 1 << 16 }).close();
  return p;
}

function recordFile(ctx: Ctx): string {
  const p = ctx.fresh("inspect-rec");
  RecordStore.open(p, Row, { capacity: 2 }).close();
  return p;
}

/**
 * The runtime exports of src/index.ts that are values, not classes or functions, each with
 * what it is (the sweep checks that no export is left out of the table and these lists).
 */
export const EXPORTED_VALUES: Record<string, string> = {
  ERROR_CODES: "the table of error codes",
  DEFAULT_LOCK_TIMEOUT: "a constant",
  MAX_KEY_BYTES: "a constant",
  ENTRY_OVERHEAD: "a constant",
  POLICY_NAMES: "a constant list",
  NOT_FOUND: "a fetcher's answer (a symbol)",
  NOT_MODIFIED: "a fetcher's answer (a symbol)",
  codecs: "swept as codecs.bytes, codecs.string, codecs.json",
  t: "swept as t (its field types are values; t.string and t.bytes are functions)",
};

/** Exported classes not swept, each with why. */
export const EXEMPT_CLASSES: Record<string, string> = {
  OffheapError: "the error type itself: constructing one is how offheap reports a failure",
};

