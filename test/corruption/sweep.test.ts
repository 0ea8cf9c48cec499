/**
 * Damaged files, across every on-disk structure: each byte of each file's header region
 * flipped, bytes flipped across the rest, and truncation at many offsets. Every damaged
 * copy is opened read-only (record stores with `verify: true`, which checks each record's
 * CRC on read) and read back in a child process. Each must either read back
 * exactly what was written or throw ERR_CORRUPT / ERR_FORMAT: never crash, never return
 * wrong data.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { DurableQueue } from "../../src/queue/index.ts";
import { RecordStore } from "../../src/records/index.ts";
import { RingBuffer } from "../../src/ring/index.ts";
import { runScript, tempDir } from "../helpers/index.ts";
import type { Damage } from "./sweep-child.ts";
import { SWEEP_SCHEMA } from "./schema.ts";

const HEADER_REGION = 320;
const SAMPLES_PER_FILE = 160;
const CUTS_PER_FILE = 40;

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

interface Outcome extends Damage {
  outcome: string;
}

async function sweep(structure: "ring" | "queue" | "records", build: (dir: string) => { root: string; entry: string; expected: Array<[number, string]> }) {
  using dir = tempDir();
  const { root, entry, expected } = build(dir.file("pristine"));
  const isFile = statSync(root).isFile();
  const damages = damagesFor(root);
  const job = {
    structure,
    pristine: isFile ? join(root, "..") : root,
    work: dir.file("work"),
    entry,
    expected,
    damages,
  };
  const jobPath = dir.file("job.json");
  writeFileSync(jobPath, JSON.stringify(job));
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
    const key = `${o.kind}:${o.outcome.split(" ")[0]}`;
    t[key] = (t[key] ?? 0) + 1;
  }
  return t;
}

function check(outcomes: Outcome[]): void {
  const wrong = outcomes.filter((o) => {
    if (o.outcome === "same" || o.outcome === "ERR_CORRUPT" || o.outcome === "ERR_FORMAT") return false;
    // A cut file can lose what was past the cut: reported missing, never wrong.
    if (o.kind === "truncate" && o.outcome.startsWith("missing")) return false;
    return true;
  });
  expect({ tally: tally(outcomes), unexpected: wrong.slice(0, 10) }).toEqual({ tally: tally(outcomes), unexpected: [] });
}

describe("corruption sweep", () => {
  test("ring: flips and cuts give the written data or ERR_CORRUPT/ERR_FORMAT", async () => {
    const outcomes = await sweep("ring", (root) => {
      const path = join(root, "events.ring");
      mkdirSync(root);
      using ring = RingBuffer.open(path, { recordSize: 24, capacity: 8, shards: 2 });
      const expected: Array<[number, string]> = [];
      for (let i = 0; i < 12; i++) {
        const text = `record number ${i}`;
        ring.append(text);
        if (i >= 4) expected.push([i, text]);
      }
      ring.sync();
      return { root, entry: "events.ring", expected };
    });
    check(outcomes);
  }, 120_000);

  test("queue: flips and cuts give the written data or ERR_CORRUPT/ERR_FORMAT", async () => {
    const outcomes = await sweep("queue", (root) => {
      using queue = DurableQueue.open(root, { segmentBytes: 512, segmentItems: 8 });
      const expected: Array<[number, string]> = [];
      for (let i = 0; i < 20; i++) {
        const text = `item ${i} ${"x".repeat(i)}`;
        queue.append(text);
        expected.push([i, text]);
      }
      queue.sync();
      return { root, entry: ".", expected };
    });
    check(outcomes);
  }, 120_000);

  test("records: flips and cuts give the written data or ERR_CORRUPT/ERR_FORMAT", async () => {
    const outcomes = await sweep("records", (root) => {
      mkdirSync(root);
      using store = RecordStore.open(join(root, "ticks.rec"), SWEEP_SCHEMA, { capacity: 8 });
      const expected: Array<[number, string]> = [];
      for (let i = 0; i < 8; i++) {
        store.append({ name: `n${i}`, value: i * 1.5, big: BigInt(i) << 40n });
        expected.push([i, `n${i}|${i * 1.5}|${BigInt(i) << 40n}`]);
      }
      store.sync();
      return { root, entry: "ticks.rec", expected };
    });
    check(outcomes);
  }, 120_000);
});
