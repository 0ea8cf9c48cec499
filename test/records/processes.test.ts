/**
 * Cross-process behaviour: torn reads (with the seqlock: none; without it: seen), a writer
 * killed mid-update, and readers in other processes following appends and growth.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { OffheapError } from "../../src/errors.ts";
import { RecordStore, schema, t, verifyRecords } from "../../src/records/index.ts";
import { Child, crashRun, ROOT, seededRandom, tempDir, writeScript } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const TORN_SCHEMA = `schema({ a: t.f64, p0: t.f64, p1: t.f64, p2: t.f64, p3: t.f64, b: t.f64, n: t.i32, sum: t.f64 }, { name: "Torn", version: 1 })`;
const Torn = schema({ a: t.f64, p0: t.f64, p1: t.f64, p2: t.f64, p3: t.f64, b: t.f64, n: t.i32, sum: t.f64 }, { name: "Torn", version: 1 });
const RECORDS = 4;

const tornWriter = `
import { existsSync } from "node:fs";
import { RecordStore, schema, t } from "${ROOT}/src/records/index.ts";
const Torn = ${TORN_SCHEMA};
const [path, stopFile] = process.argv.slice(2);
const store = RecordStore.open(path, Torn);
const R = store.length;
const v = { a: 0, p0: 0, p1: 0, p2: 0, p3: 0, b: 0, n: 0, sum: 0 };
console.log("ready");
let k = 0;
for (;;) {
  for (let j = 0; j < 4096; j++) {
    k++;
    const a = k * 0.5;
    v.a = a; v.p0 = a; v.p1 = a; v.p2 = a; v.p3 = a; v.b = -a; v.n = k & 0xffff; v.sum = a + v.n;
    store.set(k % R, v);
  }
  if (existsSync(stopFile)) break;
}
console.log("writes " + k);
store.close();
`;

// Mode "seqlock" reads snapshots with get(); mode "raw" reads the same fields one by one
// through live views, which take no seqlock: the control that shows tearing is observable.
const tornReader = `
import { RecordStore, schema, t } from "${ROOT}/src/records/index.ts";
const Torn = ${TORN_SCHEMA};
const [path, mode, msText] = process.argv.slice(2);
const store = RecordStore.open(path, Torn, { readonly: true, readTimeout: 20000 });
const R = store.length;
const views = Array.from({ length: R }, (_, i) => store.at(i));
const last = new Float64Array(R);
let reads = 0, bad = 0, changes = 0;
const check = (i, a, p0, p1, p2, p3, b, n, sum) => {
  if (b !== -a || p0 !== a || p1 !== a || p2 !== a || p3 !== a || sum !== a + n) bad++;
  if (a !== last[i]) { changes++; last[i] = a; }
};
console.log("ready");
const end = performance.now() + Number(msText);
while (performance.now() < end && !(mode === "raw" && bad > 0)) {
  for (let j = 0; j < 1024; j++) {
    const i = reads++ % R;
    if (mode === "seqlock") {
      const r = store.get(i);
      check(i, r.a, r.p0, r.p1, r.p2, r.p3, r.b, r.n, r.sum);
    } else {
      const v = views[i];
      check(i, v.a, v.p0, v.p1, v.p2, v.p3, v.b, v.n, v.sum);
    }
  }
}
console.log("result " + reads + " " + bad + " " + changes + " " + store.stats().readTimeouts);
store.close();
`;

interface ReaderResult {
  reads: number;
  violations: number;
  changes: number;
}

async function runReaders(script: string, path: string, mode: "seqlock" | "raw", ms: number): Promise<ReaderResult[]> {
  const readers = Array.from({ length: 3 }, () => new Child(script, [path, mode, String(ms)]));
  const lines = await Promise.all(readers.map((r) => r.waitForLine((l) => l.startsWith("result "), 60_000)));
  await Promise.all(readers.map((r) => r.exited()));
  return lines.map((line) => {
    const [reads, violations, changes, timeouts] = line.split(" ").slice(1).map(Number);
    expect(timeouts).toBe(0);
    return { reads: reads!, violations: violations!, changes: changes! };
  });
}

describe("across processes", () => {
  test("torn reads: none through get() with three readers for 2 s each; seen without the seqlock", async () => {
    using dir = tempDir();
    const path = dir.file("torn.rec");
    {
      using store = RecordStore.open(path, Torn, { capacity: RECORDS });
      for (let i = 0; i < RECORDS; i++) store.append({ a: 0, p0: 0, p1: 0, p2: 0, p3: 0, b: -0, n: 0, sum: 0 });
    }
    const writerScript = writeScript(dir.path, "writer", tornWriter);
    const readerScript = writeScript(dir.path, "reader", tornReader);
    const stopFile = dir.file("stop");
    const writer = new Child(writerScript, [path, stopFile]);
    try {
      await writer.waitForLine((l) => l === "ready");
      const guarded = await runReaders(readerScript, path, "seqlock", 2000);
      const raw = await runReaders(readerScript, path, "raw", 8000);
      writeFileSync(stopFile, "");
      const writes = Number((await writer.waitForLine((l) => l.startsWith("writes "))).split(" ")[1]);
      expect(writes).toBeGreaterThan(0);
      for (const r of guarded) {
        expect(r.reads).toBeGreaterThan(1000);
        expect(r.changes).toBeGreaterThan(0); // the writer really was writing meanwhile
        expect(r.violations).toBe(0);
      }
      expect(raw.reduce((n, r) => n + r.violations, 0)).toBeGreaterThan(0);
    } finally {
      if (!existsSync(stopFile)) writeFileSync(stopFile, "");
      await writer.exited();
    }
  }, 90_000);

  test("a writer killed mid-update leaves no record that blocks readers after a writable reopen", async () => {
    using dir = tempDir();
    const path = dir.file("kill.rec");
    const BLOB = 1 << 16;
    const Blob = schema({ marker: t.u32, blob: t.bytes(BLOB) }, { name: "Blob", version: 1 });
    {
      using store = RecordStore.open(path, Blob, { capacity: 4 });
      for (let i = 0; i < 4; i++) store.append({ marker: i });
    }
    const script = writeScript(
      dir.path,
      "killed-writer",
      `
import { RecordStore, schema, t } from "${ROOT}/src/records/index.ts";
const Blob = schema({ marker: t.u32, blob: t.bytes(${BLOB}) }, { name: "Blob", version: 1 });
const store = RecordStore.open(process.argv[2], Blob);
const blob = new Uint8Array(${BLOB});
console.log("ready");
for (let k = 0; ; k++) { blob.fill(k & 0xff); store.set(k % 4, { marker: k, blob }); }
`,
    );
    const random = seededRandom(7);
    let stuckSeen = 0;
    for (let round = 0; round < 12 && stuckSeen < 2; round++) {
      const child = new Child(script, [path]);
      await child.waitForLine((l) => l === "ready");
      await Bun.sleep(20 + random() * 150);
      await child.kill("SIGKILL");
      const odd = verifyRecords(path).bad;
      if (odd.length > 0) {
        stuckSeen++;
        // Before repair, a reader of that record gives up instead of spinning forever: no
        // writer has the store open, so the odd word can't change (ERR_CORRUPT).
        using reader = RecordStore.open(path, Blob, { readonly: true, readTimeout: 30 });
        let caught: unknown;
        try {
          reader.get(odd[0]!.id);
        } catch (e) {
          caught = e;
        }
        expect(caught).toBeInstanceOf(OffheapError);
        expect((caught as OffheapError).code).toBe("ERR_CORRUPT");
      }
      {
        using writer = RecordStore.open(path, Blob);
        expect(writer.stats().repairedOnOpen).toBe(odd.length);
      }
      expect(verifyRecords(path).bad).toEqual([]);
      using reader = RecordStore.open(path, Blob, { readonly: true, readTimeout: 30 });
      for (let i = 0; i < 4; i++) expect(typeof reader.getChecked(i).marker).toBe("number");
    }
    expect(stuckSeen).toBeGreaterThan(0);
  }, 90_000);

  test("a reader in another process sees appends and growth live, its old views keep working", async () => {
    using dir = tempDir();
    const path = dir.file("grow.rec");
    const Row = schema({ a: t.u32, b: t.f64, s: t.string(12) }, { name: "Row", version: 1 });
    using store = RecordStore.open(path, Row, { capacity: 1 });
    store.append({ a: 0, b: 0.5, s: "r0" });
    const N = 20_000;
    const script = writeScript(
      dir.path,
      "follower",
      `
import { RecordStore, schema, t } from "${ROOT}/src/records/index.ts";
const Row = schema({ a: t.u32, b: t.f64, s: t.string(12) }, { name: "Row", version: 1 });
const store = RecordStore.open(process.argv[2], Row, { readonly: true });
const first = store.at(0);
console.log("ready " + store.length + " " + store.capacity);
while (store.length < ${N}) await Bun.sleep(2);
let bad = 0;
for (let i = 0; i < ${N}; i++) {
  const r = store.get(i);
  if (r.a !== i || r.b !== i + 0.5 || r.s !== "r" + i) bad++;
}
console.log("done " + store.length + " " + bad + " " + first.b + " " + first.s + " " + store.stats().remaps);
`,
    );
    const child = new Child(script, [path]);
    const ready = await child.waitForLine((l) => l.startsWith("ready "));
    expect(ready).toBe("ready 1 1");
    for (let i = 1; i < N; i++) store.append({ a: i, b: i + 0.5, s: `r${i}` });
    const done = (await child.waitForLine((l) => l.startsWith("done "))).split(" ");
    expect(done.slice(1, 5)).toEqual([String(N), "0", "0.5", "r0"]);
    expect(Number(done[5])).toBeGreaterThan(0);
    await child.exited();
  }, 60_000);
});

test("appends a killed writer reported survive reopen, growth included, and the store stays usable", async () => {
  using dir = tempDir();
  const path = dir.file("crash.rec");
  const script = writeScript(
    dir.path,
    "appender",
    `
import { RecordStore, schema, t } from "${ROOT}/src/records/index.ts";
const Row = schema({ a: t.u32, b: t.f64, s: t.string(12) }, { name: "Row", version: 1 });
const store = RecordStore.open(process.argv[2], Row, { capacity: 1 });
console.log("ready");
for (let i = store.length; ; i++) {
  store.append({ a: i, b: i + 0.5, s: "r" + i });
  if (i % 64 === 0) console.log("ok " + i);
}
`,
  );
  const Row = schema({ a: t.u32, b: t.f64, s: t.string(12) }, { name: "Row", version: 1 });
  const random = seededRandom(11);
  let total = 0;
  for (let round = 0; round < 3; round++) {
    const result = await crashRun({ script, args: [path], killAfterMs: { min: 30, max: 200 }, random });
    expect(result.stderr).not.toContain("error");
    const reported = result.reported.length === 0 ? -1 : Number(result.reported.at(-1));
    using store = RecordStore.open(path, Row);
    expect(store.length).toBeGreaterThan(reported);
    expect(store.length).toBeGreaterThanOrEqual(total);
    for (let i = 0; i < store.length; i++) {
      const r = store.getChecked(i);
      if (r.a !== i || r.b !== i + 0.5 || r.s !== `r${i}`) throw new Error(`record ${i} is ${JSON.stringify(r)}`);
    }
    total = store.length;
    expect(verifyRecords(path).bad).toEqual([]);
  }
  expect(total).toBeGreaterThan(0);
}, 60_000);

test("a readonly handle in a Worker reads what the writer on the main thread appends", async () => {
  using dir = tempDir();
  const path = dir.file("worker.rec");
  const Row = schema({ a: t.u32, s: t.string(12) }, { name: "Row", version: 1 });
  using store = RecordStore.open(path, Row, { capacity: 1 });
  store.append({ a: 0, s: "r0" });
  const script = writeScript(
    dir.path,
    "worker-reader",
    `
import { RecordStore, schema, t } from "${ROOT}/src/records/index.ts";
const Row = schema({ a: t.u32, s: t.string(12) }, { name: "Row", version: 1 });
self.onmessage = (e) => {
  using store = RecordStore.open(e.data.path, Row, { readonly: true });
  const rows = [];
  for (let i = 0; i < store.length; i++) rows.push(store.get(i));
  postMessage(rows);
};
`,
  );
  for (let i = 1; i < 500; i++) store.append({ a: i, s: `r${i}` });
  const worker = new Worker(script);
  try {
    const rows = await new Promise<Array<{ a: number; s: string }>>((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => reject(e);
      worker.postMessage({ path });
    });
    expect(rows).toEqual(Array.from({ length: 500 }, (_, i) => ({ a: i, s: `r${i}` })));
  } finally {
    worker.terminate();
  }
});
