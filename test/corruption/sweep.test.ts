/**
 * Damaged files, across every on-disk structure, each read back in a child process
 * (sweep-child.ts), so a crash shows as a signal and a hang as a timeout, not a dead runner.
 *
 * The sweep: each byte of each file's header region flipped, bytes flipped across the
 * rest, and truncation at many offsets; every damaged copy is opened read-only (record
 * stores with `verify: true`) and must read back exactly what was written or throw
 * ERR_CORRUPT / ERR_FORMAT.
 *
 * The fuzzer: seeded random single damages — bit and byte flips, truncations, zeroed
 * pages and ranges, garbage appended, files swapped or deleted — over every file of a
 * ring (with a deleted id and ids skipped by a jump), a queue (index, data, directory,
 * wake and reader files; shifted and deleted items) and a record store. Each copy is
 * read back read-only, then opened for writing (recovery), read again and appended to.
 * Any signal, a case taking over 10 s, wrong bytes, a removed item read back, an index
 * handed out twice or a reader moved forward fails with the case's seed. A FileStore's
 * entries (with ETags and extra metadata) are fuzzed the same way: a damaged entry may read
 * as a miss, never as other bytes or metadata. The count per structure is `OFFHEAP_FUZZ` / 4 (default a few thousand in all; e.g. OFFHEAP_FUZZ=200000
 * for a long local run), the first seed `OFFHEAP_FUZZ_SEED` (default fixed);
 * `OFFHEAP_FUZZ_CASE=<seed>` reruns that one case, `OFFHEAP_FUZZ_LOG=1` prints every outcome.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { DurableQueue } from "../../src/queue/index.ts";
import { RecordStore } from "../../src/records/index.ts";
import { RingBuffer } from "../../src/ring/index.ts";
import { FileStore } from "../../src/tiered/stores/file-store.ts";
import { Child, runScript, tempDir } from "../helpers/index.ts";
import type { Damage, Truth } from "./sweep-child.ts";
import { SWEEP_SCHEMA } from "./schema.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const HEADER_REGION = 320;
const SAMPLES_PER_FILE = 160;
const CUTS_PER_FILE = 40;
const FUZZ_TOTAL = Number(process.env.OFFHEAP_FUZZ ?? 3000);
const FUZZ_SEED = Number(process.env.OFFHEAP_FUZZ_SEED ?? 20_260_412);
const FUZZ_CASE = process.env.OFFHEAP_FUZZ_CASE === undefined ? undefined : Number(process.env.OFFHEAP_FUZZ_CASE);
/** Cases one child runs: bounded, so a long run is many children. */
const FUZZ_BATCH = 2000;
const CASE_TIMEOUT_MS = 10_000;

type Structure = "ring" | "queue" | "records" | "files";
interface Built extends Truth {
  root: string;
  entry: string;
}

function filesUnder(root: string): string[] {
  if (statSync(root).isFile()) return [root];
  return readdirSync(root, { recursive: true })
    .map((name) => join(root, String(name)))
    .filter((path) => statSync(path).isFile());
}

/** Every byte of the header region, then an even spread over the rest; cuts likewise. */
function damagesFor(root: string): Damage[] {
  const out: Damage[] = [];
  const base = statSync(root).isFile() ? join(root, "..") : root;
  for (const path of filesUnder(root)) {
    const file = relative(base, path);
    const size = statSync(path).size;
    const head = Math.min(size, HEADER_REGION);
    for (let offset = 0; offset < head; offset++) out.push({ file, kind: "flip", offset });
    const rest = size - head;
    for (let k = 0; k < SAMPLES_PER_FILE && rest > 0; k++) out.push({ file, kind: "flip", offset: head + Math.floor((k * rest) / SAMPLES_PER_FILE) });
    for (let k = 0; k < CUTS_PER_FILE; k++) out.push({ file, kind: "truncate", offset: Math.floor((k * size) / CUTS_PER_FILE) });
  }
  return out;
}

