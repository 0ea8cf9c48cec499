/**
 * Child process of the corruption sweep: for each damage it is given, copy the pristine
 * file (or directory), damage the copy, open it read-only and read everything back.
 * Prints one JSON line per damage: what happened. A crash kills only this child, and the
 * last `at` line on stderr tells the parent where.
 */
import { cpSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { OffheapError } from "../../src/errors.ts";
import { DurableQueue } from "../../src/queue/index.ts";
import { RecordStore } from "../../src/records/index.ts";
import { RingBuffer } from "../../src/ring/index.ts";
import { SWEEP_SCHEMA } from "./schema.ts";

export interface Damage {
  /** The file to damage, relative to the pristine root. */
  file: string;
  kind: "flip" | "truncate";
  offset: number;
}

interface Job {
  structure: "ring" | "queue" | "records";
  pristine: string;
  work: string;
  /** Entry path inside the (copied) root, for open. */
  entry: string;
  expected: Array<[number, string]>;
  damages: Damage[];
}

const job = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as Job;
const decoder = new TextDecoder();

/** Read everything; `"same"` when all records equal the expected ones, else what differed. */
function readAll(path: string): string {
  const seen = new Map<number, string | undefined>();
  if (job.structure === "ring") {
    using ring = RingBuffer.open(path, { readonly: true });
    for (const [id] of job.expected) {
      const data = ring.get(id);
      seen.set(id, data === undefined ? undefined : decoder.decode(data));
    }
  } else if (job.structure === "queue") {
    using queue = DurableQueue.open(path, { readonly: true });
    for (const [id] of job.expected) {
      const data = queue.get(id);
      seen.set(id, data === undefined ? undefined : decoder.decode(data));
    }
  } else {
    using store = RecordStore.open(path, SWEEP_SCHEMA, { readonly: true, verify: true });
    for (const [id] of job.expected) {
      if (id >= store.length) {
        seen.set(id, undefined);
        continue;
      }
      const r = store.get(id);
      seen.set(id, `${r.name}|${r.value}|${r.big}`);
    }
  }
  const missing: number[] = [];
  for (const [id, want] of job.expected) {
    const got = seen.get(id);
    if (got === undefined) missing.push(id);
    else if (got !== want) return `WRONG ${id}: ${JSON.stringify(got)} instead of ${JSON.stringify(want)}`;
  }
  return missing.length === 0 ? "same" : `missing ${missing.join(",")}`;
}

for (const damage of job.damages) {
  process.stderr.write(`at ${JSON.stringify(damage)}\n`);
  rmSync(job.work, { recursive: true, force: true });
  cpSync(job.pristine, job.work, { recursive: true });
  const target = join(job.work, damage.file);
  if (damage.kind === "flip") {
    const bytes = readFileSync(target);
    bytes[damage.offset]! ^= 0xff;
    writeFileSync(target, bytes);
  } else {
    truncateSync(target, damage.offset);
  }
  let outcome: string;
  try {
    outcome = readAll(join(job.work, job.entry));
  } catch (e) {
    outcome = e instanceof OffheapError ? e.code : `THREW ${(e as Error).name}: ${(e as Error).message}`;
  }
  console.log(JSON.stringify({ ...damage, outcome }));
}
