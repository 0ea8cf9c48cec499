/**
 * TieredCache beside bentocache and cache-manager, doing the same work in the same run:
 *
 * - memory hit, 1 KiB body consumed (ours: get + `bytes()`, which takes the bytes the
 *   memory tier holds without a stream — and, as a second row, get + reading `body` as a
 *   stream; peers: `get`, and getOrSet/wrap, returning the value from their in-memory layer)
 * - file hit, 16 KiB (ours: FileStore as the only tier; bentocache: its file driver as the
 *   only layer; cache-manager has no file store installed here, so it is left out)
 *
 * Our stores use default options (MemoryStore 64 MiB; FileStore 1 GiB, `sync: "always"` —
 * which only the setup's writes pay); both caches keep entries fresh for an hour (ours
 * `fresh`, bentocache `ttl`), so no entry expires during the run. Keys are the same
 * template strings on every side. The budgets are judged on a second measurement of their
 * cases in interleaved rounds (medians), so a burst of load lands on every side alike.
 * - miss with coalescing: 100 concurrent gets of a new key, one origin call (a microtask),
 *   every caller gets the value
 *
 * Run: bun bench/tiered.bench.ts
 */
import { BentoCache, bentostore } from "bentocache";
import { fileDriver } from "bentocache/drivers/file";
import { memoryDriver } from "bentocache/drivers/memory";
import { createCache } from "cache-manager";
import { bench, do_not_optimize, group, run } from "mitata";
import { tempDir } from "../test/helpers/temp.ts";
import { FileStore, MemoryStore, TieredCache, type Fetcher } from "../src/tiered/index.ts";
import { averages, describeSides, medians, printBudgets, printRatios, printRounds } from "./lib/report.ts";
import { interleavedAsync } from "./lib/rounds.ts";

using dir = tempDir("offheap-bench-tiered-");
describeSides({
  ours: 'TieredCache({ tiers: [new MemoryStore()], fresh: 1 h }) and TieredCache({ tiers: [FileStore.open(dir)], fresh: 1 h }): stores with default options (FileStore sync "always"); get(key, fetcher), body consumed (bytes() / the stream)',
  bentocache: "bentocache 1.6: memoryDriver({ maxItems: 100,000, serialize: false }) as L1 (serialize: false keeps the Uint8Array as is: the faster setting, and the only one that stores bytes), fileDriver as the only layer (L2, a 16 KiB string: it stores JSON), ttl 1 h; get and getOrSet",
  "cache-manager": "cache-manager 7 createCache({ ttl: 1 h }) (its default in-memory Keyv), wrap",
  work: "256 keys `k<i>` in turn, every get a hit; 1 KiB bodies for memory, 16 KiB for file; misses: 100 concurrent gets of a new key, one origin call",
});
const KEYS = 256;
const body1k = new Uint8Array(1024).fill(42);
const body16k = new Uint8Array(16 * 1024).fill(7);
const text16k = "x".repeat(16 * 1024);

async function readToEnd(body: ReadableStream<Uint8Array> | null): Promise<number> {
  if (body === null) return 0;
  const reader = body.getReader();
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return n;
    n += value.length;
  }
}

const fetch1k: Fetcher = async () => ({ body: body1k });
const fetch16k: Fetcher = async () => ({ body: body16k });

// --- ours ---
const memCache = new TieredCache({ tiers: [new MemoryStore()], fresh: 3_600_000 });
const fileCache = new TieredCache({ tiers: [FileStore.open(dir.file("ours"))], fresh: 3_600_000 });
const missCache = new TieredCache({ tiers: [new MemoryStore()], fresh: 3_600_000 });
for (let i = 0; i < KEYS; i++) {
  await memCache.set(`k${i}`, body1k);
  await fileCache.set(`k${i}`, body16k);
}

// --- bentocache ---
const bentoMem = new BentoCache({
  default: "mem",
  stores: { mem: bentostore().useL1Layer(memoryDriver({ maxItems: 100_000, serialize: false })) },
});
const bentoFile = new BentoCache({
  default: "file",
  stores: { file: bentostore().useL2Layer(fileDriver({ directory: dir.file("bento") })) },
});
const bentoMiss = new BentoCache({
  default: "mem",
  stores: { mem: bentostore().useL1Layer(memoryDriver({ maxItems: 100_000, serialize: false })) },
});
for (let i = 0; i < KEYS; i++) {
  await bentoMem.set({ key: `k${i}`, value: body1k, ttl: "1h" });
  await bentoFile.set({ key: `k${i}`, value: text16k, ttl: "1h" });
}

// --- cache-manager ---
const cmMem = createCache({ ttl: 3_600_000 });
const cmMiss = createCache({ ttl: 3_600_000 });
for (let i = 0; i < KEYS; i++) await cmMem.set(`k${i}`, body1k);

let i = 0;
const key = () => `k${(i = (i + 1) % KEYS)}`;
let missId = 0;

group("memory hit, 1 KiB consumed", () => {
  bench("offheap TieredCache (memory)", async () => {
    const r = await memCache.get(key(), fetch1k);
    do_not_optimize(await r.bytes());
  });
  bench("offheap TieredCache (memory, as a stream)", async () => {
    const r = await memCache.get(key(), fetch1k);
    do_not_optimize(await readToEnd(r.body));
  });
  bench("bentocache get (memory)", async () => {
    do_not_optimize(await bentoMem.get({ key: key() }));
  });
  bench("bentocache (memory)", async () => {
    do_not_optimize(await bentoMem.getOrSet({ key: key(), factory: () => body1k }));
  });
  bench("cache-manager (memory)", async () => {
    do_not_optimize(await cmMem.wrap(key(), async () => body1k));
  });
});

