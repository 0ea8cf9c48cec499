// The handle contract (contracts/handle.ts) over all five structures; the store contract
// runs over the four tiered stores in their own files.
import { setDefaultTimeout } from "bun:test";
import { ArenaCache, codecs } from "../../src/arena/index.ts";
import { DurableQueue } from "../../src/queue/index.ts";
import { RecordStore, schema, t } from "../../src/records/index.ts";
import { RingBuffer } from "../../src/ring/index.ts";
import { MemoryStore, TieredCache } from "../../src/tiered/index.ts";
import { handleContract } from "./handle.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

handleContract("RingBuffer", {
  open: (dir) => RingBuffer.open(dir.file("ring"), { recordSize: 32, capacity: 8 }),
  afterClose: {
    append: (r) => r.append("x"),
    appendMany: (r) => r.appendMany(["x"]),
    write: (r) => r.write(0, "x"),
    get: (r) => r.get(0),
    getInto: (r) => r.getInto(0, new Uint8Array(32)),
    range: (r) => [...r.range(0)],
    follow: (r) => r.follow(0).next(),
    sync: (r) => r.sync(),
    stats: (r) => r.stats(),
    next: (r) => r.next,
  },
  readonly: {
    open: (dir) => RingBuffer.open(dir.file("ring"), { readonly: true }),
    write: (w) => (w.append("live"), "live"),
    read: (r) => text(r.get(0)),
    writes: { append: (r) => r.append("x"), appendMany: (r) => r.appendMany(["x"]), write: (r) => r.write(5, "x") },
  },
});

handleContract("DurableQueue", {
  open: (dir) => DurableQueue.open(dir.file("queue")),
  afterClose: {
    append: (q) => q.append("x"),
    appendMany: (q) => q.appendMany(["x"]),
    get: (q) => q.get(0),
    peek: (q) => q.peek(),
    shift: (q) => q.shift(),
    delete: (q) => q.delete(0),
    truncate: (q) => q.truncate(0),
    reader: (q) => q.reader("r"),
    follow: (q) => q.follow(0).next(),
    sync: (q) => q.sync(),
    stats: (q) => q.stats(),
    length: (q) => q.length,
  },
  readonly: {
    open: (dir) => DurableQueue.open(dir.file("queue"), { readonly: true }),
    write: (w) => (w.append("live"), "live"),
    read: (r) => text(r.get(0)),
    writes: { append: (q) => q.append("x"), shift: (q) => q.shift(), delete: (q) => q.delete(0), truncate: (q) => q.truncate(0) },
  },
});

const Row = schema({ price: t.f64, name: t.string(8) }, { name: "ContractRow", version: 1 });
handleContract("RecordStore", {
  open: (dir) => RecordStore.open(dir.file("rows"), Row),
  afterClose: {
    append: (s) => s.append({ price: 1 }),
    get: (s) => s.get(0),
    set: (s) => s.set(0, { price: 2 }),
    at: (s) => s.at(0),
    sync: (s) => s.sync(),
    stats: (s) => s.stats(),
    length: (s) => s.length,
  },
  readonly: {
    open: (dir) => RecordStore.open(dir.file("rows"), Row, { readonly: true }),
    write: (w) => (w.append({ price: 3, name: "live" }), { price: 3, name: "live" }),
    read: (r) => r.get(0),
    writes: { append: (s) => s.append({ price: 1 }), set: (s) => s.set(0, { price: 2 }), view: (s) => (s.at(0).price = 4) },
  },
});

handleContract("ArenaCache (in memory)", {
  open: () => new ArenaCache<string>({ maxBytes: 1 << 20, codec: codecs.string }),
  afterClose: {
    get: (c) => c.get("k"),
    set: (c) => c.set("k", "v"),
    has: (c) => c.has("k"),
    peek: (c) => c.peek("k"),
    delete: (c) => c.delete("k"),
    clear: (c) => c.clear(),
    getOrLoad: (c) => c.getOrLoad("k", async () => "v"),
    stats: (c) => c.stats(),
    metrics: (c) => c.metrics(),
    size: (c) => c.size,
  },
});

handleContract("ArenaCache (a shared file)", {
  open: (dir) => ArenaCache.open<string>(dir.file("cache.arena"), { maxBytes: 1 << 20, codec: codecs.string }),
  afterClose: {
    get: (c) => c.get("k"),
    set: (c) => c.set("k", "v"),
    delete: (c) => c.delete("k"),
    getOrLoad: (c) => c.getOrLoad("k", async () => "v"),
    stats: (c) => c.stats(),
  },
});

handleContract("TieredCache", {
  open: () => new TieredCache({ tiers: [new MemoryStore({ maxBytes: 1 << 20 })] }),
  afterClose: {
    get: (c) => c.get("k", async () => ({ body: "v" })),
    set: (c) => c.set("k", "v"),
    delete: (c) => c.delete("k"),
    writer: (c) => c.writer("k"),
    handler: (c) => c.handler("http://127.0.0.1:1"),
  },
});
