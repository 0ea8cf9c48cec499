/**
 * DurableQueue against the queues a user would pick instead, in the same run, doing the
 * same work: a bun:sqlite table used as a queue (WAL) and plainjob (SQLite-backed job queue).
 *
 * - ours: `DurableQueue.open(dir)` with default options (one lock for several producers, kept for a synchronous run of calls, so several
 *   producer processes may append; `sync: "none"`), and `{ sync: "batch" }` for the synced
 *   group. `exclusive: true` (one writer holds the lock from open to close) is an extra
 *   row, never the headline.
 * - sqlite: `synchronous=OFF` beside our `sync: "none"`, `synchronous=FULL` (one fsync of
 *   the WAL per commit) beside `sync: "batch"` (one fdatasync per call); one statement per
 *   call (autocommit), a transaction per batch call.
 * - plainjob: its own settings (WAL), except `synchronous`, set after it opens to the same
 *   value as the sqlite queue's (plainjob itself sets NORMAL, which in WAL mode syncs only
 *   at checkpoints: the work of neither of our modes).
 * - append and shift of 100 B items, one at a time and in batches of 100; get by index
 *   (sequential and random) over 200,000 items in several segments, against a sqlite
 *   `SELECT … WHERE id = ?`; `sync: "batch"` throughput of 1 KiB items in 1 MiB and 16 MiB
 *   calls against `dd bs=1M conv=fdatasync` on the same disk (the bench's temp dir).
 *
 * Shift benchmarks refill their queue outside the timed part (mitata computed parameters).
 * The budgets are judged on a second measurement of their cases (append and shift, default
 * options, against the sqlite queue) in interleaved rounds, medians, so that a burst of load
 * on a shared machine lands on both sides alike; the mitata table is the full picture.
 */
import { Database } from "bun:sqlite";
import { bench, do_not_optimize, group, run } from "mitata";
import { bun as plainjobBun, defineQueue } from "plainjob";
import { DurableQueue } from "../src/queue/index.ts";
import type { SyncMode } from "../src/index.ts";
import { tempDir } from "../test/helpers/temp.ts";
import { averages, describeSides, machine, median, printBudgets, printRatios, printRounds, sidesBlock, type Budget, type Comparison } from "./lib/report.ts";
import { interleaved } from "./lib/rounds.ts";

using dir = tempDir("offheap-bench-queue-");
describeSides({
  ours: 'DurableQueue default options (several producers allowed: the lock kept for a synchronous run of calls; sync "none"); { sync: "batch" } in the synced groups; exclusive: true rows are extras',
  sqlite: "bun:sqlite table (id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB), WAL, synchronous=OFF beside sync none / FULL beside sync batch; INSERT per append, DELETE … RETURNING per shift, a transaction per batch",
  plainjob: "plainjob 0.0.14 on bun:sqlite (WAL), synchronous set like the sqlite queue's after it opens; add / addMany, claim + read + mark done per shift",
  dd: "dd if=/dev/zero bs=1M count=64 conv=fdatasync (one sync at the end) / oflag=dsync (a sync per MiB) into the same temp dir, its own reported time",
  work: "100 B items (plainjob: a 100-character string) one at a time and 100 per call; 1 KiB items for the throughput rows",
});
const item = new Uint8Array(100).fill(0x61);
const itemText = "a".repeat(100);
const batch = Array.from({ length: 100 }, () => item);
const batchText = Array.from({ length: 100 }, () => itemText);
const bulkOf = (n: number) => Array.from({ length: n }, () => item);

/** A bun:sqlite table used as a FIFO queue. */
function sqliteQueue(path: string, sync: SyncMode) {
  const db = new Database(path, { create: true, strict: true });
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(`PRAGMA synchronous = ${sync === "none" ? "OFF" : "FULL"}`);
  db.exec("CREATE TABLE IF NOT EXISTS q (id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB NOT NULL)");
  const insert = db.prepare("INSERT INTO q (data) VALUES (?)");
  const shiftOne = db.prepare("DELETE FROM q WHERE id = (SELECT id FROM q ORDER BY id LIMIT 1) RETURNING data");
  const select = db.prepare("SELECT data FROM q WHERE id = ?");
  const shiftHundred = db.prepare("DELETE FROM q WHERE id IN (SELECT id FROM q ORDER BY id LIMIT 100) RETURNING data");
  const insertMany = db.transaction((items: Uint8Array[]) => {
    for (const it of items) insert.run(it);
  });
  return {
    append: (data: Uint8Array) => insert.run(data),
    appendMany: (items: Uint8Array[]) => insertMany(items),
    shift: () => shiftOne.get(),
    shiftMany: () => shiftHundred.all(),
    get: (id: number) => select.get(id),
    close: () => db.close(),
  };
}

