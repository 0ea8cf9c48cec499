/**
 * RingBuffer beside the stores a user would pick instead, in the same run, doing the same
 * work: append and read of 128 B and 4 KiB records, keeping a fixed window of records like
 * the ring (the peers overwrite key `i % capacity`).
 *
 * - ours: `RingBuffer.open(path, { recordSize, capacity })`, every other option default
 *   (`io: "mmap"`, `sync: "none"`); `io: "pread"` rows are extras, not the headline.
 * - lmdb: `noSync: true`, and the appends of one timed batch in one `transactionSync`
 *   (the contract: no sync where we don't sync, lmdb noSync in a transaction). A
 *   transaction per put (a commit each, still no sync) is an extra row.
 * - bun:sqlite: WAL, `synchronous=OFF`, the inserts of one timed batch in one transaction.
 *
 * Appends are timed in batches of BATCH records (per record reported), the same batch for
 * every side. No fsync anywhere: this is the page-cache cost of each store. The first lap
 * (new files, every page touched for the first time) is timed by hand, open included,
 * alternating the sides. Ratios, then the `budgets:` block, are printed at the end.
 *
 * The budgets are judged on a second measurement of just their cases in interleaved rounds
 * (each case in turn, the order rotating, the median of 15 rounds), so that a burst of load
 * on a shared machine lands on every side alike; the mitata tables are the full picture.
 */
import { Database } from "bun:sqlite";
import { bench, do_not_optimize, group, run } from "mitata";
import { RingBuffer } from "../src/ring/index.ts";
import { slotCrc } from "../src/ring/slot.ts";
import { tempDir } from "../test/helpers/temp.ts";
import { averages, describeSides, formatNs, median, printBudgets, printRatios, printRounds, type Budget, type Comparison } from "./lib/report.ts";
import { interleaved, type Case } from "./lib/rounds.ts";

using dir = tempDir("offheap-bench-ring-");

const BATCH = 256;
const sizes = [
  { label: "128 B", bytes: 128, capacity: 1 << 16 },
  { label: "4 KiB", bytes: 4096, capacity: 1 << 13 },
] as const;
const payloads = new Map(sizes.map((s) => [s.bytes, new Uint8Array(s.bytes).map((_, i) => (i * 31) & 255)]));

describeSides({
  ours: `RingBuffer default options (io "mmap", sync "none"), 128 B / 4 KiB records, 65,536 / 8,192 slots, filled once (lapped); "pread" rows are the non-default io, extras`,
  lmdb: `lmdb 3.5 noSync, uint32 keys, binary values, ${BATCH} putSync per transactionSync (a transaction per put as an extra row); get / getBinaryFast`,
  sqlite: `bun:sqlite WAL, synchronous=OFF, INSERT OR REPLACE of ${BATCH} rows per transaction; SELECT by INTEGER PRIMARY KEY`,
  work: `the same records and sizes on every side, a fixed window (peers overwrite key i % capacity), appends timed in batches of ${BATCH}, reported per record; first lap: new files, open included`,
});

// --- ours: one ring per size and I/O mode, filled once so gets always hit
const rings = new Map<string, RingBuffer>();
for (const s of sizes) {
  for (const io of ["default", "pread"] as const) {
    const path = dir.file(`${s.bytes}-${io}.ring`);
    const ring = io === "default" ? RingBuffer.open(path, { recordSize: s.bytes, capacity: s.capacity }) : RingBuffer.open(path, { recordSize: s.bytes, capacity: s.capacity, io });
    const payload = payloads.get(s.bytes)!;
    for (let i = 0; i < s.capacity; i++) ring.append(payload);
    rings.set(`${s.bytes}-${io}`, ring);
  }
}

