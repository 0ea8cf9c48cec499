/**
 * RingBuffer beside the stores a user would pick instead, in the same run: append and get
 * of 128 B and 4 KiB records, in both I/O modes, against lmdb (noSync, one putSync per
 * record) and bun:sqlite (WAL, synchronous=OFF, one INSERT OR REPLACE per record), each
 * keeping a fixed window of records like the ring. No fsync anywhere: this is the page-cache
 * cost of each store. Ratios (peer time / ours) are printed at the end.
 */
import { Database } from "bun:sqlite";
import { bench, do_not_optimize, group, run } from "mitata";
import { RingBuffer } from "../src/ring/index.ts";
import { tempDir } from "../test/helpers/temp.ts";
import { averages, formatNs, printRatios } from "./lib/report.ts";

using dir = tempDir("offheap-bench-ring-");

const sizes = [
  { label: "128 B", bytes: 128, capacity: 1 << 16 },
  { label: "4 KiB", bytes: 4096, capacity: 1 << 13 },
] as const;
const payloads = new Map(sizes.map((s) => [s.bytes, new Uint8Array(s.bytes).map((_, i) => (i * 31) & 255)]));

// --- ours: one ring per size and I/O mode, filled once so gets always hit
const rings = new Map<string, RingBuffer>();
for (const s of sizes) {
  for (const io of ["mmap", "pread"] as const) {
    const ring = RingBuffer.open(dir.file(`${s.bytes}-${io}.ring`), { recordSize: s.bytes, capacity: s.capacity, io });
    const payload = payloads.get(s.bytes)!;
    for (let i = 0; i < s.capacity; i++) ring.append(payload);
    rings.set(`${s.bytes}-${io}`, ring);
  }
}

// --- lmdb (it may fail to load or crash under Bun: then it is reported and skipped)
type LmdbDb = { putSync(k: number, v: Uint8Array): void; get(k: number): unknown; getBinaryFast(k: number): unknown; close(): Promise<void> };
const lmdb = new Map<number, LmdbDb>();
let lmdbNote = "";
try {
  const { open } = await import("lmdb");
  for (const s of sizes) {
    const db = open({ path: dir.file(`lmdb-${s.bytes}`), noSync: true, keyEncoding: "uint32", encoding: "binary" }) as unknown as LmdbDb;
    const payload = payloads.get(s.bytes)!;
    for (let i = 0; i < s.capacity; i++) db.putSync(i, payload);
    lmdb.set(s.bytes, db);
  }
} catch (e) {
  lmdbNote = `lmdb failed under Bun ${Bun.version}: ${(e as Error).message}; only bun:sqlite is compared`;
  console.log(lmdbNote);
}

// --- bun:sqlite in WAL mode
const db = new Database(dir.file("ring.sqlite"));
db.run("PRAGMA journal_mode = WAL");
db.run("PRAGMA synchronous = OFF");
const sqlite = new Map<number, { put: (slot: number, data: Uint8Array) => void; get: (slot: number) => unknown }>();
for (const s of sizes) {
  db.run(`CREATE TABLE ring${s.bytes} (slot INTEGER PRIMARY KEY, data BLOB NOT NULL)`);
  const insert = db.prepare(`INSERT OR REPLACE INTO ring${s.bytes} (slot, data) VALUES (?, ?)`);
  const select = db.prepare(`SELECT data FROM ring${s.bytes} WHERE slot = ?`);
  const payload = payloads.get(s.bytes)!;
  db.transaction(() => {
    for (let i = 0; i < s.capacity; i++) insert.run(i, payload);
  })();
  sqlite.set(s.bytes, { put: (slot, data) => insert.run(slot, data), get: (slot) => select.get(slot) });
}

let k = 0;
for (const s of sizes) {
  const payload = payloads.get(s.bytes)!;
  const mask = s.capacity - 1;
  const target = new Uint8Array(s.bytes);
  const mm = rings.get(`${s.bytes}-mmap`)!;
  const pr = rings.get(`${s.bytes}-pread`)!;
  const ldb = lmdb.get(s.bytes);
  const sq = sqlite.get(s.bytes)!;

  group(`append ${s.label}`, () => {
    bench(`ring mmap append ${s.label}`, () => do_not_optimize(mm.append(payload)));
    bench(`ring pread append ${s.label}`, () => do_not_optimize(pr.append(payload)));
    if (ldb) bench(`lmdb putSync ${s.label}`, () => ldb.putSync(k++ & mask, payload));
    bench(`sqlite insert ${s.label}`, () => sq.put(k++ & mask, payload));
  });

  group(`get ${s.label}`, () => {
    bench(`ring mmap get ${s.label}`, () => do_not_optimize(mm.get(mm.next - 1 - (k++ & mask))));
    bench(`ring mmap getInto ${s.label}`, () => do_not_optimize(mm.getInto(mm.next - 1 - (k++ & mask), target)));
    bench(`ring pread get ${s.label}`, () => do_not_optimize(pr.get(pr.next - 1 - (k++ & mask))));
    bench(`ring pread getInto ${s.label}`, () => do_not_optimize(pr.getInto(pr.next - 1 - (k++ & mask), target)));
    if (ldb) {
      bench(`lmdb get ${s.label}`, () => do_not_optimize(ldb.get(k++ & mask)));
      bench(`lmdb getBinaryFast ${s.label}`, () => do_not_optimize(ldb.getBinaryFast(k++ & mask)));
    }
    bench(`sqlite select ${s.label}`, () => do_not_optimize(sq.get(k++ & mask)));
  });
}

