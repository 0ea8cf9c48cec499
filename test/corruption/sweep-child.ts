/**
 * Child process of the corruption sweep and the fuzzer: for each damage it is given (the
 * sweep) or draws from a seed (the fuzzer), copy the pristine file (or directory), damage
 * the copy, open it read-only and read everything back; the fuzzer then also opens it for
 * writing, reads everything again and appends. Prints one JSON line per damage: what
 * happened. A crash kills only this child, and the last `at` line on stderr tells the
 * parent where (with the case's seed).
 */
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { OffheapError } from "../../src/errors.ts";
import { DurableQueue } from "../../src/queue/index.ts";
import { RecordStore } from "../../src/records/index.ts";
import { RingBuffer } from "../../src/ring/index.ts";
import { FileStore } from "../../src/tiered/stores/file-store.ts";
import { seededRandom } from "../helpers/crash.ts";
import { SWEEP_SCHEMA } from "./schema.ts";

/** One damage to one file (paths relative to the pristine root). */
export type Damage =
  | { file: string; kind: "flip"; offset: number; mask?: number }
  | { file: string; kind: "truncate"; offset: number }
  | { file: string; kind: "zero"; offset: number; length: number }
  | { file: string; kind: "garbage"; length: number; seed: number }
  | { file: string; kind: "swap"; other: string }
  | { file: string; kind: "delete" };

/** What the pristine copy holds, for the checks. */
export interface Truth {
  /** Live records: id/index and the text it must read as. */
  expected: Array<[number, string]>;
  /** Ids/indexes that were removed (deleted, shifted, skipped): they must never read back. */
  removed: number[];
  /** The id/index the next append gets: a writable reopen must never hand out a lower one. */
  next: number;
  /** Queue only: committed reader positions. */
  readers?: Record<string, number>;
  /** Ring only: the options it was made with (a writable open passes them, so that it could create). */
  options?: { recordSize: number; capacity: number; shards: number };
}

interface Job extends Truth {
  structure: "ring" | "queue" | "records" | "files";
  pristine: string;
  work: string;
  /** Entry path inside the (copied) root, for open. */
  entry: string;
  /** The sweep's damages; or, for the fuzzer, a seed and a count to draw them from. */
  damages?: Damage[];
  fuzz?: { seed: number; count: number };
}

const job = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as Job;
const decoder = new TextDecoder();

/** Read every record through a handle opened as asked; throws on any OffheapError. */
function readBack(path: string, readonly: boolean): Map<number, string | undefined> {
  const seen = new Map<number, string | undefined>();
  const ids = [...job.expected.map(([id]) => id), ...job.removed];
  if (job.structure === "ring") {
    using ring = RingBuffer.open(path, readonly ? { readonly } : { ...job.options });
    for (const id of ids) {
      const data = ring.get(id);
      seen.set(id, data === undefined ? undefined : decoder.decode(data));
    }
    if (!readonly) seen.set(-1, String(ring.append("appended")));
  } else if (job.structure === "queue") {
    using queue = DurableQueue.open(path, { readonly });
    for (const id of ids) {
      const data = queue.get(id);
      seen.set(id, data === undefined ? undefined : decoder.decode(data));
    }
    for (const [name, position] of Object.entries(job.readers ?? {})) {
      const reader = queue.reader(name);
      // A reader whose file was lost starts over at the oldest item: it re-reads, it
      // never skips; any other position is wrong.
      if (reader.position !== position && reader.position !== queue.first) seen.set(-2, `reader ${name} at ${reader.position}, committed ${position}`);
    }
    if (!readonly) seen.set(-1, String(queue.append("appended")));
  } else if (job.structure === "files") {
    // A cache may forget (a damaged entry reads as a miss) but must never serve other bytes
    // or metadata: each entry is read whole, its ETag and extra with it.
    using store = FileStore.open(path, { readonly, sync: "none" });
    for (const id of ids) {
      const entry = store.get(`/entry/${id}`);
      if (entry === undefined) {
        seen.set(id, undefined);
        continue;
      }
      let body: string;
      try {
        body = readAllSync(entry.bytes, entry.body);
      } catch (e) {
        if (e instanceof OffheapError && e.code === "ERR_CORRUPT") {
          seen.set(id, undefined);
          continue;
        }
        throw e;
      }
      seen.set(id, `${entry.meta.etag}|${entry.meta.extra}|${body}`);
    }
    if (!readonly) {
      const w = store.writer("/entry/new", { cachedAt: 5_000, etag: '"new"' });
      void w.write(new TextEncoder().encode("written after the damage"));
      void w.commit();
      const back = store.get("/entry/new");
      if (back === undefined || readAllSync(back.bytes, back.body) !== "written after the damage") seen.set(-2, "a new entry did not read back");
    }
  } else {
    using store = RecordStore.open(path, SWEEP_SCHEMA, { readonly, verify: true });
    for (const [id] of job.expected) {
      if (id >= store.length) {
        seen.set(id, undefined);
        continue;
      }
      const r = store.get(id);
      seen.set(id, `${r.name}|${r.value}|${r.big}`);
    }
    if (!readonly) seen.set(-1, String(store.append({ name: "appended" })));
  }
  return seen;
}

/** A FileStore body: in hand when small (the sweep's are); a stream is not read synchronously here. */
function readAllSync(bytes: Uint8Array | undefined, body: ReadableStream<Uint8Array>): string {
  if (bytes !== undefined) return decoder.decode(bytes);
  void body.cancel();
  throw new Error("the sweep's entries are small: their bodies come whole");
}