// --- lmdb (it may fail to load or crash under Bun: then it is reported and skipped)
type LmdbDb = {
  putSync(k: number, v: Uint8Array): void;
  transactionSync<T>(f: () => T): T;
  get(k: number): unknown;
  getBinaryFast(k: number): unknown;
  close(): Promise<void>;
};
type LmdbOpen = (o: object) => LmdbDb;
const lmdbOptions = (path: string) => ({ path, noSync: true, keyEncoding: "uint32", encoding: "binary" });
const lmdb = new Map<number, LmdbDb>();
let lmdbOpen: LmdbOpen | undefined;
let lmdbNote = "";
try {
  lmdbOpen = (await import("lmdb")).open as unknown as LmdbOpen;
  for (const s of sizes) {
    const db = lmdbOpen(lmdbOptions(dir.file(`lmdb-${s.bytes}`)));
    const payload = payloads.get(s.bytes)!;
    db.transactionSync(() => {
      for (let i = 0; i < s.capacity; i++) db.putSync(i, payload);
    });
    lmdb.set(s.bytes, db);
  }
} catch (e) {
  lmdbNote = `lmdb failed under Bun ${Bun.version}: ${(e as Error).message}; only bun:sqlite is compared`;
  console.log(lmdbNote);
}

// --- bun:sqlite in WAL mode, synchronous=OFF
function sqliteRing(path: string, bytes: number) {
  const db = new Database(path);
  db.run("PRAGMA journal_mode = WAL");
  db.run("PRAGMA synchronous = OFF");
  db.run(`CREATE TABLE IF NOT EXISTS ring${bytes} (slot INTEGER PRIMARY KEY, data BLOB NOT NULL)`);
  const insert = db.prepare(`INSERT OR REPLACE INTO ring${bytes} (slot, data) VALUES (?, ?)`);
  const select = db.prepare(`SELECT data FROM ring${bytes} WHERE slot = ?`);
  const putMany = db.transaction((from: number, n: number, mask: number, data: Uint8Array) => {
    for (let j = 0; j < n; j++) insert.run((from + j) & mask, data);
  });
  return { db, putMany, get: (slot: number) => select.get(slot) };
}
const sqlite = new Map<number, ReturnType<typeof sqliteRing>>();
for (const s of sizes) {
  const sq = sqliteRing(dir.file(`ring-${s.bytes}.sqlite`), s.bytes);
  sq.putMany(0, s.capacity, s.capacity - 1, payloads.get(s.bytes)!);
  sqlite.set(s.bytes, sq);
}

let k = 0;
for (const s of sizes) {
  const payload = payloads.get(s.bytes)!;
  const mask = s.capacity - 1;
  const target = new Uint8Array(s.bytes);
  const mm = rings.get(`${s.bytes}-default`)!;
  const pr = rings.get(`${s.bytes}-pread`)!;
  const ldb = lmdb.get(s.bytes);
  const sq = sqlite.get(s.bytes)!;

  group(`append ${s.label}, ${BATCH} per iteration`, () => {
    bench(`ring append ${s.label}`, () => {
      for (let j = 0; j < BATCH; j++) mm.append(payload);
    });
    bench(`ring append ${s.label} (io pread)`, () => {
      for (let j = 0; j < BATCH; j++) pr.append(payload);
    });
    if (ldb) {
      bench(`lmdb putSync ${s.label}, ${BATCH} per transaction`, () => {
        ldb.transactionSync(() => {
          for (let j = 0; j < BATCH; j++) ldb.putSync(k++ & mask, payload);
        });
      });
      bench(`lmdb putSync ${s.label}, a transaction per put`, () => {
        for (let j = 0; j < BATCH; j++) ldb.putSync(k++ & mask, payload);
      });
    }
    bench(`sqlite insert ${s.label}, ${BATCH} per transaction`, () => {
      sq.putMany(k, BATCH, mask, payload);
      k += BATCH;
    });
  });

  group(`read ${s.label}`, () => {
    bench(`ring get ${s.label}`, function* () {
      const top = mm.next - 1; // the window stands still while reads run
      yield () => do_not_optimize(mm.get(top - (k++ & mask)));
    });
    bench(`ring getInto ${s.label}`, function* () {
      const top = mm.next - 1; // the window stands still while reads run
      yield () => do_not_optimize(mm.getInto(top - (k++ & mask), target));
    });
    bench(`ring get ${s.label} (io pread)`, function* () {
      const top = pr.next - 1; // the window stands still while reads run
      yield () => do_not_optimize(pr.get(top - (k++ & mask)));
    });
    bench(`ring getInto ${s.label} (io pread)`, function* () {
      const top = pr.next - 1; // the window stands still while reads run
      yield () => do_not_optimize(pr.getInto(top - (k++ & mask), target));
    });
    if (ldb) {
      bench(`lmdb get ${s.label}`, () => do_not_optimize(ldb.get(k++ & mask)));
      bench(`lmdb getBinaryFast ${s.label}`, () => do_not_optimize(ldb.getBinaryFast(k++ & mask)));
    }
    bench(`sqlite select ${s.label}`, () => do_not_optimize(sq.get(k++ & mask)));
  });
}

