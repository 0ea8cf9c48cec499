/**
 * ArenaCache against lru-cache and mnemonist's LRUCache, in the same run:
 *  1. get (hit) and set (overwrite) ns/op with 1 M entries (mitata);
 *  2. JS heap holding 1 M and 5 M entries, ours vs lru-cache (`heapStats()` after
 *     `Bun.gc(true)`, each in a fresh process);
 *  3. p50 / p99 / p99.9 get latency while the loop also churns (sets of new keys that
 *     evict), ours vs lru-cache (each in a fresh process).
 * Ratios are printed at the end. Values are 16-byte Uint8Arrays for everyone; our get
 * returns a copy (the peers return the stored object).
 *
 * `bun bench/arena.bench.ts` runs it all; `--child heap|latency <impl> <n>` is internal.
 */
import { heapStats } from "bun:jsc";
import { LRUCache } from "lru-cache";
import { bench, do_not_optimize, group, run } from "mitata";
import { LRUCache as LRUMap } from "mnemonist";
import { ArenaCache } from "../src/arena/index.ts";
import { averages, formatNs, machine, printRatios } from "./lib/report.ts";

const VALUE_BYTES = 16;
const keyOf = (i: number) => `key:${i}`;

/** A cache behind one small interface, so every measurement runs the same loop. */
interface Subject {
  get(k: string): unknown;
  set(k: string, v: Uint8Array): void;
}

function makeOurs(n: number): ArenaCache {
  const perEntry = ArenaCache.entryBytes(keyOf(n).length + 2, VALUE_BYTES);
  return new ArenaCache({ maxBytes: Math.ceil(n * perEntry * 1.05), maxEntries: Math.ceil(n * 1.05), policy: "s3-fifo" });
}
function makeLru(n: number): LRUCache<string, Uint8Array> {
  return new LRUCache<string, Uint8Array>({ max: n });
}
function make(impl: string, n: number): Subject {
  if (impl === "arena") return makeOurs(n);
  if (impl === "lru-cache") return makeLru(n);
  if (impl === "mnemonist") return new LRUMap<string, Uint8Array>(n) as unknown as Subject;
  throw new Error(`unknown impl ${impl}`);
}
function fill(c: Subject, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = new Uint8Array(VALUE_BYTES);
    v[0] = i & 255;
    c.set(keyOf(i), v);
  }
}

// ---------------------------------------------------------------- children
async function childHeap(impl: string, n: number): Promise<void> {
  Bun.gc(true);
  const before = heapStats();
  const c = make(impl, n);
  fill(c, n);
  Bun.gc(true);
  const after = heapStats();
  if (c.get(keyOf(n - 1)) === undefined) throw new Error("last entry missing");
  console.log(
    JSON.stringify({
      heap: after.heapSize - before.heapSize,
      objects: after.objectCount - before.objectCount,
      extra: after.extraMemorySize - before.extraMemorySize,
      rss: process.memoryUsage().rss,
    }),
  );
}

async function childLatency(impl: string, n: number): Promise<void> {
  const c = make(impl, n);
  fill(c, n);
  Bun.gc(true);
  const gets = 1_000_000;
  const lat = new Float64Array(gets);
  let s = 12345;
  let churn = n;
  let found = 0;
  const v = new Uint8Array(VALUE_BYTES);
  for (let i = 0; i < gets; i++) {
    // churn: two sets of new keys per get, each evicting an old entry
    c.set(keyOf(churn++), v.slice());
    c.set(keyOf(churn++), v.slice());
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const k = keyOf(churn - 1 - (s % (n >>> 1)));
    const t0 = Bun.nanoseconds();
    const got = c.get(k);
    const t1 = Bun.nanoseconds();
    if (got !== undefined) found++;
    lat[i] = t1 - t0;
  }
  lat.sort();
  const p = (q: number) => lat[Math.min(gets - 1, Math.floor(q * gets))]!;
  console.log(JSON.stringify({ p50: p(0.5), p99: p(0.99), p999: p(0.999), max: lat[gets - 1], found }));
}

