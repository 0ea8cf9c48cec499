/**
 * TieredCache beside bentocache and cache-manager, doing the same work in the same run:
 *
 * - memory hit, 1 KiB body consumed (ours: get + `bytes()`, which takes the bytes the
 *   memory tier holds without a stream — and, as a second row, get + reading `body` as a
 *   stream; peers: getOrSet/wrap returning the value from their in-memory layer)
 * - file hit, 16 KiB (ours: FileStore as the only tier; bentocache: its file driver as the
 *   only layer; cache-manager has no file store installed here, so it is left out)
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
import { averages, printRatios } from "./lib/report.ts";

using dir = tempDir("offheap-bench-tiered-");
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
const memCache = new TieredCache({ tiers: [new MemoryStore({ maxBytes: 64 << 20 })], fresh: 3_600_000 });
const fileCache = new TieredCache({ tiers: [FileStore.open(dir.file("ours"), { maxBytes: 256 << 20, sync: "none" })], fresh: 3_600_000 });
const missCache = new TieredCache({ tiers: [new MemoryStore({ maxBytes: 64 << 20 })], fresh: 3_600_000 });
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
printRatios("TieredCache vs bentocache and cache-manager", avg, [
  { ours: "offheap TieredCache (memory)", peer: "bentocache (memory)" },
  { ours: "offheap TieredCache (memory)", peer: "cache-manager (memory)" },
  { ours: "offheap TieredCache (memory, as a stream)", peer: "bentocache (memory)" },
  { ours: "offheap TieredCache (file)", peer: "bentocache (file driver)" },
  { ours: "offheap TieredCache (miss x100)", peer: "bentocache (miss x100)" },
  { ours: "offheap TieredCache (miss x100)", peer: "cache-manager (miss x100)" },
]);
// Medians too: on a shared, loaded machine the average carries GC pauses and neighbours' noise.
const p50 = new Map<string, number>();
for (const trial of result.benchmarks) for (const r of trial.runs) if (r.stats) p50.set(r.name, (r.stats as { p50: number }).p50);
printRatios("TieredCache vs bentocache and cache-manager (medians)", p50, [
  { ours: "offheap TieredCache (memory)", peer: "bentocache (memory)" },
  { ours: "offheap TieredCache (memory)", peer: "cache-manager (memory)" },
  { ours: "offheap TieredCache (file)", peer: "bentocache (file driver)" },
  { ours: "offheap TieredCache (miss x100)", peer: "bentocache (miss x100)" },
  { ours: "offheap TieredCache (miss x100)", peer: "cache-manager (miss x100)" },
]);
const us = (m: Map<string, number>, name: string) => {
  const v = m.get(name);
  return v === undefined ? "?" : (v / 1000).toFixed(2);
};
console.log(
  `\nbudgets: memory hit ${us(avg, "offheap TieredCache (memory)")} µs avg / ${us(p50, "offheap TieredCache (memory)")} µs median (≤ 2 µs), ` +
    `file hit ${us(avg, "offheap TieredCache (file)")} µs avg / ${us(p50, "offheap TieredCache (file)")} µs median (≤ 20 µs)`,
);

await Promise.all([memCache.close(), fileCache.close(), missCache.close(), bentoMem.disconnect(), bentoFile.disconnect(), bentoMiss.disconnect(), cmMem.disconnect(), cmMiss.disconnect()]);
