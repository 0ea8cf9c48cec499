/**
 * The processes of `offheap demo`. Each role works until the deadline it is given and
 * prints a JSON {@link RoleReport} line every 200 ms; the last line is its final result.
 */
import { join } from "node:path";
import { ArenaCache } from "../arena/index.ts";
import { DurableQueue } from "../queue/index.ts";
import { RecordStore, schema, t } from "../records/index.ts";
import { RingBuffer } from "../ring/index.ts";
import { FileStore, MemoryStore, TieredCache } from "../tiered/index.ts";

/** What a role reports. Latencies are in microseconds. */
export interface RoleReport {
  ops: number;
  seconds: number;
  p50?: number;
  p99?: number;
  note?: string;
}

type Role = (dir: string, deadline: number, args: string[]) => Promise<void>;

/** The demo's ticker schema: `check` is always `-price`, so a torn read shows. */
export const Tick = schema(
  { symbol: t.string(8), price: t.f64, check: t.f64, volume: t.u32, ts: t.f64 },
  { name: "DemoTick", version: 1 },
);

const RECORD_SIZE = 64;
const TICKERS = 1000;

/** Milliseconds since the epoch with sub-millisecond precision, comparable across processes. */
const now = () => performance.timeOrigin + performance.now();

/** Samples in a role's first half second are left out: they time the JIT and the first page faults. */
const WARM_UP_MS = 500;

/** A bounded reservoir of latency samples, taken after {@link WARM_UP_MS}. */
class Latencies {
  readonly #samples = new Float64Array(16384);
  readonly #from = performance.now() + WARM_UP_MS;
  #count = 0;