/** `"same"`, `"missing …"`, or what was wrong (WRONG, RESURRECTED, REUSED, READER). */
function judge(seen: Map<number, string | undefined>): string {
  for (const [id, want] of job.expected) {
    const got = seen.get(id);
    if (got !== undefined && got !== want) return `WRONG ${id}: ${JSON.stringify(got)} instead of ${JSON.stringify(want)}`;
  }
  for (const id of job.removed) if (seen.get(id) !== undefined) return `RESURRECTED ${id}: ${JSON.stringify(seen.get(id))}`;
  const appended = seen.get(-1);
  if (appended !== undefined && Number(appended) < job.next) return `REUSED index ${appended}: the pristine file had handed out up to ${job.next - 1}`;
  if (seen.has(-2)) return `READER ${seen.get(-2)}`;
  const missing = job.expected.filter(([id]) => seen.get(id) === undefined).map(([id]) => id);
  return missing.length === 0 ? "same" : `missing ${missing.join(",")}`;
}

function attempt(path: string, readonly: boolean, damage: Damage): string {
  try {
    const outcome = judge(readBack(path, readonly));
    // A record store is one file: deleted or cut to nothing, no trace of it is left, and a
    // writable open makes a new one (the same as an open that died before writing its header).
    const gone = job.structure === "records" && (damage.kind === "delete" || (damage.kind === "truncate" && damage.offset === 0));
    return gone && outcome.startsWith("REUSED") ? `lost: ${outcome}` : outcome;
  } catch (e) {
    return e instanceof OffheapError ? e.code : `THREW ${(e as Error).name}: ${(e as Error).message}`;
  }
}

function filesUnder(root: string): string[] {
  if (statSync(root).isFile()) return [root];
  return readdirSync(root, { recursive: true })
    .map((name) => join(root, String(name)))
    .filter((path) => statSync(path).isFile());
}

const files = filesUnder(job.pristine).map((p) => relative(job.pristine, p));
const sizes = new Map(files.map((f) => [f, statSync(join(job.pristine, f)).size]));

/** One random damage, drawn from `seed`: the fuzzer's single-fault model. */
function drawDamage(seed: number): Damage {
  const random = seededRandom(seed);
  const int = (n: number) => Math.floor(random() * n);
  const file = files[int(files.length)]!;
  const size = sizes.get(file)!;
  // Most damage lands in the first pages, where the headers and counters are.
  const offset = () => (random() < 0.5 ? int(Math.min(size, 320)) : int(size));
  switch (int(8)) {
    case 0:
      return { file, kind: "flip", offset: offset(), mask: 0xff };
    case 1:
    case 2:
      return { file, kind: "flip", offset: offset(), mask: 1 << int(8) };
    case 3:
      return { file, kind: "truncate", offset: int(size) };
    case 4: {
      const page = random() < 0.5;
      const length = page ? 4096 : 1 + int(512);
      const at = page ? 4096 * int(Math.ceil(size / 4096)) : offset();
      return { file, kind: "zero", offset: at, length };
    }
    case 5:
      return { file, kind: "garbage", length: 1 + int(8192), seed: int(2 ** 31) };
    case 6: {
      const others = files.filter((f) => f !== file);
      if (others.length > 0) return { file, kind: "swap", other: others[int(others.length)]! };
      return { file, kind: "zero", offset: offset(), length: 1 + int(64) }; // one file: nothing to swap with
    }
    default:
      return { file, kind: "delete" };
  }
}

function apply(damage: Damage): void {
  const target = join(job.work, damage.file);
  switch (damage.kind) {
    case "flip": {
      const bytes = readFileSync(target);
      if (damage.offset < bytes.length) bytes[damage.offset]! ^= damage.mask ?? 0xff;
      writeFileSync(target, bytes);
      return;
    }
    case "truncate":
      truncateSync(target, damage.offset);
      return;
    case "zero": {
      const bytes = readFileSync(target);
      bytes.fill(0, Math.min(damage.offset, bytes.length), Math.min(damage.offset + damage.length, bytes.length));
      writeFileSync(target, bytes);
      return;
    }
    case "garbage": {
      const random = seededRandom(damage.seed);
      const junk = Buffer.from(Array.from({ length: damage.length }, () => Math.floor(random() * 256)));
      writeFileSync(target, Buffer.concat([readFileSync(target), junk]));
      return;
    }
    case "swap": {
      const other = join(job.work, damage.other);
      renameSync(target, `${target}.swap`);
      renameSync(other, target);
      renameSync(`${target}.swap`, other);
      return;
    }
    case "delete":
      if (existsSync(target)) rmSync(target);
  }
}

const cases: Array<{ seed?: number; damage: Damage }> = job.fuzz
  ? Array.from({ length: job.fuzz.count }, (_, k) => ({ seed: job.fuzz!.seed + k, damage: drawDamage(job.fuzz!.seed + k) }))
  : (job.damages ?? []).map((damage) => ({ damage }));

for (const { seed, damage } of cases) {
  process.stderr.write(`at ${JSON.stringify({ seed, ...damage })}\n`);
  rmSync(job.work, { recursive: true, force: true });
  cpSync(job.pristine, job.work, { recursive: true });
  apply(damage);
  const entry = join(job.work, job.entry);
  const outcome = attempt(entry, true, damage);
  // The fuzzer also opens for writing (recovery), reads again and appends.
  const writable = job.fuzz ? attempt(entry, false, damage) : undefined;
  console.log(JSON.stringify({ seed, ...damage, outcome, ...(writable === undefined ? {} : { writable }) }));
}