function plainjob(path: string, sync: SyncMode) {
  const db = new Database(path, { create: true, strict: true });
  const queue = defineQueue({ connection: plainjobBun(db) });
  // plainjob sets synchronous=NORMAL itself; do the same work as the sqlite queue instead.
  db.exec(`PRAGMA synchronous = ${sync === "none" ? "OFF" : "FULL"}`);
  return {
    append: (data: string) => queue.add("bench", data),
    appendMany: (items: string[]) => queue.addMany("bench", items),
    // plainjob's consume path: claim the next job, read it, mark it done.
    shift: () => {
      const claimed = queue.getAndMarkJobAsProcessing("bench");
      if (claimed === undefined) return undefined;
      const job = queue.getJobById(claimed.id);
      queue.markJobAsDone(claimed.id);
      return job;
    },
    close: () => queue.close(),
  };
}

/**
 * Keeps at least `need` items in a queue ahead of the timed shifts, refilling in bulk.
 * Returns a number: mitata only runs a computed parameter when the bench takes it.
 */
function reserve(fill: (n: number) => void, chunk: number) {
  let left = 0;
  return (need: number): number => {
    if (left < need) {
      fill(chunk);
      left += chunk;
    }
    left -= need;
    return need;
  };
}

const comparisons: Comparison[] = [];
const closers: Array<() => void> = [];

for (const sync of ["none", "batch"] as const) {
  // sync "none" is the default: open with no options at all there.
  const open = (name: string) => (sync === "none" ? DurableQueue.open(dir.file(name)) : DurableQueue.open(dir.file(name), { sync }));
  const ours = open(`ours-${sync}`);
  const oursExclusive = DurableQueue.open(dir.file(`ours-exclusive-${sync}`), { sync, exclusive: true });
  const oursShift = open(`ours-shift-${sync}`);
  const lite = sqliteQueue(dir.file(`sqlite-${sync}.db`), sync);
  const liteShift = sqliteQueue(dir.file(`sqlite-shift-${sync}.db`), sync);
  const pj = plainjob(dir.file(`plainjob-${sync}.db`), sync);
  const pjShift = plainjob(dir.file(`plainjob-shift-${sync}.db`), sync);
  closers.push(() => {
    ours.close();
    oursExclusive.close();
    oursShift.close();
    lite.close();
    liteShift.close();
    pj.close();
    pjShift.close();
  });
  // Bulk refills: sqlite and plainjob in one transaction; ours with one appendMany.
  const bulk = Array.from({ length: 2000 }, () => item);
  const bulkText = Array.from({ length: 2000 }, () => itemText);
  const oursReserve = reserve(() => oursShift.appendMany(bulk), 2000);
  const liteReserve = reserve(() => liteShift.appendMany(bulk), 2000);
  const pjReserve = reserve(() => pjShift.appendMany(bulkText), 2000);
  const tag = `sync ${sync}`;

  group(`append 100 B, ${tag}`, () => {
    bench(`ours append (${tag})`, () => ours.append(item));
    bench(`ours append (${tag}, exclusive)`, () => oursExclusive.append(item));
    bench(`sqlite insert (${tag})`, () => lite.append(item));
    bench(`plainjob add (${tag})`, () => pj.append(itemText));
  });
  group(`append 100 × 100 B, ${tag}`, () => {
    bench(`ours appendMany 100 (${tag})`, () => ours.appendMany(batch));
    bench(`ours appendMany 100 (${tag}, exclusive)`, () => oursExclusive.appendMany(batch));
    bench(`sqlite insert 100 in a transaction (${tag})`, () => lite.appendMany(batch));
    bench(`plainjob addMany 100 (${tag})`, () => pj.appendMany(batchText));
  });
  group(`shift 100 B, ${tag}`, () => {
    bench(`ours shift (${tag})`, function* () {
      yield { [0]: () => oursReserve(1), bench: (_n: number) => do_not_optimize(oursShift.shift()) };
    });
    bench(`sqlite delete-returning (${tag})`, function* () {
      yield { [0]: () => liteReserve(1), bench: (_n: number) => do_not_optimize(liteShift.shift()) };
    });
    bench(`plainjob claim+read+done (${tag})`, function* () {
      yield { [0]: () => pjReserve(1), bench: (_n: number) => do_not_optimize(pjShift.shift()) };
    });
  });
  group(`shift 100 × 100 B, ${tag}`, () => {
    bench(`ours shiftMany 100 (${tag})`, function* () {
      yield { [0]: () => oursReserve(100), bench: (_n: number) => do_not_optimize(oursShift.shiftMany(100)) };
    });
    bench(`sqlite delete 100 returning (${tag})`, function* () {
      yield { [0]: () => liteReserve(100), bench: (_n: number) => do_not_optimize(liteShift.shiftMany()) };
    });
  });
  comparisons.push(
    { ours: `ours append (${tag})`, peer: `sqlite insert (${tag})` },
    { ours: `ours append (${tag})`, peer: `plainjob add (${tag})` },
    { ours: `ours append (${tag}, exclusive)`, peer: `sqlite insert (${tag})` },
    { ours: `ours append (${tag}, exclusive)`, peer: `plainjob add (${tag})` },
    { ours: `ours append (${tag}, exclusive)`, peer: `ours append (${tag})` },
    { ours: `ours appendMany 100 (${tag})`, peer: `sqlite insert 100 in a transaction (${tag})` },
    { ours: `ours appendMany 100 (${tag})`, peer: `plainjob addMany 100 (${tag})` },
    { ours: `ours appendMany 100 (${tag}, exclusive)`, peer: `sqlite insert 100 in a transaction (${tag})` },
    { ours: `ours appendMany 100 (${tag}, exclusive)`, peer: `ours appendMany 100 (${tag})` },
    { ours: `ours shift (${tag})`, peer: `sqlite delete-returning (${tag})` },
    { ours: `ours shift (${tag})`, peer: `plainjob claim+read+done (${tag})` },
    { ours: `ours shiftMany 100 (${tag})`, peer: `sqlite delete 100 returning (${tag})` },
  );
}

