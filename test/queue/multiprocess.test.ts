/**
 * Across processes: three producers append to one queue at once while a fourth process
 * follows it with a named reader.
 */
import { expect, test, setDefaultTimeout } from "bun:test";
import { DurableQueue } from "../../src/queue/index.ts";
import { Child, ROOT, tempDir, writeScript } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const PRODUCER = `
import { DurableQueue } from "${ROOT}/src/queue/index.ts";
const [dir, id, count] = process.argv.slice(2);
const q = DurableQueue.open(dir, { segmentBytes: 8192, lockTimeout: 30000 });
const got = [];
let k = 0;
while (k < Number(count)) {
  if (k % 5 === 0) {
    const batch = Array.from({ length: Math.min(4, Number(count) - k) }, (_, j) => "p" + id + "-" + (k + j));
    const first = q.appendMany(batch);
    batch.forEach((_, j) => got.push(first + j));
    k += batch.length;
  } else {
    got.push(q.append("p" + id + "-" + k + "-" + "y".repeat(k % 40)));
    k++;
  }
}
q.close();
console.log("done " + got.join(","));
`;

const FOLLOWER = `
import { DurableQueue } from "${ROOT}/src/queue/index.ts";
const [dir, total] = process.argv.slice(2);
const q = DurableQueue.open(dir, { readonly: true });
console.log("ready");
let n = 0;
const out = [];
for await (const item of q.reader("follower").follow()) {
  out.push(item.index + " " + new TextDecoder().decode(item.data));
  if (++n === Number(total)) break;
}
console.log(out.join("\\n"));
console.log("end");
q.close();
`;

test("three producer processes and a following reader process: every item once, in index order", async () => {
  using dir = tempDir();
  const queueDir = dir.file("q");
  DurableQueue.open(queueDir, { segmentBytes: 8192 }).close();
  const producer = writeScript(dir.path, "producer.ts", PRODUCER);
  const follower = writeScript(dir.path, "follower.ts", FOLLOWER);
  const perProducer = 400;
  const total = perProducer * 3;
  const reader = new Child(follower, [queueDir, String(total)]);
  await reader.waitForLine((l) => l === "ready");
  const producers = [0, 1, 2].map((id) => new Child(producer, [queueDir, String(id), String(perProducer)]));
  const indexes: number[] = [];
  for (const p of producers) {
    const line = await p.waitForLine((l) => l.startsWith("done "), 60_000);
    indexes.push(...line.slice(5).split(",").map(Number));
    await p.exited();
  }
  await reader.waitForLine((l) => l === "end", 60_000);
  const { exitCode, stderr } = await reader.exited();
  expect(stderr).toBe("");
  expect(exitCode).toBe(0);
  // No index used twice, none skipped.
  expect(indexes.length).toBe(total);
  expect(new Set(indexes).size).toBe(total);
  expect(Math.max(...indexes)).toBe(total - 1);
  // The follower saw every index in order, and each item exactly once.
  const seen = reader.lines.filter((l) => /^\d+ /.test(l));
  expect(seen.map((l) => Number(l.split(" ")[0]))).toEqual(Array.from({ length: total }, (_, i) => i));
  const payloads = seen.map((l) => l.slice(l.indexOf(" ") + 1).replace(/-y*$/, ""));
  const expected = [0, 1, 2].flatMap((id) => Array.from({ length: perProducer }, (_, k) => `p${id}-${k}`));
  expect([...payloads].sort()).toEqual([...expected].sort());
  // Each producer's own items are in the order it appended them.
  for (const id of [0, 1, 2]) {
    const mine = payloads.filter((p) => p.startsWith(`p${id}-`)).map((p) => Number(p.split("-")[1]));
    expect(mine).toEqual(Array.from({ length: perProducer }, (_, k) => k));
  }
  using q = DurableQueue.open(queueDir);
  expect([q.length, q.next]).toEqual([total, total]);
}, 120_000);