const BUILD: Record<Structure, (root: string) => Built> = {
  ring(root) {
    mkdirSync(root);
    const path = join(root, "events.ring");
    using ring = RingBuffer.open(path, { recordSize: 24, capacity: 8, shards: 2 });
    for (let i = 0; i < 10; i++) ring.append(`record number ${i}`);
    ring.delete(7);
    ring.write(13, "record number 13"); // skips 10..12: window 6..13
    ring.sync();
    const expected: Array<[number, string]> = [6, 8, 9, 13].map((i) => [i, `record number ${i}`]);
    return { root, entry: "events.ring", expected, removed: [7, 10, 11, 12], next: 14, options: { recordSize: 24, capacity: 8, shards: 2 } };
  },
  queue(root) {
    using queue = DurableQueue.open(root, { segmentBytes: 512, segmentItems: 8 });
    const expected: Array<[number, string]> = [];
    for (let i = 0; i < 20; i++) queue.append(`item ${i} ${"x".repeat(i)}`);
    for (let i = 0; i < 3; i++) queue.shift();
    queue.delete([7, 13]);
    for (let i = 3; i < 20; i++) if (i !== 7 && i !== 13) expected.push([i, `item ${i} ${"x".repeat(i)}`]);
    const r = queue.reader("r");
    for (let i = 0; i < 2; i++) r.next();
    r.commit();
    const s = queue.reader("s");
    s.seek(10);
    s.commit();
    return { root, entry: ".", expected, removed: [0, 1, 2, 7, 13], next: 20, readers: { r: 5, s: 10 } };
  },
  files(root) {
    // A TieredCache FileStore: entries with ETags and extra metadata, two of them deleted.
    const store = FileStore.open(root, { sync: "always" });
    const expected: Array<[number, string]> = [];
    for (let i = 0; i < 10; i++) {
      const w = store.writer(`/entry/${i}`, { cachedAt: 1_000 + i, etag: `"v${i}"`, extra: `{"n":${i}}` });
      void w.write(new TextEncoder().encode(`body of entry ${i} ${"y".repeat(i * 7)}`));
      void w.commit(); // a FileStore writer commits before its promise is even returned
      expected.push([i, `"v${i}"|{"n":${i}}|body of entry ${i} ${"y".repeat(i * 7)}`]);
    }
    store.delete("/entry/3");
    store.delete("/entry/8");
    store.close();
    return { root, entry: ".", expected: expected.filter(([i]) => i !== 3 && i !== 8), removed: [3, 8], next: 0 };
  },
  records(root) {
    mkdirSync(root);
    using store = RecordStore.open(join(root, "ticks.rec"), SWEEP_SCHEMA, { capacity: 16 });
    const expected: Array<[number, string]> = [];
    for (let i = 0; i < 12; i++) {
      store.append({ name: `n${i}`, value: i * 1.5, big: BigInt(i) << 40n });
      expected.push([i, `n${i}|${i * 1.5}|${BigInt(i) << 40n}`]);
    }
    store.sync();
    return { root, entry: "ticks.rec", expected, removed: [], next: 12 };
  },
};

interface Outcome {
  seed?: number;
  kind: string;
  file: string;
  outcome: string;
  writable?: string;
}