// --- get by index: sequential and random reads over several segments ------------------

const GET_ITEMS = 200_000;
// segmentBytes 4 MiB (not the default 64 MiB) so 200,000 items span several segments.
const oursGet = DurableQueue.open(dir.file("ours-get"), { segmentBytes: 4 << 20 });
for (let i = 0; i < GET_ITEMS; i += 1000) oursGet.appendMany(bulkOf(1000));
const liteGet = sqliteQueue(dir.file("sqlite-get.db"), "none");
for (let i = 0; i < GET_ITEMS; i += 1000) liteGet.appendMany(bulkOf(1000));
closers.push(() => {
  oursGet.close();
  liteGet.close();
});
// One pass first: a handle maps each segment's data file on its first read of it, a
// one-time cost per segment that would otherwise land in whichever samples come first.
for (let i = 0; i < GET_ITEMS; i++) oursGet.get(i);
for (let i = 1; i <= GET_ITEMS; i++) liteGet.get(i);
const randomIndexes = new Uint32Array(1 << 16);
for (let i = 0, x = 12345; i < randomIndexes.length; i++) {
  x = (Math.imul(x, 1103515245) + 12345) >>> 0;
  randomIndexes[i] = x % GET_ITEMS;
}
let seqAt = 0;
let randAt = 0;
group(`get 100 B by index, ${GET_ITEMS.toLocaleString("en-US")} items in ${oursGet.stats().segments} segments`, () => {
  bench("ours get, sequential", () => {
    do_not_optimize(oursGet.get(seqAt));
    seqAt = seqAt + 1 === GET_ITEMS ? 0 : seqAt + 1;
  });
  bench("ours get, random", () => do_not_optimize(oursGet.get(randomIndexes[randAt++ & 0xffff]!)));
  bench("sqlite select by id, sequential", () => {
    do_not_optimize(liteGet.get(seqAt + 1));
    seqAt = seqAt + 1 === GET_ITEMS ? 0 : seqAt + 1;
  });
  bench("sqlite select by id, random", () => do_not_optimize(liteGet.get(randomIndexes[randAt++ & 0xffff]! + 1)));
});
comparisons.push(
  { ours: "ours get, sequential", peer: "sqlite select by id, sequential" },
  { ours: "ours get, random", peer: "sqlite select by id, random" },
);

const avg = averages(await run());

