/**
 * RecordStore against the peers a user would pick instead, in the same run: a live-view
 * field read and write, a 4-field seqlock snapshot (unchecked, and with the record's CRC
 * checked), and append; beside a heap Float64Array (the floor: the same index arithmetic),
 * flatbuffers (field access on a buffer, in-place mutate), msgpackr (decode / encode a
 * record) and bun:sqlite (select / update one row by id, insert; WAL, synchronous=OFF, as
 * our writes are not synced either). Our stores use default options. Ratios, then the
 * `budgets:` block, are printed at the end. The budgets are judged on a second measurement
 * of their cases in interleaved rounds (medians), so a burst of load on a shared machine
 * lands on every side alike.
 */
import { Database } from "bun:sqlite";
import { Builder, ByteBuffer } from "flatbuffers";
import { bench, do_not_optimize, group, run } from "mitata";
import { pack, unpack } from "msgpackr";
import { rmSync } from "node:fs";
import { RecordStore, schema, t, type RecordView } from "../src/records/index.ts";
import { tempDir } from "../test/helpers/temp.ts";
import { averages, describeSides, printBudgets, printRatios, printRounds } from "./lib/report.ts";
import { interleaved } from "./lib/rounds.ts";

const N = 1024;
const MASK = N - 1;
const Quote = schema({ bid: t.f64, ask: t.f64, bidSize: t.f64, askSize: t.f64 }, { name: "Quote", version: 1 });
type QuoteRecord = { bid: number; ask: number; bidSize: number; askSize: number };
const quote = (i: number): QuoteRecord => ({ bid: i + 0.25, ask: i + 0.5, bidSize: i * 10, askSize: i * 20 });

using dir = tempDir("offheap-bench-records-");
describeSides({
  ours: "RecordStore default options (capacity 1024 = N, no sync), schema Quote { bid, ask, bidSize, askSize: f64 }, 1,024 records; live views from at(i) kept in an array",
  heap: "a Float64Array of 5 × 1,024 doubles on the JS heap, element i × 5 (the floor: the same index arithmetic as the views)",
  flatbuffers: "flatbuffers 25.9, the accessors flatc generates for the same 4-double table, one ByteBuffer per record",
  msgpackr: "msgpackr 2.1 pack / unpack of the same 4-field object",
  sqlite: "bun:sqlite WAL, synchronous=OFF, table quotes (id INTEGER PRIMARY KEY, 4 REAL columns), prepared SELECT / UPDATE by id, autocommit",
});

// --- ours
const store = RecordStore.open(dir.file("quotes.rec"), Quote);
for (let i = 0; i < N; i++) store.append(quote(i));
const views: Array<RecordView<QuoteRecord>> = [];
for (let i = 0; i < N; i++) views.push(store.at(i));
const into = quote(0);
// Checked reads on a store no live view writes to: every CRC is valid, so each read checks.
const checked = RecordStore.open(dir.file("checked.rec"), Quote);
for (let i = 0; i < N; i++) checked.append(quote(i));

const appendPath = dir.file("append.rec");
let appender = RecordStore.open(appendPath, Quote);
const APPEND_RESET = 1 << 20;
const appendValues = quote(7);

// --- flatbuffers: what flatc generates for `table Quote { bid, ask, bidSize, askSize: double }`
class FbQuote {
  bb!: ByteBuffer;
  pos = 0;
  init(bb: ByteBuffer): this {
    this.bb = bb;
    this.pos = bb.readInt32(bb.position()) + bb.position();
    return this;
  }
  bid(): number {
    const o = this.bb.__offset(this.pos, 4);
    return o ? this.bb.readFloat64(this.pos + o) : 0;
  }
  ask(): number {
    const o = this.bb.__offset(this.pos, 6);
    return o ? this.bb.readFloat64(this.pos + o) : 0;
  }
  bidSize(): number {
    const o = this.bb.__offset(this.pos, 8);
    return o ? this.bb.readFloat64(this.pos + o) : 0;
  }
  askSize(): number {
    const o = this.bb.__offset(this.pos, 10);
    return o ? this.bb.readFloat64(this.pos + o) : 0;
  }
  mutateBid(v: number): boolean {
    const o = this.bb.__offset(this.pos, 4);
    if (o === 0) return false;
    this.bb.writeFloat64(this.pos + o, v);
    return true;
  }
}
const builder = new Builder(64);
function fbBuild(q: QuoteRecord): Uint8Array {
  builder.clear();
  builder.startObject(4);
  builder.addFieldFloat64(0, q.bid, 0);
  builder.addFieldFloat64(1, q.ask, 0);
  builder.addFieldFloat64(2, q.bidSize, 0);
  builder.addFieldFloat64(3, q.askSize, 0);
  builder.finish(builder.endObject());
  return builder.asUint8Array();
}
const fb: FbQuote[] = [];
for (let i = 0; i < N; i++) fb.push(new FbQuote().init(new ByteBuffer(fbBuild(quote(i)).slice())));