function jobFile(dir: ReturnType<typeof tempDir>, structure: Structure, built: Built, extra: object): string {
  const { root, ...truth } = built;
  const isFile = statSync(root).isFile();
  const job = { structure, pristine: isFile ? join(root, "..") : root, work: dir.file("work"), ...truth, ...extra };
  const path = dir.file(`job-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(job));
  return path;
}

async function sweep(structure: Structure): Promise<Outcome[]> {
  using dir = tempDir();
  const built = BUILD[structure](dir.file("pristine"));
  // Ring ids skipped by write(id) and the queue's readers are the fuzzer's business.
  const damages = damagesFor(built.root);
  const jobPath = jobFile(dir, structure, { ...built, removed: [], readers: {} }, { damages });
  const { exitCode, signalCode, stdout, stderr } = await runScript(join(import.meta.dir, "sweep-child.ts"), [jobPath]);
  const lastAt = stderr.trim().split("\n").filter((l) => l.startsWith("at ")).pop();
  expect({ exitCode, signalCode, crashedAt: exitCode === 0 ? undefined : lastAt }).toEqual({ exitCode: 0, signalCode: null, crashedAt: undefined });
  const outcomes = stdout.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Outcome);
  expect(outcomes).toHaveLength(damages.length);
  return outcomes;
}

function tally(outcomes: Outcome[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const o of outcomes) {
    for (const key of [`${o.kind}:${o.outcome.split(" ")[0]}`, ...(o.writable === undefined ? [] : [`${o.kind}:writable:${o.writable.split(" ")[0]}`])]) {
      t[key] = (t[key] ?? 0) + 1;
    }
  }
  return t;
}

function checkSweep(outcomes: Outcome[]): void {
  const wrong = outcomes.filter((o) => {
    if (o.outcome === "same" || o.outcome === "ERR_CORRUPT" || o.outcome === "ERR_FORMAT") return false;
    // A cut file can lose what was past the cut: reported missing, never wrong.
    if (o.kind === "truncate" && o.outcome.startsWith("missing")) return false;
    return true;
  });
  expect({ tally: tally(outcomes), unexpected: wrong.slice(0, 10) }).toEqual({ tally: tally(outcomes), unexpected: [] });
}

/** Outcomes that are findings: anything that is not the data, an error code, or (see below) missing. */
function isFinding(outcome: string | undefined): boolean {
  if (outcome === undefined || outcome === "same" || outcome.startsWith("missing") || outcome.startsWith("lost: ")) return false;
  return !["ERR_CORRUPT", "ERR_FORMAT", "ERR_SYSTEM"].includes(outcome);
}

/** Run `count` fuzz cases from `seed` in children of at most FUZZ_BATCH cases, each case under a deadline. */
async function fuzz(structure: Structure, seed: number, count: number): Promise<Outcome[]> {
  using dir = tempDir();
  const built = BUILD[structure](dir.file("pristine"));
  const out: Outcome[] = [];
  for (let from = 0; from < count; from += FUZZ_BATCH) {
    const n = Math.min(FUZZ_BATCH, count - from);
    const child = new Child(join(import.meta.dir, "sweep-child.ts"), [jobFile(dir, structure, built, { fuzz: { seed: seed + from, count: n } })]);
    try {
      for (let k = 0; k < n; k++) {
        try {
          await child.waitForLine(() => child.lines.length > k, CASE_TIMEOUT_MS);
        } catch (e) {
          const at = child.stderr.trim().split("\n").filter((l) => l.startsWith("at ")).pop();
          throw new Error(`fuzz ${structure}: case ${from + k} (seed ${seed + from + k}) died or took over ${CASE_TIMEOUT_MS} ms: ${at}; ${(e as Error).message}`);
        }
      }
      const { exitCode, signalCode } = await child.exited();
      expect({ exitCode, signalCode }).toEqual({ exitCode: 0, signalCode: null });
    } finally {
      if (child.process.exitCode === null) await child.kill();
    }
    out.push(...child.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Outcome));
  }
  expect(out).toHaveLength(count);
  return out;
}

describe("corruption sweep", () => {
  // The FileStore is in the fuzzer only: its entries are many small files, and a damaged
  // one simply reads as a miss.
  for (const structure of ["ring", "queue", "records"] as const) {
    test(`${structure}: flips and cuts give the written data or ERR_CORRUPT/ERR_FORMAT`, async () => {
      checkSweep(await sweep(structure));
    }, 120_000);
  }
});

describe("corruption fuzzer", () => {
  const perStructure = FUZZ_CASE === undefined ? Math.ceil(FUZZ_TOTAL / 4) : 1;
  for (const [k, structure] of (["ring", "queue", "records", "files"] as const).entries()) {
    test(`${structure}: ${perStructure} seeded random damages, read-only then writable: never a signal, a hang, wrong or resurrected data, or an index twice`, async () => {
      const seed = FUZZ_CASE ?? FUZZ_SEED + k * 10_000_000;
      const outcomes = await fuzz(structure, seed, perStructure);
      const findings = outcomes.filter((o) => isFinding(o.outcome) || isFinding(o.writable));
      if (process.env.OFFHEAP_FUZZ_LOG) console.log(JSON.stringify(outcomes));
      // Each finding carries its seed: OFFHEAP_FUZZ_CASE=<seed> reruns it alone.
      expect({ tally: tally(outcomes), findings: findings.slice(0, 10) }).toEqual({ tally: tally(outcomes), findings: [] });
    }, 600_000);
  }
});