// --- the budget cases again, in interleaved rounds: default options against sqlite (sync none)
const ROUND_OPS = 5_000;
const ROUNDS = 15;
const need = ROUND_OPS * (ROUNDS + 2);
const rAppend = DurableQueue.open(dir.file("rounds-append"));
const rShift = DurableQueue.open(dir.file("rounds-shift"));
const lAppend = sqliteQueue(dir.file("rounds-append.db"), "none");
const lShift = sqliteQueue(dir.file("rounds-shift.db"), "none");
for (let i = 0; i < need; i += 1000) {
  rShift.appendMany(bulkOf(1000));
  lShift.appendMany(bulkOf(1000));
}
closers.push(() => {
  rAppend.close();
  rShift.close();
  lAppend.close();
  lShift.close();
});
const rounds = interleaved(
  {
    "ours append (default options)": (ops) => {
      for (let i = 0; i < ops; i++) rAppend.append(item);
      return ops;
    },
    "sqlite insert (synchronous=OFF)": (ops) => {
      for (let i = 0; i < ops; i++) lAppend.append(item);
      return ops;
    },
    "ours shift (default options)": (ops) => {
      let n = 0;
      for (let i = 0; i < ops; i++) n += rShift.shift() === undefined ? 0 : 1;
      if (n !== ops) throw new Error(`ours shift found ${n} of ${ops} items: the prefill ran short`);
      return n;
    },
    "sqlite delete-returning (synchronous=OFF)": (ops) => {
      let n = 0;
      for (let i = 0; i < ops; i++) n += lShift.shift() === null ? 0 : 1;
      if (n !== ops) throw new Error(`sqlite shift found ${n} of ${ops} rows: the prefill ran short`);
      return n;
    },
  },
  { rounds: ROUNDS, ops: ROUND_OPS },
);
printRounds(`The budget cases in interleaved rounds of ${ROUND_OPS.toLocaleString("en-US")} operations, median of ${ROUNDS}`, rounds);
const r = (name: string) => rounds.get(name)?.ns ?? Number.NaN;
for (const close of closers) close();
printRatios("DurableQueue vs bun:sqlite (WAL) and plainjob", avg, comparisons);

const perSecond = (name: string, items: number) => (items * 1e9) / (avg.get(name) ?? Number.NaN);
const over = (peer: string, ours: string) => (avg.get(peer) ?? Number.NaN) / (avg.get(ours) ?? Number.NaN);

// --- sync "batch" throughput against dd on the same disk ---------------------------------

const MIB = 1 << 20;
const TOTAL_MIB = 64;

/** MB/s (10^6 B/s) of dd writing TOTAL_MIB MiB, from dd's own reported time (no process start-up). */
function ddMBps(flag: string): number {
  const out = dir.file("dd.bin");
  const proc = Bun.spawnSync(["dd", "if=/dev/zero", `of=${out}`, "bs=1M", `count=${TOTAL_MIB}`, flag], { stderr: "pipe" });
  const err = proc.stderr.toString();
  if (proc.exitCode !== 0) throw new Error(`dd failed: ${err}`);
  Bun.spawnSync(["rm", "-f", out]);
  const seconds = Number(/copied, ([0-9.e+-]+) s/.exec(err)?.[1] ?? Number.NaN);
  return (TOTAL_MIB * MIB) / seconds / 1e6;
}

/** MB/s of appendMany calls of `callMiB` MiB of 1 KiB items (open and close not timed). */
function oursMBps(round: number, callMiB: number, sync: "batch" | "none" = "batch"): number {
  const path = dir.file(`throughput-${round}-${callMiB}-${sync}`);
  const q = DurableQueue.open(path, { sync });
  const kib = new Uint8Array(1024).fill(0x62);
  const call = Array.from({ length: (callMiB * MIB) / 1024 }, () => kib);
  const t0 = performance.now();
  for (let i = 0; i < TOTAL_MIB / callMiB; i++) q.appendMany(call);
  const seconds = (performance.now() - t0) / 1000;
  q.close();
  Bun.spawnSync(["rm", "-rf", path]);
  return (TOTAL_MIB * MIB) / seconds / 1e6;
}

const runs = { ddOnce: [] as number[], ddEach: [] as number[], ours1: [] as number[], ours16: [] as number[], ours1Unsynced: [] as number[] };
for (let round = 0; round < 3; round++) {
  runs.ddOnce.push(ddMBps("conv=fdatasync"));
  runs.ours1.push(oursMBps(round, 1));
  runs.ours1Unsynced.push(oursMBps(round, 1, "none"));
  runs.ddEach.push(ddMBps("oflag=dsync"));
  runs.ours16.push(oursMBps(round, 16));
}
const row = (ours: string, o: number[], peer: string, p: number[]) =>
  `| ${ours} | ${median(o).toFixed(0)} | ${peer} | ${median(p).toFixed(0)} | ${((median(o) / median(p)) * 100).toFixed(0)}% |`;
