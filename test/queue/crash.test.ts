/**
 * Crash safety: a child appends under `sync: "always"` or `"batch"` and is SIGKILLed at a
 * random moment; after reopen every item it reported is there, intact, at the index it was
 * given, and no index is ever handed out twice across rounds. The rounds run with the
 * per-call lock and again with an `exclusive` writer that holds the lock until it dies.
 */
import { expect, test, setDefaultTimeout } from "bun:test";
import { DurableQueue } from "../../src/queue/index.ts";
import { crashRun, ROOT, seededRandom, tempDir, writeScript } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const CHILD = `
import { DurableQueue } from "${ROOT}/src/queue/index.ts";
const [dir, sync, round, exclusive] = process.argv.slice(2);
const q = DurableQueue.open(dir, { sync, segmentBytes: 4096, exclusive: exclusive === "exclusive" });
console.log("ready");
let c = 0;
const payload = () => { c++; return "r" + round + "-c" + c + "-" + "x".repeat((c * 7) % 90); };
for (;;) {
  if (sync === "always") {
    const p = payload();
    const index = q.append(p);
    console.log("ok " + index + " " + p);
  } else {
    // Now and then a batch of over 4 KiB, which takes the staged (pwrite) path.
    const batch = Array.from({ length: c % 7 === 0 ? 90 : 1 + (c % 13) }, payload);
    const first = q.appendMany(batch);
    console.log(batch.map((p, i) => "ok " + (first + i) + " " + p).join("\\n"));
  }
}
`;

for (const [sync, exclusive] of [["always", false], ["batch", false], ["always", true], ["batch", true]] as const) {
  test(`sync "${sync}"${exclusive ? ", exclusive writer" : ""}: 30 SIGKILL rounds lose nothing that was reported, never reuse an index`, async () => {
    using dir = tempDir();
    const script = writeScript(dir.path, "child.ts", CHILD);
    const queueDir = dir.file("queue");
    const random = seededRandom((sync === "always" ? 7 : 8) + (exclusive ? 10 : 0));
    const reported = new Map<number, string>();
    let killedMidRun = 0;
    for (let round = 0; round < 30; round++) {
      const result = await crashRun({ script, args: [queueDir, sync, String(round), exclusive ? "exclusive" : "shared"], killAfterMs: { min: 5, max: 60 }, random });
      if (result.killedMidRun) killedMidRun++;
      for (const line of result.reported) {
        const space = line.indexOf(" ");
        const index = Number(line.slice(0, space));
        expect(reported.has(index)).toBe(false); // an index handed out twice
        reported.set(index, line.slice(space + 1));
      }
      // The dead writer's lock is gone: an exclusive open succeeds at once, and recovers.
      using q = DurableQueue.open(queueDir, { exclusive, lockTimeout: 0 });
      expect(q.stats().recoveries).toBe(1);
      for (const [index, payload] of reported) {
        const got = q.get(index);
        expect(got === undefined ? `missing ${index}` : new TextDecoder().decode(got)).toBe(payload);
      }
      const maxReported = Math.max(-1, ...reported.keys());
      expect(q.next).toBeGreaterThan(maxReported);
    }
    expect(killedMidRun).toBeGreaterThan(20);
    expect(reported.size).toBeGreaterThan(30);
  }, 120_000);
}

const READER_CHILD = `
import { DurableQueue } from "${ROOT}/src/queue/index.ts";
const [dir] = process.argv.slice(2);
const q = DurableQueue.open(dir, { readonly: true });
const r = q.reader("r");
console.log("ready");
for (let item = r.next(); item; item = r.next()) {
  if (item.index % 3 === 0) {
    r.commit();
    console.log("ok " + r.position);
  }
}
r.commit();
console.log("ok " + r.position);
await Bun.sleep(60_000);
`;

test("a reader's committed position survives SIGKILL (10 rounds)", async () => {
  using dir = tempDir();
  const queueDir = dir.file("queue");
  {
    using q = DurableQueue.open(queueDir, { segmentBytes: 4096 });
    q.appendMany(Array.from({ length: 3000 }, (_, i) => `item ${i}`));
  }
  const script = writeScript(dir.path, "reader.ts", READER_CHILD);
  const random = seededRandom(9);
  let last = 0;
  for (let round = 0; round < 10; round++) {
    const result = await crashRun({ script, args: [queueDir], killAfterMs: { min: 0, max: 30 }, random });
    const reported = result.reported.map(Number);
    if (reported.length > 0) last = Math.max(last, ...reported);
    using q = DurableQueue.open(queueDir, { readonly: true });
    const position = q.reader("r").position;
    expect(position).toBeGreaterThanOrEqual(last);
    expect(position).toBeLessThanOrEqual(3000);
    last = position;
  }
}, 120_000);