// --- msgpackr
const packed: Uint8Array[] = [];
for (let i = 0; i < N; i++) packed.push(pack(quote(i)));

// --- bun:sqlite
const db = new Database(dir.file("quotes.sqlite"));
db.run("PRAGMA journal_mode = WAL");
db.run("PRAGMA synchronous = OFF");
db.run("CREATE TABLE quotes (id INTEGER PRIMARY KEY, bid REAL, ask REAL, bidSize REAL, askSize REAL)");
const insert = db.prepare("INSERT INTO quotes (bid, ask, bidSize, askSize) VALUES (?, ?, ?, ?)");
db.transaction(() => {
  for (let i = 0; i < N; i++) {
    const q = quote(i);
    insert.run(q.bid, q.ask, q.bidSize, q.askSize);
  }
})();
const selectBid = db.prepare("SELECT bid FROM quotes WHERE id = ?");
const selectAll = db.prepare("SELECT bid, ask, bidSize, askSize FROM quotes WHERE id = ?");
const updateBid = db.prepare("UPDATE quotes SET bid = ? WHERE id = ?");
db.run("CREATE TABLE appended (id INTEGER PRIMARY KEY, bid REAL, ask REAL, bidSize REAL, askSize REAL)");
const insertAppended = db.prepare("INSERT INTO appended (bid, ask, bidSize, askSize) VALUES (?, ?, ?, ?)");

let k = 0;
let x = 0;

// The floor of this harness: a plain heap Float64Array element read and write, with the
// same index arithmetic the view benchmarks pay.
const heap = new Float64Array(N * 5);

group("field read", () => {
  bench("records at().bid", () => do_not_optimize(views[k++ & MASK]!.bid));
  bench("heap Float64Array[i] (floor)", () => do_not_optimize(heap[(k++ & MASK) * 5]));
  bench("flatbuffers bid()", () => do_not_optimize(fb[k++ & MASK]!.bid()));
  bench("msgpackr unpack().bid", () => do_not_optimize((unpack(packed[k++ & MASK]!) as QuoteRecord).bid));
  bench("sqlite select bid by id", () => do_not_optimize(selectBid.get((k++ & MASK) + 1)));
});

group("field write", () => {
  bench("records at().bid = x", () => {
    views[k++ & MASK]!.bid = x++;
  });
  bench("heap Float64Array[i] = x (floor)", () => {
    heap[(k++ & MASK) * 5] = x++;
  });
  bench("flatbuffers mutateBid", () => do_not_optimize(fb[k++ & MASK]!.mutateBid(x++)));
  bench("msgpackr pack record", () => do_not_optimize(pack(quote(x++))));
  bench("sqlite update bid by id", () => do_not_optimize(updateBid.run(x++, (k++ & MASK) + 1)));
});

group("4-field snapshot", () => {
  bench("records get()", () => do_not_optimize(store.get(k++ & MASK)));
  bench("records getInto()", () => do_not_optimize(store.getInto(k++ & MASK, into)));
  bench("records getChecked() (CRC)", () => do_not_optimize(checked.getChecked(k++ & MASK)));
  bench("flatbuffers 4 fields", () => {
    const q = fb[k++ & MASK]!;
    do_not_optimize(q.bid() + q.ask() + q.bidSize() + q.askSize());
  });
  bench("msgpackr unpack()", () => do_not_optimize(unpack(packed[k++ & MASK]!)));
  bench("sqlite select row by id", () => do_not_optimize(selectAll.get((k++ & MASK) + 1)));
});