const avg = averages(await run());
// Appends were timed per batch: per record from here on.
for (const [name, ns] of avg) if (/ append | putSync | insert /.test(name)) avg.set(name, ns / BATCH);
const ns = (name: string) => avg.get(name) ?? Number.NaN;

// --- first lap: appends into new files, where every page is touched for the first time.
// mitata's loop would wrap a ring, so this is timed by hand: rounds alternate between the
// sides, each on new files, open included, and the median counts.
const firstLaps = [
  { label: "128 B", bytes: 128, records: 1 << 18, rounds: 5 },
  { label: "4 KiB", bytes: 4096, records: 1 << 14, rounds: 3 },
] as const;
for (const lap of firstLaps) {
  const payload = payloads.get(lap.bytes)!;
  const times = { ring: [] as number[], open: [] as number[], appends: [] as number[], lmdb: [] as number[], sqlite: [] as number[] };
  for (let round = 0; round < lap.rounds; round++) {
    const t0 = Bun.nanoseconds();
    const fresh = RingBuffer.open(dir.file(`fresh-${lap.bytes}-${round}.ring`), { recordSize: lap.bytes, capacity: lap.records });
    const t1 = Bun.nanoseconds();
    for (let i = 0; i < lap.records; i++) fresh.append(payload);
    const t2 = Bun.nanoseconds();
    times.ring.push((t2 - t0) / lap.records);
    times.open.push(t1 - t0);
    times.appends.push((t2 - t1) / lap.records);
    fresh.close();
    if (lmdbOpen !== undefined) {
      const tl = Bun.nanoseconds();
      const fdb = lmdbOpen(lmdbOptions(dir.file(`fresh-lmdb-${lap.bytes}-${round}`)));
      for (let i = 0; i < lap.records; i += BATCH) {
        fdb.transactionSync(() => {
          for (let j = i; j < i + BATCH; j++) fdb.putSync(j, payload);
        });
      }
      times.lmdb.push((Bun.nanoseconds() - tl) / lap.records);
      await fdb.close();
    }
    const t3 = Bun.nanoseconds();
    const fsq = sqliteRing(dir.file(`fresh-${lap.bytes}-${round}.sqlite`), lap.bytes);
    for (let i = 0; i < lap.records; i += BATCH) fsq.putMany(i, BATCH, 0xffffffff, payload);
    times.sqlite.push((Bun.nanoseconds() - t3) / lap.records);
    fsq.db.close();
  }
  avg.set(`ring append ${lap.label}, first lap`, median(times.ring));
  if (times.lmdb.length > 0) avg.set(`lmdb putSync ${lap.label}, new keys, ${BATCH} per transaction`, median(times.lmdb));
  avg.set(`sqlite insert ${lap.label}, new rows, ${BATCH} per transaction`, median(times.sqlite));
  console.log(
    `first lap ${lap.label}: a new ring of ${lap.records.toLocaleString("en-US")} records, ${formatNs(median(times.ring))} per append including an open of ` +
      `${formatNs(median(times.open))} (${formatNs(median(times.open) / lap.records)} a record; a Worker writes the slots once meanwhile) and appends alone of ${formatNs(median(times.appends))}; ` +
      `${(lap.records * lap.bytes) / (1 << 20)} MiB of payload; median of ${lap.rounds} rounds alternating with lmdb and sqlite`,
  );
}

const comparisons: Comparison[] = [];
const peersOf = (what: "append" | "read", label: string) =>
  what === "append"
    ? [...(lmdb.size > 0 ? [`lmdb putSync ${label}, ${BATCH} per transaction`, `lmdb putSync ${label}, a transaction per put`] : []), `sqlite insert ${label}, ${BATCH} per transaction`]
    : [...(lmdb.size > 0 ? [`lmdb get ${label}`, `lmdb getBinaryFast ${label}`] : []), `sqlite select ${label}`];