  add(micros: number): void {
    if (performance.now() < this.#from) return;
    const i = this.#count < this.#samples.length ? this.#count : Math.floor(Math.random() * (this.#count + 1));
    if (i < this.#samples.length) this.#samples[i] = micros;
    this.#count++;
  }

  percentile(p: number): number | undefined {
    const n = Math.min(this.#count, this.#samples.length);
    if (n === 0) return undefined;
    const sorted = this.#samples.slice(0, n).sort();
    return sorted[Math.min(n - 1, Math.floor((p / 100) * n))];
  }
}

/** Prints a report line every 200 ms and once more at the end. */
class Reporter {
  ops = 0;
  note = "";
  readonly latency = new Latencies();
  readonly #start = performance.now();
  #last = 0;

  tick(): void {
    const t = performance.now();
    if (t - this.#last >= 200) {
      this.#last = t;
      this.print();
    }
  }

  print(): void {
    const report: RoleReport = {
      ops: this.ops,
      seconds: (performance.now() - this.#start) / 1000,
      p50: this.latency.percentile(50),
      p99: this.latency.percentile(99),
      note: this.note,
    };
    console.log(JSON.stringify(report));
  }
}

/**
 * Holds a role to a steady rate: `await pacer.next()` after each batch sleeps until the
 * batch's slot. Every role is paced so that the machine is never oversubscribed (the
 * demo runs 13 processes): a consumer's latency is then how long it takes to wake up and
 * read, not how long it waited for a CPU.
 */
class Pacer {
  readonly #interval: number;
  readonly #start = performance.now();
  #batches = 0;

  constructor(perSecond: number, batch: number) {
    this.#interval = (1000 * batch) / perSecond;
  }

  async next(): Promise<void> {
    this.#batches++;
    const wait = this.#start + this.#batches * this.#interval - performance.now();
    await Bun.sleep(Math.max(0, wait));
  }
}

/** Records per second each producer writes, and batch sizes: together a small part of two cores. */
export const RATES = {
  ring: { perSecond: 50_000, batch: 50 },
  queue: { perSecond: 20_000, batch: 100 },
  recordsWrite: { perSecond: 100_000, batch: 100 },
  recordsRead: { perSecond: 200_000, batch: 1000 },
  arena: { perSecond: 250_000, batch: 500 },
  /** Requests per second of each of the HTTP clients. */
  http: { perSecond: 400, batch: 1, clients: 4 },
} as const;

const pacer = (rate: { perSecond: number; batch: number }) => new Pacer(rate.perSecond, rate.batch);

const untilDeadline = (deadline: number) => AbortSignal.timeout(Math.max(1, deadline - Date.now()));
const producerEnd = (deadline: number) => deadline - 1000;

function writeStamp(target: Uint8Array, seq: number): void {
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  view.setFloat64(0, now(), true);
  view.setUint32(8, seq, true);
}

function readStamp(data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getFloat64(0, true);
}

/** The demo's roles by name. */
export const ROLES: Record<string, Role> = {
  async "ring-setup"(dir) {
    RingBuffer.open(join(dir, "ring"), { recordSize: RECORD_SIZE, capacity: 1 << 16 }).close();
  },

  async "ring-producer"(dir, deadline) {
    using ring = RingBuffer.open(join(dir, "ring"));
    const rep = new Reporter();
    const record = new Uint8Array(RECORD_SIZE);
    const pace = pacer(RATES.ring);
    while (Date.now() < producerEnd(deadline)) {
      for (let i = 0; i < RATES.ring.batch; i++) {
        writeStamp(record, rep.ops);
        ring.append(record);
        rep.ops++;
      }
      rep.tick();
      await pace.next();
    }
    rep.note = `next id ${ring.next}`;
    rep.print();
  },

  async "ring-consumer"(dir, deadline) {
    using ring = RingBuffer.open(join(dir, "ring"), { readonly: true });
    const rep = new Reporter();
    let expected = ring.next;
    let gaps = 0;
    try {
      for await (const { id, data } of ring.follow(ring.next, { signal: untilDeadline(deadline), onLap: "skip" })) {
        if (id !== expected) gaps++;
        expected = id + 1;
        rep.latency.add((now() - readStamp(data)) * 1000);
        rep.ops++;
        rep.tick();
      }
    } catch (e) {
      if (!(e instanceof Error && (e.name === "AbortError" || e.name === "TimeoutError"))) throw e;
    }
    const lapped = Number(ring.stats().laps ?? 0);
    const order = gaps === 0 ? "every record, in order" : `lapped ${lapped}×, ${gaps} gaps`;
    rep.note = `${order}; p: append → read`;
    rep.print();
  },

  async "queue-setup"(dir) {
    DurableQueue.open(join(dir, "queue"), { segmentBytes: 8 << 20, sync: "batch" }).close();
  },

  async "queue-producer"(dir, deadline) {
    using queue = DurableQueue.open(join(dir, "queue"), { sync: "batch" });
    const rep = new Reporter();
    const batch = Array.from({ length: RATES.queue.batch }, () => new Uint8Array(100));
    const pace = pacer(RATES.queue);
    while (Date.now() < producerEnd(deadline)) {
      const t0 = performance.now();
      for (const item of batch) writeStamp(item, rep.ops++);
      queue.appendMany(batch);
      rep.latency.add((performance.now() - t0) * 1000);
      rep.tick();
      await pace.next();
    }
    rep.note = `p: one durable batch of ${RATES.queue.batch}`;
    rep.print();
  },

  async "queue-consumer"(dir, deadline, [index]) {
    using queue = DurableQueue.open(join(dir, "queue"));
    const reader = queue.reader(`consumer-${index ?? 0}`);
    const rep = new Reporter();
    try {
      for await (const { data } of reader.follow({ signal: untilDeadline(deadline) })) {
        rep.latency.add((now() - readStamp(data)) * 1000);
        rep.ops++;
        if (rep.ops % 1000 === 0) reader.commit();
        rep.tick();
      }
    } catch (e) {
      if (!(e instanceof Error && (e.name === "AbortError" || e.name === "TimeoutError"))) throw e;
    }
    reader.commit();
    rep.note = `named reader at ${reader.position}; p: append → read`;
    rep.print();
  },

  async "records-setup"(dir) {
    using store = RecordStore.open(join(dir, "ticks"), Tick, { capacity: TICKERS });
    for (let i = 0; i < TICKERS; i++) store.append({ symbol: `T${i}`, price: 100, check: -100, volume: 0, ts: now() });
  },

  async "records-producer"(dir, deadline) {
    using store = RecordStore.open(join(dir, "ticks"), Tick);
    const rep = new Reporter();
    let seed = 1;
    const { batch } = RATES.recordsWrite;
    const pace = pacer(RATES.recordsWrite);
    while (Date.now() < producerEnd(deadline)) {
      const t0 = performance.now();
      for (let i = 0; i < batch; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        const price = 100 + (seed % 10000) / 100;
        store.set(seed % TICKERS, { price, check: -price, volume: rep.ops & 0xffff, ts: now() });
        rep.ops++;
      }
      rep.latency.add(((performance.now() - t0) * 1000) / batch); // µs per set
      rep.tick();
      await pace.next();
    }
    rep.note = "p: one set() of 4 fields";
    rep.print();
  },

  async "records-consumer"(dir, deadline) {
    using store = RecordStore.open(join(dir, "ticks"), Tick, { readonly: true });
    const rep = new Reporter();
    let torn = 0;
    let i = 0;
    const { batch } = RATES.recordsRead;
    const pace = pacer(RATES.recordsRead);
    while (Date.now() < deadline - 500) {
      const t0 = performance.now();
      for (let k = 0; k < batch; k++) {
        const tick = store.get(i);
        if (tick.check !== -tick.price) torn++;
        i = (i + 7) % TICKERS;
      }
      rep.ops += batch;
      rep.latency.add(((performance.now() - t0) * 1000) / batch); // µs per get()
      rep.tick();
      await pace.next();
    }
    rep.note = `${torn} torn reads; p: one get() snapshot`;
    rep.print();
  },

  async "arena-setup"(dir) {
    ArenaCache.open(join(dir, "cache.arena"), { maxBytes: 16 << 20, policy: "s3-fifo" }).close();
  },

  /** One of several processes sharing one cache file: what one stores, the others hit. */
  async arena(dir, deadline, [index]) {
    using cache = ArenaCache.open<Uint8Array>(join(dir, "cache.arena"));
    const rep = new Reporter();
    const value = new Uint8Array(200);
    let seed = 7 + Number(index ?? 0) * 7919;
    let ownHits = 0;
    const { batch } = RATES.arena;
    const pace = pacer(RATES.arena);
    while (Date.now() < producerEnd(deadline)) {
      const t0 = performance.now();
      for (let k = 0; k < batch; k++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        // Skewed keys: most reads go to a small hot set, as in a real cache.
        const key = `user:${Math.floor(200_000 * (seed / 2 ** 32) ** 3)}`;
        if (cache.get(key) !== undefined) ownHits++;
        else cache.set(key, value);
      }
      rep.ops += batch;
      rep.latency.add(((performance.now() - t0) * 1000) / batch); // µs per get/set
      rep.tick();
      await pace.next();
    }
    // The counters are the cache's, summed over every process that shares it.
    const { hits, misses } = cache.stats();
    const percent = (n: number, of: number) => `${((100 * n) / Math.max(1, of)).toFixed(1)}%`;
    rep.note = `hits ${percent(ownHits, rep.ops)} here, ${percent(hits, hits + misses)} in the one cache file all share (${cache.size} entries, ${(cache.bytes / 2 ** 20).toFixed(1)} MiB); p: one get/set`;
    rep.print();
  },

  /**
   * A caching reverse proxy in front of a local origin (memory, then files), read by
   * concurrent clients over real HTTP: the origin says which pages may be cached for how
   * long (and that /account is private); p is one request through the proxy.
   */
  async tiered(dir, deadline) {
    let originRequests = 0;
    const origin = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        originRequests++;
        const path = new URL(req.url).pathname;
        if (path.startsWith("/account")) return new Response(`private page for ${req.headers.get("cookie")}`, { headers: { "cache-control": "private" } });
        return new Response(`page ${path} `.repeat(64), { headers: { "cache-control": "public, max-age=60", "content-type": "text/html" } });
      },
    });
    const cache = new TieredCache({ tiers: [new MemoryStore({ maxBytes: 8 << 20 }), FileStore.open(join(dir, "http-cache"), { maxBytes: 64 << 20, sync: "none" })] });
    const proxy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: cache.handler(`http://127.0.0.1:${origin.port}`) });
    const rep = new Reporter();
    let seed = 11;
    let requests = 0;
    let failures = 0;
    const client = async () => {
      const pace = pacer(RATES.http);
      while (Date.now() < producerEnd(deadline)) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        const r = seed / 2 ** 32;
        const path = r < 0.05 ? `/account?u=${seed % 7}` : `/page/${Math.floor(500 * r ** 3)}`;
        const t0 = performance.now();
        try {
          const res = await fetch(`http://127.0.0.1:${proxy.port}${path}`, { headers: { cookie: `u=${seed % 7}` } });
          await res.arrayBuffer();
          if (!res.ok) failures++;
        } catch {
          failures++; // a refused or reset connection on a starved machine: counted, not fatal
        }
        rep.latency.add((performance.now() - t0) * 1000);
        rep.ops++;
        requests++;
        rep.tick();
        await pace.next();
      }
    };
    await Promise.all(Array.from({ length: RATES.http.clients }, client));
    const s = cache.stats();
    rep.note = `hit ratio ${((100 * s.hits) / Math.max(1, requests)).toFixed(1)}%, origin asked ${originRequests}× for ${requests} requests${failures > 0 ? `, ${failures} failed` : ""}; p: one request`;
    proxy.stop(true);
    origin.stop(true);
    await cache.close();
    rep.print();
  },
};