group("append", () => {
  bench("records append()", () => {
    if (appender.length >= APPEND_RESET) {
      // Bound the file: start over now and then (amortized over a million appends).
      appender.close();
      rmSync(appendPath);
      appender = RecordStore.open(appendPath, Quote);
    }
    do_not_optimize(appender.append(appendValues));
  });
  bench("flatbuffers build", () => do_not_optimize(fbBuild(appendValues)));
  bench("msgpackr pack", () => do_not_optimize(pack(appendValues)));
  bench("sqlite insert", () => do_not_optimize(insertAppended.run(appendValues.bid, appendValues.ask, appendValues.bidSize, appendValues.askSize)));
});

// `bun bench/records.bench.ts <regexp>` runs only the benchmarks whose names match.
const filter = process.argv[2] === undefined ? undefined : new RegExp(process.argv[2]);
const avg = averages(await run(filter === undefined ? {} : { filter }));
printRatios("RecordStore vs flatbuffers, msgpackr and bun:sqlite", avg, [
  { ours: "records at().bid", peer: "heap Float64Array[i] (floor)" },
  { ours: "records at().bid", peer: "flatbuffers bid()" },
  { ours: "records at().bid", peer: "msgpackr unpack().bid" },
  { ours: "records at().bid", peer: "sqlite select bid by id" },
  { ours: "records at().bid = x", peer: "heap Float64Array[i] = x (floor)" },
  { ours: "records at().bid = x", peer: "flatbuffers mutateBid" },
  { ours: "records at().bid = x", peer: "msgpackr pack record" },
  { ours: "records at().bid = x", peer: "sqlite update bid by id" },
  { ours: "records get()", peer: "flatbuffers 4 fields" },
  { ours: "records get()", peer: "msgpackr unpack()" },
  { ours: "records get()", peer: "sqlite select row by id" },
  { ours: "records getInto()", peer: "flatbuffers 4 fields" },
  { ours: "records getChecked() (CRC)", peer: "flatbuffers 4 fields" },
  { ours: "records getChecked() (CRC)", peer: "msgpackr unpack()" },
  { ours: "records append()", peer: "flatbuffers build" },
  { ours: "records append()", peer: "msgpackr pack" },
  { ours: "records append()", peer: "sqlite insert" },
]);
// The budget cases again, in interleaved rounds (medians), the same loops as above.
const rounds = interleaved(
  {
    "records at(i).bid": (ops) => {
      let sink = 0;
      for (let i = 0; i < ops; i++) sink += views[k++ & MASK]!.bid;
      return sink;
    },
    "heap Float64Array[i]": (ops) => {
      let sink = 0;
      for (let i = 0; i < ops; i++) sink += heap[(k++ & MASK) * 5]!;
      return sink;
    },
    "records at(i).bid = x": (ops) => {
      for (let i = 0; i < ops; i++) views[k++ & MASK]!.bid = x++;
      return ops;
    },
    "heap Float64Array[i] = x": (ops) => {
      for (let i = 0; i < ops; i++) heap[(k++ & MASK) * 5] = x++;
      return ops;
    },
    "records get(i)": (ops) => {
      let sink = 0;
      for (let i = 0; i < ops; i++) sink += store.get(k++ & MASK).ask;
      return sink;
    },
    "sqlite select row by id": (ops) => {
      let sink = 0;
      for (let i = 0; i < ops; i++) sink += (selectAll.get((k++ & MASK) + 1) as QuoteRecord).ask;
      return sink;
    },
  },
  { rounds: 15, ops: 50_000 },
);
printRounds("The budget cases in interleaved rounds of 50,000 operations, median of 15", rounds);
const time = (name: string) => rounds.get(name)?.ns ?? Number.NaN;
printBudgets([
  { name: "record field read at(i).bid: ours / heap Float64Array[i], interleaved medians", measured: time("records at(i).bid") / time("heap Float64Array[i]"), op: "<=", target: 4 },
  { name: "record field write at(i).bid = x: ours / heap Float64Array[i] = x, interleaved medians", measured: time("records at(i).bid = x") / time("heap Float64Array[i] = x"), op: "<=", target: 4 },
  { name: "record 4-field snapshot get(i): sqlite select row by id / ours, interleaved medians", measured: time("sqlite select row by id") / time("records get(i)"), op: ">=", target: 20 },
]);

store.close();
checked.close();
appender.close();
db.close();
