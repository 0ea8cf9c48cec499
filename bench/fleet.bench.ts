/**
 * One cache for every process of a fleet, measured (issue 16.5):
 *
 *  1. get / set of 100-byte strings, 100,000 keys: a private ArenaCache, a shared one
 *     (ArenaCache.open on /dev/shm) alone and while another process hammers the same file,
 *     and Redis on loopback (Bun.RedisClient against a redis-server started here), awaited
 *     one at a time and 64 in flight. Interleaved rounds, medians.
 *  2. A `Bun.serve({ reusePort: true })` fleet of N processes (N = cores) on one port, each
 *     answering GET /item/<id> from its cache and fetching misses from an origin process
 *     (1 KiB bodies, 2 ms away) with getOrLoad; once with one shared cache file for the
 *     fleet, once with a private ArenaCache per process of the same maxBytes. A client
 *     process sends Zipf(0.99) requests over 20,000 ids. Reported: hit ratio, origin
 *     fetches, memory (the servers' summed PSS, which counts shared pages once), the
 *     server-side time of a cache hit and the client's latency of hits, requests/s.
 *
 * `bun bench/fleet.bench.ts`; `--server`, `--origin`, `--client`, `--hammer` are internal.
 */
import { cpus } from "node:os";
import { readFileSync, rmSync } from "node:fs";
import { ArenaCache, codecs } from "../src/arena/index.ts";
import { planCache } from "../src/arena/config.ts";
import { fileLayout } from "../src/arena/file.ts";
import { Child } from "../test/helpers/child.ts";
import { freePort, startRedis } from "../test/helpers/servers.ts";
import { describeSides, formatNs, machine, printBudgets, sidesBlock } from "./lib/report.ts";
import { interleaved, type Case } from "./lib/rounds.ts";

const KEYS = 100_000;
const VALUE = "v".repeat(100);
const SHM = "/dev/shm";
const TRIALS = 3;

// ---------------------------------------------------------------- part 1: get / set

/** A process that hammers the shared file (gets and sets over the same keys) until killed. */
async function hammer(path: string): Promise<void> {
  const c = ArenaCache.open<string>(path, { codec: codecs.string });
  console.log("ready");
  let i = 99;
  for (let n = 0; ; n++) {
    i = (Math.imul(i, 1664525) + 1013904223) >>> 0;
    const k = `key:${i % KEYS}`;
    if (n % 4 === 0) c.set(k, VALUE);
    else c.get(k);
    if (n % 100_000 === 0) await Bun.sleep(0);
  }
}

function cacheCases(name: string, c: ArenaCache<string>): Record<string, Case> {
  let i = 1;
  const step = (x: number) => (Math.imul(x, 1664525) + 1013904223) >>> 0;
  return {
    [`${name} get`]: (ops) => {
      let sink = 0;
      for (let n = 0; n < ops; n++) {
        i = step(i);
        sink += c.get(`key:${i % KEYS}`)?.length ?? 0;
      }
      return sink;
    },
    [`${name} set`]: (ops) => {
      for (let n = 0; n < ops; n++) {
        i = step(i);
        c.set(`key:${i % KEYS}`, VALUE);
      }
      return ops;
    },
  };
}

/** ns per op of Redis get / set, awaited one at a time and `inFlight` at once. */
async function redisRounds(url: string, rounds: number): Promise<Map<string, number>> {
  const client = new Bun.RedisClient(url);
  for (let k = 0; k < KEYS; k += 1000) await Promise.all(Array.from({ length: 1000 }, (_, j) => client.set(`key:${k + j}`, VALUE)));
  const samples = new Map<string, number[]>();
  const add = (name: string, ns: number) => samples.set(name, [...(samples.get(name) ?? []), ns]);
  let i = 1;
  const step = (x: number) => (Math.imul(x, 1664525) + 1013904223) >>> 0;
  const OPS = 5_000;
  for (let r = 0; r < rounds; r++) {
    let t = Bun.nanoseconds();
    for (let n = 0; n < OPS; n++) {
      i = step(i);
      await client.get(`key:${i % KEYS}`);
    }
    add("redis get, awaited one at a time", (Bun.nanoseconds() - t) / OPS);
    t = Bun.nanoseconds();
    for (let n = 0; n < OPS; n++) {
      i = step(i);
      await client.set(`key:${i % KEYS}`, VALUE);
    }
    add("redis set, awaited one at a time", (Bun.nanoseconds() - t) / OPS);
    for (const [what, op] of [
      ["get", (k: string) => client.get(k)],
      ["set", (k: string) => client.set(k, VALUE)],
    ] as const) {
      t = Bun.nanoseconds();
      for (let n = 0; n < OPS * 4; n += 64) {
        const batch: Promise<unknown>[] = [];
        for (let j = 0; j < 64; j++) {
          i = step(i);
          batch.push(op(`key:${i % KEYS}`));
        }
        await Promise.all(batch);
      }
      add(`redis ${what}, 64 in flight`, (Bun.nanoseconds() - t) / (OPS * 4));
    }
  }
  client.close();
  const out = new Map<string, number>();
  for (const [k, xs] of samples) out.set(k, [...xs].sort((a, b) => a - b)[xs.length >> 1]!);
  return out;
}