console.log(
  [
    `\n### sync "batch" throughput, 1 KiB items, ${TOTAL_MIB} MiB, median of 3`,
    `machine: ${machine()}`,
    ...sidesBlock(),
    "",
    "| ours | MB/s | peer | MB/s | ours / peer |",
    "|---|---|---|---|---|",
    row("appendMany of 1 MiB per call", runs.ours1, "dd bs=1M conv=fdatasync (one sync at the end)", runs.ddOnce),
    row("appendMany of 16 MiB per call", runs.ours16, "dd bs=1M conv=fdatasync (one sync at the end)", runs.ddOnce),
    row("appendMany of 1 MiB per call", runs.ours1, "dd bs=1M oflag=dsync (a sync per MiB)", runs.ddEach),
    "",
    `runs (MB/s): ${Object.entries(runs).map(([k, v]) => `${k} ${v.map((x) => x.toFixed(0)).join("/")}`).join("; ")}`,
  ].join("\n"),
);
// Where a 1 MiB batch call's time goes: the same calls with sync "none" are the write path
// (encode, copy into the page cache, index); what "batch" adds is its wait for the disk.
const msPerMiB = (mbps: number) => MIB / 1e6 / mbps * 1000;
const written = msPerMiB(median(runs.ours1Unsynced));
const batchCall = msPerMiB(median(runs.ours1));
console.log(
  [
    "",
    "### Where a 1 MiB sync \"batch\" appendMany's time goes (per MiB, medians of the runs above)",
    "",
    "| part | ms per MiB |",
    "|---|---|",
    `| the write path: the same calls with sync "none" (encode, copy, index) | ${written.toFixed(2)} |`,
    `| what sync "batch" adds: waiting for the disk (sync_file_range + fdatasync) | ${(batchCall - written).toFixed(2)} |`,
    `| the whole call, sync "batch" | ${batchCall.toFixed(2)} |`,
    `| dd bs=1M oflag=dsync: a synced MiB | ${msPerMiB(median(runs.ddEach)).toFixed(2)} |`,
    `| dd bs=1M conv=fdatasync: a MiB of one 64 MiB sync | ${msPerMiB(median(runs.ddOnce)).toFixed(2)} |`,
  ].join("\n"),
);

const pctOfDd = (xs: number[]) => (median(xs) / median(runs.ddOnce)) * 100;
const budgets: Budget[] = [
  { name: "queue append 100 B, default options (several producers allowed), one at a time: sqlite insert (synchronous=OFF) / ours, interleaved medians", measured: r("sqlite insert (synchronous=OFF)") / r("ours append (default options)"), op: ">=", target: 10 },
  { name: "queue shift 100 B, default options, one at a time: sqlite delete-returning / ours, interleaved medians", measured: r("sqlite delete-returning (synchronous=OFF)") / r("ours shift (default options)"), op: ">=", target: 10 },
  { name: "queue append 100 B, default options, one at a time: appends per second, interleaved median", measured: 1e9 / r("ours append (default options)"), op: ">=", target: 1e6, unit: " /s", digits: 0 },
  { name: 'queue sync "batch", 1 KiB items, 1 MiB per appendMany: % of dd conv=fdatasync', measured: pctOfDd(runs.ours1), op: ">=", target: 70, unit: "%", digits: 0 },
  { name: 'queue sync "batch", 1 KiB items, 16 MiB per appendMany: % of dd conv=fdatasync', measured: pctOfDd(runs.ours16), op: ">=", target: 70, unit: "%", digits: 0 },
];
console.log(
  `\nextras, not budgets (non-default exclusive: true): append ${Math.round(perSecond("ours append (sync none, exclusive)", 1)).toLocaleString("en-US")} /s, ` +
    `${over("sqlite insert (sync none)", "ours append (sync none, exclusive)").toFixed(1)}× sqlite; default options in batches of 100: ` +
    `${Math.round(perSecond("ours appendMany 100 (sync none)", 100)).toLocaleString("en-US")} items/s, ${over("sqlite insert 100 in a transaction (sync none)", "ours appendMany 100 (sync none)").toFixed(1)}× sqlite; ` +
    `get 100 B ${Math.round(perSecond("ours get, sequential", 1)).toLocaleString("en-US")} /s sequential, ${Math.round(perSecond("ours get, random", 1)).toLocaleString("en-US")} /s random`,
);
printBudgets(budgets);