group("file hit, 16 KiB", () => {
  bench("offheap TieredCache (file)", async () => {
    const r = await fileCache.get(key(), fetch16k);
    do_not_optimize(await readToEnd(r.body));
  });
  bench("bentocache get (file driver)", async () => {
    do_not_optimize(await bentoFile.get({ key: key() }));
  });
  bench("bentocache (file driver)", async () => {
    do_not_optimize(await bentoFile.getOrSet({ key: key(), factory: () => text16k }));
  });
});

group("miss, 100 concurrent gets coalesced into one origin call", () => {
  bench("offheap TieredCache (miss x100)", async () => {
    const k = `m${missId++}`;
    let calls = 0;
    const f: Fetcher = async () => {
      calls++;
      return { body: body1k };
    };
    const rs = await Promise.all(Array.from({ length: 100 }, () => missCache.get(k, f).then((r) => readToEnd(r.body))));
    if (calls !== 1 || rs.length !== 100) throw new Error(`expected one origin call, got ${calls}`);
  });
  bench("bentocache (miss x100)", async () => {
    const k = `m${missId++}`;
    let calls = 0;
    const rs = await Promise.all(
      Array.from({ length: 100 }, () =>
        bentoMiss.getOrSet({
          key: k,
          factory: async () => {
            calls++;
            return body1k;
          },
        }),
      ),
    );
    if (calls !== 1 || rs.length !== 100) throw new Error(`bentocache: expected one origin call, got ${calls}`);
  });
  bench("cache-manager (miss x100)", async () => {
    const k = `m${missId++}`;
    let calls = 0;
    const rs = await Promise.all(
      Array.from({ length: 100 }, () =>
        cmMiss.wrap(k, async () => {
          calls++;
          return body1k;
        }),
      ),
    );
    if (calls !== 1 || rs.length !== 100) throw new Error(`cache-manager: expected one origin call, got ${calls}`);
  });
});

const result = await run();
const avg = averages(result);
const comparisons = [
  { ours: "offheap TieredCache (memory)", peer: "bentocache get (memory)" },
  { ours: "offheap TieredCache (memory)", peer: "bentocache (memory)" },
  { ours: "offheap TieredCache (memory)", peer: "cache-manager (memory)" },
  { ours: "offheap TieredCache (memory, as a stream)", peer: "bentocache get (memory)" },
  { ours: "offheap TieredCache (memory, as a stream)", peer: "bentocache (memory)" },
  { ours: "offheap TieredCache (file)", peer: "bentocache get (file driver)" },
  { ours: "offheap TieredCache (file)", peer: "bentocache (file driver)" },
  { ours: "offheap TieredCache (miss x100)", peer: "bentocache (miss x100)" },
  { ours: "offheap TieredCache (miss x100)", peer: "cache-manager (miss x100)" },
];
printRatios("TieredCache vs bentocache and cache-manager (bentocache rows without \"get\" are getOrSet)", avg, comparisons);
// Medians too: on a shared, loaded machine the average carries GC pauses and neighbours' noise.
const p50 = medians(result);
printRatios("TieredCache vs bentocache and cache-manager (medians)", p50, comparisons);
// The budget cases again, in interleaved rounds (medians): memory hits, then file hits.
const loop = (one: () => Promise<unknown>) => async (ops: number) => {
  for (let n = 0; n < ops; n++) await one();
  return ops;
};
const memRounds = await interleavedAsync(
  {
    "offheap TieredCache (memory), bytes()": loop(async () => (await memCache.get(key(), fetch1k)).bytes()),
    "bentocache get (memory)": loop(() => bentoMem.get({ key: key() })),
    "bentocache getOrSet (memory)": loop(() => bentoMem.getOrSet({ key: key(), factory: () => body1k })),
  },
  { rounds: 15, ops: 10_000 },
);
printRounds("Memory hits, 1 KiB, in interleaved rounds of 10,000 gets, median of 15", memRounds);
const fileRounds = await interleavedAsync(
  {
    "offheap TieredCache (file), body read": loop(async () => readToEnd((await fileCache.get(key(), fetch16k)).body)),
    "bentocache get (file driver)": loop(() => bentoFile.get({ key: key() })),
    "bentocache getOrSet (file driver)": loop(() => bentoFile.getOrSet({ key: key(), factory: () => text16k })),
  },
  { rounds: 15, ops: 500 },
);
printRounds("File hits, 16 KiB, in interleaved rounds of 500 gets, median of 15", fileRounds);
const t = (name: string) => memRounds.get(name)?.ns ?? fileRounds.get(name)?.ns ?? Number.NaN;
// The budget is held against the faster of bentocache's get and getOrSet (both do a hit's work).
const bento = (layer: string) => Math.min(t(`bentocache get (${layer})`), t(`bentocache getOrSet (${layer})`));
printBudgets([
  { name: "tiered memory hit, 1 KiB, body consumed (bytes()): ours / the faster of bentocache get and getOrSet, interleaved medians", measured: t("offheap TieredCache (memory), bytes()") / bento("memory"), op: "<=", target: 1 },
  { name: "tiered file hit, 16 KiB, body consumed: the faster of bentocache get and getOrSet (file driver) / ours, interleaved medians", measured: bento("file driver") / t("offheap TieredCache (file), body read"), op: ">=", target: 5 },
]);

await Promise.all([memCache.close(), fileCache.close(), missCache.close(), bentoMem.disconnect(), bentoFile.disconnect(), bentoMiss.disconnect(), cmMem.disconnect(), cmMiss.disconnect()]);