async function partOne(): Promise<string[]> {
  const path = `${SHM}/offheap-fleet-bench-${process.pid}`;
  const opts = { maxBytes: 64 << 20, codec: codecs.string };
  const priv = new ArenaCache<string>(opts);
  const shared = ArenaCache.open<string>(path, opts);
  for (let k = 0; k < KEYS; k++) {
    priv.set(`key:${k}`, VALUE);
    shared.set(`key:${k}`, VALUE);
  }
  const alone = interleaved({ ...cacheCases("private ArenaCache", priv), ...cacheCases("shared ArenaCache (open)", shared) }, { rounds: 11, ops: 100_000 });
  const h = new Child(import.meta.path, ["--hammer", path]);
  await h.waitForLine((l) => l === "ready");
  const busy = interleaved({ ...cacheCases("private ArenaCache, beside the hammering process", priv), ...cacheCases("shared ArenaCache, another process hammering it", shared) }, { rounds: 11, ops: 100_000 });
  await h.kill();
  const redis = await startRedis();
  let r: Map<string, number>;
  try {
    r = await redisRounds(redis.url, 5);
  } finally {
    await redis.stop();
  }
  priv.close();
  shared.close();
  rmSync(path, { force: true });
  const rows = [...alone, ...busy].map(([k, v]) => [k, v.ns] as const).concat([...r]);
  const base = (what: string) => alone.get(`private ArenaCache ${what}`)!.ns;
  const lines = [
    "\n### get / set of 100 B strings, 100,000 keys: private, shared (one file, /dev/shm), Redis on loopback",
    `machine: ${machine()}`,
    ...sidesBlock(),
    "",
    "| operation | time | vs private ArenaCache |",
    "|---|---|---|",
  ];
  for (const [k, ns] of rows) lines.push(`| ${k} | ${formatNs(ns)} | ${(ns / base(k.includes(" set") ? "set" : "get")).toFixed(2)}× |`);
  return lines;
}

// ---------------------------------------------------------------- part 2: the fleet

/** The origin: answers /item/<id> with 1 KiB after 2 ms, counts requests; prints its count on "count". */
async function origin(port: number): Promise<void> {
  let fetches = 0;
  const body = "o".repeat(1024);
  Bun.serve({
    port,
    hostname: "127.0.0.1",
    async fetch() {
      fetches++;
      await Bun.sleep(2);
      return new Response(body);
    },
  });
  console.log("ready");
  for await (const line of console) if (line === "count") console.log(`count ${fetches}`);
}

/** Bytes the caches of a configuration reserve: one file, or `n` private caches' mappings. */
function cacheMemory(mode: string, maxBytes: number, n: number): number {
  if (mode === "shared") return fileLayout(planCache({ maxBytes }, true)).fileBytes;
  const l = fileLayout(planCache({ maxBytes }, false));
  return n * (l.fileBytes - l.stripesOffset);
}

/** One fleet member: Bun.serve with reusePort, a cache (shared file or private), the origin behind it. */
async function server(mode: string, port: number, originPort: number, path: string, maxBytes: number): Promise<void> {
  const cache = mode === "shared" ? ArenaCache.open<string>(path, { maxBytes, codec: codecs.string }) : new ArenaCache<string>({ maxBytes, codec: codecs.string });
  let hits = 0;
  let misses = 0;
  const hitNs = new Float64Array(1 << 16);
  let hn = 0;
  Bun.serve({
    port,
    hostname: "127.0.0.1",
    reusePort: true,
    async fetch(req) {
      const key = new URL(req.url).pathname;
      const t0 = Bun.nanoseconds();
      const v = cache.get(key);
      if (v !== undefined) {
        hitNs[hn++ & 0xffff] = Bun.nanoseconds() - t0;
        hits++;
        return new Response(v, { headers: { "x-cache": "hit" } });
      }
      misses++;
      const body = await cache.getOrLoad(key, async () => (await fetch(`http://127.0.0.1:${originPort}${key}`)).text());
      return new Response(body, { headers: { "x-cache": "miss" } });
    },
  });
  console.log("ready");
  for await (const line of console) {
    if (line !== "stats") continue;
    const lat = hitNs.slice(0, Math.min(hn, hitNs.length)).sort();
    const p = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] ?? 0;
    const pss = /^Pss:\s+(\d+) kB/m.exec(readFileSync("/proc/self/smaps_rollup", "utf8"));
    console.log(`stats ${JSON.stringify({ hits, misses, hitP50: p(0.5), hitP99: p(0.99), pss: Number(pss?.[1] ?? 0) * 1024, rss: process.memoryUsage().rss, entries: cache.size })}`);
  }
}