for (const s of sizes) {
  for (const io of ["", " (io pread)"]) {
    for (const peer of peersOf("append", s.label)) comparisons.push({ ours: `ring append ${s.label}${io}`, peer });
    for (const peer of peersOf("read", s.label)) if (!peer.includes("Fast")) comparisons.push({ ours: `ring get ${s.label}${io}`, peer });
    for (const peer of peersOf("read", s.label)) comparisons.push({ ours: `ring getInto ${s.label}${io}`, peer });
  }
  comparisons.push(
    ...(lmdb.size > 0 ? [{ ours: `ring append ${s.label}, first lap`, peer: `lmdb putSync ${s.label}, new keys, ${BATCH} per transaction` }] : []),
    { ours: `ring append ${s.label}, first lap`, peer: `sqlite insert ${s.label}, new rows, ${BATCH} per transaction` },
  );
}
printRatios("RingBuffer vs lmdb and bun:sqlite (WAL), same run", avg, comparisons);
if (lmdbNote) console.log(`\nnote: ${lmdbNote}`);

// --- the budget cases again, in interleaved rounds (medians), on the same stores
const cases: Record<string, Case> = {};
for (const s of sizes) {
  const payload = payloads.get(s.bytes)!;
  const mask = s.capacity - 1;
  const target = new Uint8Array(s.bytes);
  const mm = rings.get(`${s.bytes}-default`)!;
  const ldb = lmdb.get(s.bytes);
  const sq = sqlite.get(s.bytes)!;
  cases[`ring append ${s.label}`] = (ops) => {
    for (let i = 0; i < ops; i++) mm.append(payload);
    return ops;
  };
  if (s.bytes !== 128) continue;
  if (ldb) {
    cases[`lmdb putSync ${s.label}, ${BATCH} per transaction`] = (ops) => {
      for (let i = 0; i < ops; i += BATCH) {
        ldb.transactionSync(() => {
          for (let j = 0; j < BATCH; j++) ldb.putSync(k++ & mask, payload);
        });
      }
      return ops;
    };
  }
  cases[`sqlite insert ${s.label}, ${BATCH} per transaction`] = (ops) => {
    for (let i = 0; i < ops; i += BATCH) {
      sq.putMany(k, BATCH, mask, payload);
      k += BATCH;
    }
    return ops;
  };
  cases[`ring getInto ${s.label}`] = (ops) => {
    let sink = 0;
    const top = mm.next - 1;
    for (let i = 0; i < ops; i++) sink += mm.getInto(top - (k++ & mask), target);
    return sink;
  };
  if (ldb) {
    cases[`lmdb getBinaryFast ${s.label}`] = (ops) => {
      let sink = 0;
      for (let i = 0; i < ops; i++) sink += (ldb.getBinaryFast(k++ & mask) as Uint8Array).length;
      return sink;
    };
  }
  cases[`sqlite select ${s.label}`] = (ops) => {
    let sink = 0;
    for (let i = 0; i < ops; i++) sink += sq.get(k++ & mask) === null ? 0 : 1;
    return sink;
  };
}
const rounds = interleaved(cases, { rounds: 15, ops: BATCH * 40 });
printRounds(`The budget cases in interleaved rounds of ${(BATCH * 40).toLocaleString("en-US")} operations, median of 15`, rounds);
const r = (name: string) => rounds.get(name)?.ns ?? avg.get(name) ?? Number.NaN;