const avg = averages(await run());
const ns = (name: string) => avg.get(name) ?? Number.NaN;

// --- first lap: appends into new files, where every page is touched for the first time.
// mitata's loop would wrap a ring, so this is timed by hand: rounds alternate between us
// and lmdb (noSync, one putSync per new key), each on new files, and the median counts.
const FIRST_LAP = 1 << 18;
const firstLap = { ring: [] as number[], lmdb: [] as number[], create: [] as number[] };
const payload128 = payloads.get(128)!;
for (let round = 0; round < 5; round++) {
  const t0 = Bun.nanoseconds();
  const fresh = RingBuffer.open(dir.file(`fresh-${round}.ring`), { recordSize: 128, capacity: FIRST_LAP });
  const t1 = Bun.nanoseconds();
  for (let i = 0; i < FIRST_LAP; i++) fresh.append(payload128);
  firstLap.create.push(t1 - t0);
  firstLap.ring.push((Bun.nanoseconds() - t1) / FIRST_LAP);
  fresh.close();
  if (lmdb.size > 0) {
    const { open } = await import("lmdb");
    const fdb = open({ path: dir.file(`fresh-lmdb-${round}`), noSync: true, keyEncoding: "uint32", encoding: "binary" }) as unknown as LmdbDb;
    const t2 = Bun.nanoseconds();
    for (let i = 0; i < FIRST_LAP; i++) fdb.putSync(i, payload128);
    firstLap.lmdb.push((Bun.nanoseconds() - t2) / FIRST_LAP);
    await fdb.close();
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
avg.set("ring mmap append 128 B, first lap", median(firstLap.ring));
if (firstLap.lmdb.length > 0) avg.set("lmdb putSync 128 B, new keys", median(firstLap.lmdb));

const comparisons = [];
for (const s of sizes) {
  for (const io of ["mmap", "pread"]) {
    const peers = [...(lmdb.size > 0 ? [`lmdb putSync ${s.label}`] : []), `sqlite insert ${s.label}`];
    for (const peer of peers) comparisons.push({ ours: `ring ${io} append ${s.label}`, peer });
    const getPeers = [...(lmdb.size > 0 ? [`lmdb get ${s.label}`] : []), `sqlite select ${s.label}`];
    for (const peer of getPeers) comparisons.push({ ours: `ring ${io} get ${s.label}`, peer });
    if (lmdb.size > 0) comparisons.push({ ours: `ring ${io} getInto ${s.label}`, peer: `lmdb getBinaryFast ${s.label}` });
  }
}
if (lmdb.size > 0) comparisons.push({ ours: "ring mmap append 128 B, first lap", peer: "lmdb putSync 128 B, new keys" });
printRatios("RingBuffer vs lmdb and bun:sqlite (WAL)", avg, comparisons);
console.log(
  `\nfirst lap: a new ring of ${FIRST_LAP} × 128 B appends at ${formatNs(median(firstLap.ring))} each after an open of ` +
    `${formatNs(median(firstLap.create))} (which writes its slots once); lapped: ${formatNs(ns("ring mmap append 128 B"))}`,
);
if (lmdbNote) console.log(`\nnote: ${lmdbNote}`);

const gbps = (name: string) => (4096 / ns(name)).toFixed(2);
console.log(
  `\nbudgets (README, Budgets at a glance): ring mmap append 128 B ${formatNs(ns("ring mmap append 128 B"))}, get ${formatNs(ns("ring mmap get 128 B"))} ` +
    `(budget ≤ 150 ns each); 4 KiB appends without sync: mmap ${gbps("ring mmap append 4 KiB")} GB/s, ` +
    `pread ${gbps("ring pread append 4 KiB")} GB/s (budget ≥ 2 GB/s)`,
);

for (const ring of rings.values()) ring.close();
for (const l of lmdb.values()) await l.close();
db.close();