/**
 * Zipf(s) over 0..n-1 (0 most popular) by rejection-inversion (Hörmann & Derflinger 1996,
 * as in Apache Commons' sampler): O(1) per sample, no table. For 0 < s < 1.
 */
function zipfSampler(n: number, s: number, random: () => number): () => number {
  const hIntegral = (x: number) => Math.pow(x, 1 - s) / (1 - s);
  const hIntegralInverse = (y: number) => Math.pow((1 - s) * y, 1 / (1 - s));
  const h = (x: number) => Math.pow(x, -s);
  const hX1 = hIntegral(1.5) - 1;
  const hN = hIntegral(n + 0.5);
  const sDiv = 2 - hIntegralInverse(hIntegral(2.5) - h(2));
  return () => {
    for (;;) {
      const u = hN + random() * (hX1 - hN);
      const x = hIntegralInverse(u);
      const k = Math.min(n, Math.max(1, Math.round(x)));
      if (k - x <= sDiv || u >= hIntegral(k + 0.5) - h(k)) return k - 1;
    }
  };
}

/** The load: `total` requests from `concurrency` keep-alive loops; ids Zipf(0.99), scattered. */
async function client(port: number, total: number, concurrency: number, ids: number): Promise<void> {
  let seed = 12345;
  const random = () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const next = zipfSampler(ids, 0.99, random);
  const hit: number[] = [];
  const miss: number[] = [];
  let sent = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < total) {
        sent++;
        // Scatter popularity over ids (a multiplicative hash), so popular ids aren't adjacent.
        const id = Math.imul(next() + 1, 2654435761) >>> 0;
        const t = performance.now();
        const r = await fetch(`http://127.0.0.1:${port}/item/${id}`);
        await r.text();
        (r.headers.get("x-cache") === "hit" ? hit : miss).push((performance.now() - t) * 1e6);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const p = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))] ?? 0;
  console.log(JSON.stringify({ rps: total / secs, hitP50: p(hit, 0.5), hitP99: p(hit, 0.99), missP50: p(miss, 0.5) }));
  process.exit(0);
}

interface FleetResult {
  mode: string;
  hits: number;
  misses: number;
  fetches: number;
  pss: number;
  hitP50: number;
  hitP99: number;
  client: { rps: number; hitP50: number; hitP99: number; missP50: number };
}

async function runFleet(mode: "shared" | "private", n: number, maxBytes: number, requests: number, ids: number): Promise<FleetResult> {
  const path = `${SHM}/offheap-fleet-${process.pid}-${mode}`;
  rmSync(path, { force: true });
  const originPort = await freePort();
  const port = await freePort();
  const o = new Child(import.meta.path, ["--origin", String(originPort)]);
  await o.waitForLine((l) => l === "ready");
  const servers: Child[] = [];
  for (let i = 0; i < n; i++) {
    const s = new Child(import.meta.path, ["--server", mode, String(port), String(originPort), path, String(maxBytes)]);
    await s.waitForLine((l) => l === "ready");
    servers.push(s);
  }
  try {
    const c = new Child(import.meta.path, ["--client", String(port), String(requests), "32", String(ids)]);
    const { stdout } = await c.exited();
    const clientResult = JSON.parse(stdout.at(-1)!);
    o.send("count");
    const fetches = Number((await o.waitForLine((l) => l.startsWith("count "))).slice(6));
    const stats: Array<Record<string, number>> = [];
    for (const s of servers) {
      s.send("stats");
      stats.push(JSON.parse((await s.waitForLine((l) => l.startsWith("stats "))).slice(6)));
    }
    const sum = (k: string) => stats.reduce((a, x) => a + x[k]!, 0);
    const mean = (k: string) => sum(k) / stats.length;
    return { mode, hits: sum("hits"), misses: sum("misses"), fetches, pss: sum("pss"), hitP50: mean("hitP50"), hitP99: mean("hitP99"), client: clientResult };
  } finally {
    for (const s of servers) await s.kill();
    await o.kill();
    rmSync(path, { force: true });
  }
}

