/**
 * Hit ratio of every ArenaCache policy and of lru-cache on generated traces: Zipf(0.9),
 * Zipf(0.99), a Zipf trace polluted by one-time scans, and a loop slightly larger than
 * the cache. Each cache holds the same number of entries (ArenaCache bounded by
 * `maxEntries`, lru-cache by `max`; `maxBytes` is large enough not to bind, checked at the
 * end of each trace); a miss loads the key (set). Deterministic: the same seed gives the
 * same traces. Prints each hit ratio and its ratio to lru-cache's; the budget rows are the
 * default policy's (s3-fifo, the cache built without a `policy` option), the other
 * policies are extras.
 */
import { LRUCache } from "lru-cache";
import { ArenaCache } from "../src/arena/index.ts";
import { POLICY_NAMES } from "../src/policy/index.ts";
import { describeSides, machine, printBudgets, sidesBlock, type Budget } from "./lib/report.ts";

const KEYS = 100_000;
const REQUESTS = 600_000;
const CAPACITY = 2_000;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sampler of Zipf(s) over ids 0..n-1 (id 0 most popular), by inverse CDF. */
function zipf(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s);
  for (let i = 0; i < n; i++) cdf[i]! /= sum;
  // Scatter popularity over ids so popular keys aren't also adjacent ids.
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return perm[lo]!;
  };
}

function traces(): Array<{ name: string; ids: Int32Array }> {
  const out: Array<{ name: string; ids: Int32Array }> = [];
  for (const s of [0.9, 0.99]) {
    const z = zipf(KEYS, s, rng(s * 1000));
    const ids = new Int32Array(REQUESTS);
    for (let i = 0; i < REQUESTS; i++) ids[i] = z();
    out.push({ name: `Zipf(${s})`, ids });
  }
  {
    // 7,000 Zipf(0.9) requests, then a scan of 3,000 keys never seen again, repeated.
    const z = zipf(KEYS, 0.9, rng(42));
    const ids = new Int32Array(REQUESTS);
    let scan = KEYS;
    for (let i = 0; i < REQUESTS; i++) ids[i] = i % 10_000 < 7_000 ? z() : scan++;
    out.push({ name: "Zipf(0.9) + scans", ids });
  }
  {
    // A loop over 1.5 × the cache's entries: LRU always evicts the key needed next.
    const loop = Math.floor(CAPACITY * 1.5);
    const ids = new Int32Array(REQUESTS);
    for (let i = 0; i < REQUESTS; i++) ids[i] = i % loop;
    out.push({ name: `loop of ${loop}`, ids });
  }
  return out;
}

function keyName(id: number): string {
  return `key:${id}`;
}

function measure(ids: Int32Array, keys: string[], get: (k: string) => unknown, set: (k: string) => void): number {
  let hits = 0;
  for (let i = 0; i < ids.length; i++) {
    const k = keys[ids[i]!]!;
    if (get(k) !== undefined) hits++;
    else set(k);
  }
  return hits / ids.length;
}

describeSides({
  ours: `ArenaCache({ maxBytes: ${CAPACITY} × 256, maxEntries: ${CAPACITY} }): the default policy (s3-fifo) is the headline; every other policy (${POLICY_NAMES.filter((p) => p !== "s3-fifo").join(", ")}) as an extra column`,
  "lru-cache": `lru-cache 11 LRUCache({ max: ${CAPACITY} })`,
  work: `the same traces for every cache: ${REQUESTS.toLocaleString("en-US")} requests over ${KEYS.toLocaleString("en-US")} keys ("key:<id>", built once), get then set on a miss, 8 B values`,
});
const value = new Uint8Array(8);
const all = traces();
let maxId = 0;
for (const t of all) for (let i = 0; i < t.ids.length; i++) if (t.ids[i]! > maxId) maxId = t.ids[i]!;
const keys = Array.from({ length: maxId + 1 }, (_, i) => keyName(i));
const impls = [...POLICY_NAMES.map((p) => `arena ${p}`), "lru-cache"];
const results = new Map<string, Map<string, number>>();
const started = performance.now();
for (const t of all) {
  const row = new Map<string, number>();
  const lru = new LRUCache<string, Uint8Array>({ max: CAPACITY });
  row.set("lru-cache", measure(t.ids, keys, (k) => lru.get(k), (k) => lru.set(k, value)));
  for (const p of POLICY_NAMES) {
    // The default policy's cache is built without the option, as a user would.
    const c = p === "s3-fifo" ? new ArenaCache({ maxBytes: CAPACITY * 256, maxEntries: CAPACITY }) : new ArenaCache({ maxBytes: CAPACITY * 256, maxEntries: CAPACITY, policy: p });
    row.set(`arena ${p}`, measure(t.ids, keys, (k) => c.get(k), (k) => c.set(k, value)));
    if (c.size > CAPACITY) throw new Error(`arena ${p} holds ${c.size} > ${CAPACITY}`);
    // Equal room: a cache left holding fewer entries than lru-cache would be measured smaller.
    if (c.size < Math.min(CAPACITY, lru.size) * 0.99) console.log(`note: arena ${p} ends ${t.name} holding ${c.size} entries, lru-cache ${lru.size}`);
    c.close();
  }
  results.set(t.name, row);
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const lines = [
  `\n### Hit ratio, ${CAPACITY.toLocaleString("en")} entries, ${REQUESTS.toLocaleString("en")} requests per trace, ${KEYS.toLocaleString("en")} keys`,
  `machine: ${machine()} (hit ratios don't depend on load; ${((performance.now() - started) / 1000).toFixed(1)} s)`,
  ...sidesBlock(),
  "",
  `| trace | ${impls.join(" | ")} |`,
  `|---|${impls.map(() => "---").join("|")}|`,
];
for (const [name, row] of results) lines.push(`| ${name} | ${impls.map((i) => pct(row.get(i)!)).join(" | ")} |`);
lines.push("", "ratio to lru-cache's hit ratio (the budget is the default policy's, s3-fifo: ≥ 1 on every trace):", "", `| trace | ${POLICY_NAMES.join(" | ")} |`, `|---|${POLICY_NAMES.map(() => "---").join("|")}|`);
for (const [name, row] of results) {
  const base = row.get("lru-cache")!;
  lines.push(`| ${name} | ${POLICY_NAMES.map((p) => (base === 0 ? (row.get(`arena ${p}`)! > 0 ? "∞ (lru 0%)" : "= (both 0%)") : `${(row.get(`arena ${p}`)! / base).toFixed(3)}`)).join(" | ")} |`);
}
console.log(lines.join("\n"));
const budgets: Budget[] = [];
for (const [name, row] of results) {
  budgets.push({ name: `arena hit ratio, default policy (s3-fifo), ${name}: arena's ≥ lru-cache's`, measured: row.get("arena s3-fifo")! * 100, op: ">=", target: row.get("lru-cache")! * 100, unit: "%" });
}
printBudgets(budgets);