async function child(kind: string, impl: string, n: number): Promise<unknown> {
  const proc = Bun.spawn([process.execPath, import.meta.path, "--child", kind, impl, String(n)], { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`child ${kind} ${impl} ${n} failed`);
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

// ---------------------------------------------------------------- main
async function main(): Promise<void> {
  const N = 1 << 20;
  const MASK = N - 1;
  const keys = Array.from({ length: N }, (_, i) => keyOf(i));
  const ours = makeOurs(N);
  const lru = makeLru(N);
  const mn = new LRUMap<string, Uint8Array>(N);
  for (const c of [ours, lru, mn] as Subject[]) fill(c, N);
  const v = new Uint8Array(VALUE_BYTES);
  let i1 = 1;
  let i2 = 1;
  let i3 = 1;
  const step = (x: number) => (Math.imul(x, 1664525) + 1013904223) >>> 0;

  group("get hit, 1 M entries", () => {
    bench("arena get", () => {
      i1 = step(i1);
      do_not_optimize(ours.get(keys[i1 & MASK]!));
    });
    bench("lru-cache get", () => {
      i2 = step(i2);
      do_not_optimize(lru.get(keys[i2 & MASK]!));
    });
    bench("mnemonist get", () => {
      i3 = step(i3);
      do_not_optimize(mn.get(keys[i3 & MASK]!));
    });
  });
  group("set (overwrite), 1 M entries", () => {
    bench("arena set", () => {
      i1 = step(i1);
      ours.set(keys[i1 & MASK]!, v);
    });
    bench("lru-cache set", () => {
      i2 = step(i2);
      lru.set(keys[i2 & MASK]!, v.slice());
    });
    bench("mnemonist set", () => {
      i3 = step(i3);
      mn.set(keys[i3 & MASK]!, v.slice());
    });
  });
  const result = await run({ format: "mitata" });
  const avg = averages(result as never);
  ours.close();

  const heap: Record<string, Record<number, { heap: number; objects: number; extra: number }>> = {};
  for (const n of [1_000_000, 5_000_000]) {
    for (const impl of ["arena", "lru-cache"]) {
      heap[impl] ??= {};
      heap[impl]![n] = (await child("heap", impl, n)) as never;
    }
  }
  // The tail is noisy on a shared machine: three alternating trials each, median per percentile.
  type Lat = { p50: number; p99: number; p999: number; max: number };
  const trials: Record<string, Lat[]> = { arena: [], "lru-cache": [] };
  for (let t = 0; t < 3; t++) for (const impl of ["arena", "lru-cache"]) trials[impl]!.push((await child("latency", impl, 1_000_000)) as Lat);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const lat: Record<string, Lat> = {};
  for (const impl of ["arena", "lru-cache"]) {
    const ts = trials[impl]!;
    lat[impl] = { p50: median(ts.map((x) => x.p50)), p99: median(ts.map((x) => x.p99)), p999: median(ts.map((x) => x.p999)), max: median(ts.map((x) => x.max)) };
  }

  printRatios("ArenaCache get / set, 1 M entries", avg, [
    { ours: "arena get", peer: "lru-cache get" },
    { ours: "arena get", peer: "mnemonist get" },
    { ours: "arena set", peer: "lru-cache set" },
    { ours: "arena set", peer: "mnemonist set" },
  ]);
  const ga = avg.get("arena get");
  const gl = avg.get("lru-cache get");
  if (ga !== undefined && gl !== undefined) console.log(`\nget time ratio arena / lru-cache: ${(ga / gl).toFixed(2)} (budget <= 1.5)`);

  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const lines = [
    "\n### JS heap holding N entries (heapStats() deltas after Bun.gc(true), fresh process each)",
    `machine: ${machine()}`,
    "",
    "GC heap = heapSize - extraMemorySize: the objects the collector traces. Bun counts every",
    "ArrayBuffer's bytes (ours are anonymous mmap; lru-cache also keeps typed arrays) as extra memory.",
    "",
    "| N | arena GC heap | arena objects | arena buffers | lru-cache GC heap | lru-cache objects | lru-cache buffers | GC heap ratio (arena / lru-cache) | heapSize incl. buffers ratio |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const n of [1_000_000, 5_000_000]) {
    const a = heap.arena![n]!;
    const l = heap["lru-cache"]![n]!;
    lines.push(
      `| ${n.toLocaleString("en")} | ${mb(a.heap - a.extra)} | ${a.objects} | ${mb(a.extra)} | ${mb(l.heap - l.extra)} | ${l.objects} | ${mb(l.extra)} | ${((a.heap - a.extra) / (l.heap - l.extra)).toFixed(4)} (budget <= 0.1) | ${(a.heap / l.heap).toFixed(2)} |`,
    );
  }
  lines.push("", "### get latency under churn (1 M entries, 2 evicting sets per get, 1 M timed gets; median of 3 trials)", `machine: ${machine()}`, "", "| | p50 | p99 | p99.9 | max |", "|---|---|---|---|---|");
  for (const impl of ["arena", "lru-cache"]) {
    const r = lat[impl]!;
    lines.push(`| ${impl} | ${formatNs(r.p50)} | ${formatNs(r.p99)} | ${formatNs(r.p999)} | ${formatNs(r.max)} |`);
  }
  lines.push(`| ratio arena / lru-cache | ${(lat.arena!.p50 / lat["lru-cache"]!.p50).toFixed(2)} | ${(lat.arena!.p99 / lat["lru-cache"]!.p99).toFixed(2)} | ${(lat.arena!.p999 / lat["lru-cache"]!.p999).toFixed(2)} (budget <= 0.2) | ${(lat.arena!.max / lat["lru-cache"]!.max).toFixed(2)} |`);
  lines.push("", `p99.9 per trial: arena ${trials.arena!.map((x) => formatNs(x.p999)).join(", ")}; lru-cache ${trials["lru-cache"]!.map((x) => formatNs(x.p999)).join(", ")}`);
  console.log(lines.join("\n"));
}

const argv = process.argv;
const ci = argv.indexOf("--child");
if (ci >= 0) {
  const [kind, impl, n] = argv.slice(ci + 1);
  if (kind === "heap") await childHeap(impl!, Number(n));
  else await childLatency(impl!, Number(n));
} else {
  await main();
}