async function partTwo(): Promise<string[]> {
  const n = cpus().length;
  const maxBytes = 4 << 20;
  const requests = 150_000;
  const ids = 20_000;
  // The shared file twice: with one process's budget (the fleet holds a copy less), and with
  // the whole fleet's (the memory the private caches take together, one copy of each entry).
  const runs: Array<["shared" | "private", number]> = [
    ["shared", maxBytes],
    ["shared", n * maxBytes],
    ["private", maxBytes],
  ];
  // Alternating trials, the median trial (by requests/s) of each configuration reported.
  const trials: FleetResult[][] = runs.map(() => []);
  for (let t = 0; t < TRIALS; t++) for (const [i, [mode, bytes]] of runs.entries()) trials[i]!.push(await runFleet(mode, n, bytes, requests, ids));
  const results = trials.map((ts, i) => ({ ...[...ts].sort((a, b) => a.client.rps - b.client.rps)[ts.length >> 1]!, maxBytes: runs[i]![1], all: ts }));
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const lines = [
    `\n### A reusePort fleet of ${n} processes: one shared cache file vs a private ArenaCache each`,
    `machine: ${machine()}`,
    "",
    `${requests.toLocaleString("en")} requests, Zipf(0.99) over ${ids.toLocaleString("en")} ids of 1 KiB, 32 keep-alive connections from one client process; misses fetched with getOrLoad from an origin 2 ms away. The median of ${TRIALS} alternating trials (by requests/s).`,
    "",
    "| cache | hit ratio | origin fetches | cache memory | servers' PSS | cache hit in the server p50 / p99 | hit at the client p50 / p99 | requests/s |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    lines.push(
      `| ${r.mode === "shared" ? `one shared file (ArenaCache.open), maxBytes ${mb(r.maxBytes)}` : `${n} × private ArenaCache, maxBytes ${mb(r.maxBytes)} each`} | ${((100 * r.hits) / (r.hits + r.misses)).toFixed(1)}% | ${r.fetches.toLocaleString("en")} | ${mb(cacheMemory(r.mode, r.maxBytes, n))} | ${mb(r.pss)} | ${formatNs(r.hitP50)} / ${formatNs(r.hitP99)} | ${formatNs(r.client.hitP50)} / ${formatNs(r.client.hitP99)} | ${Math.round(r.client.rps).toLocaleString("en")} |`,
    );
  }
  lines.push(
    "",
    "Cache memory: what the caches reserve (arena, slot metadata, index, policy): the file's size for the shared one, N times one",
    "cache's mappings for the private ones (resident once full). Servers' PSS: the server processes' proportional set size",
    "summed (shared pages counted once), the Bun runtime included (~35 MiB a process), pages not yet touched not included.",
  );
  for (const r of results) lines.push(`requests/s per trial, ${r.mode} ${mb(r.maxBytes)}: ${r.all.map((x) => Math.round(x.client.rps)).join(", ")}`);
  return lines;
}

const argv = process.argv;
if (argv[2] === "--hammer") await hammer(argv[3]!);
else if (argv[2] === "--origin") await origin(Number(argv[3]));
else if (argv[2] === "--server") await server(argv[3]!, Number(argv[4]), Number(argv[5]), argv[6]!, Number(argv[7]));
else if (argv[2] === "--client") await client(Number(argv[3]), Number(argv[4]), Number(argv[5]), Number(argv[6]));
else {
  describeSides({
    ours: 'ArenaCache({ maxBytes: 64 MiB, codec: codecs.string }) private, and ArenaCache.open(/dev/shm file) with the same options (shared); fleet: the same, maxBytes 4 MiB per process (or the whole fleet\'s in one file), getOrLoad on a miss',
    redis: "redis-server started here on loopback, Bun.RedisClient, awaited one at a time and 64 in flight",
    work: `100 B string values, ${KEYS.toLocaleString("en-US")} keys "key:<n>" built per op, the same random sequence; fleet: Zipf(0.99) over 20,000 ids of 1 KiB, an origin 2 ms away, ${TRIALS} alternating trials`,
  });
  const out = [...(await partOne()), ...(await partTwo())];
  console.log(out.join("\n"));
  printBudgets([], "the design doc sets no budget for the fleet; it is reported beside Redis and private caches");
}