/** The faster peer's time over ours (how many times faster ours is than the better peer). */
function overFaster(ours: string, peers: string[], time: (name: string) => number): { x: number; peer: string } {
  const present = peers.filter((p) => Number.isFinite(time(p)));
  if (present.length === 0) return { x: Number.NaN, peer: "none measured" };
  const best = present.reduce((a, b) => (time(b) < time(a) ? b : a));
  return { x: time(best) / time(ours), peer: best };
}
const lapped = overFaster("ring append 128 B", [`lmdb putSync 128 B, ${BATCH} per transaction`, `sqlite insert 128 B, ${BATCH} per transaction`], r);
const first = overFaster("ring append 128 B, first lap", [`lmdb putSync 128 B, new keys, ${BATCH} per transaction`, `sqlite insert 128 B, new rows, ${BATCH} per transaction`], ns);
const into = overFaster("ring getInto 128 B", ["lmdb getBinaryFast 128 B", "sqlite select 128 B"], r);
const gbps = (name: string, bytes: number, time = ns) => bytes / time(name);
const budgets: Budget[] = [
  { name: `ring append 128 B, lapped ring: faster peer (${lapped.peer}) / ours, interleaved medians`, measured: lapped.x, op: ">=", target: 5 },
  { name: `ring append 128 B, first lap of a new ring, open included: faster peer (${first.peer}) / ours, alternating rounds' medians`, measured: first.x, op: ">=", target: 5 },
  { name: `ring getInto 128 B: faster peer (${into.peer}) / ours, interleaved medians`, measured: into.x, op: ">=", target: 5 },
  { name: "ring 4 KiB appends, default options, no sync, lapped ring, interleaved median", measured: gbps("ring append 4 KiB", 4096, r), op: ">=", target: 2, unit: " GB/s" },
];
// --- where a getInto's time goes (the budget it does not meet is judged on the whole call)
{
  const mm = rings.get("128-default")!;
  const target = new Uint8Array(128);
  const slot = new Uint8Array(4096).map((_, i) => (i * 31) & 255);
  const slotWords = new Int32Array(slot.buffer);
  const targetWords = new Int32Array(target.buffer);
  const payloadView = slot.subarray(16, 144);
  const ldb = lmdb.get(128);
  const mask = (1 << 16) - 1;
  const steps: Record<string, Case> = {
    "1 the call: argument checks, counters, head load (an id past the head: a miss)": (ops) => {
      let sink = 0;
      const past = mm.next + 1;
      for (let i = 0; i < ops; i++) sink += mm.getInto(past, target);
      return sink;
    },
    "2 copy 128 B word by word (heap arrays standing in for the mapping)": (ops) => {
      for (let i = 0; i < ops; i++) for (let j = 0; j < 32; j++) targetWords[j] = slotWords[4 + j]!;
      return targetWords[0]!;
    },
    "3 the slot's CRC-32 (12 header bytes in JS, 128 B by Bun.hash.crc32)": (ops) => {
      let sink = 0;
      for (let i = 0; i < ops; i++) sink ^= slotCrc(i, 0x8000_0080, payloadView);
      return sink;
    },
    "4 getInto 128 B, all of it (a hit)": (ops) => {
      let sink = 0;
      const top = mm.next - 1;
      for (let i = 0; i < ops; i++) sink += mm.getInto(top - (k++ & mask), target);
      return sink;
    },
  };
  if (ldb) {
    steps["lmdb getBinaryFast 128 B (the peer)"] = (ops) => {
      let sink = 0;
      for (let i = 0; i < ops; i++) sink += (ldb.getBinaryFast(k++ & mask) as Uint8Array).length;
      return sink;
    };
  }
  const parts = interleaved(steps, { rounds: 11, ops: BATCH * 40 });
  console.log("\n### Where a ring getInto's time goes, 128 B, mmap (steps 1-3 measured apart; 4 is the whole call)\n");
  console.log("| step | ns per call |\n|---|---|");
  for (const [name, { ns: t }] of parts) console.log(`| ${name} | ${t.toFixed(1)} ns |`);
}

// The 4 KiB budget is for appends (the ring lapped); the first lap of a new 4 KiB ring is shown, not a budget.
console.log(`\n4 KiB first lap of a new ring, open included (not a budget): ${gbps("ring append 4 KiB, first lap", 4096).toFixed(2)} GB/s; io "pread" lapped (not default): ${gbps("ring append 4 KiB (io pread)", 4096).toFixed(2)} GB/s`);
printBudgets(budgets);

for (const ring of rings.values()) ring.close();
for (const l of lmdb.values()) await l.close();
for (const sq of sqlite.values()) sq.db.close();
