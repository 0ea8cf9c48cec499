/**
 * Single-writer mode (`exclusive: true`): the handle holds the write lock from open until
 * close. Other writers, in this process or another, are refused while it is open and work
 * again after it closes or dies; read-only handles and followers still see its appends live.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { DurableQueue } from "../../src/queue/index.ts";
import { Child, ROOT, tempDir, writeScript } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const code = (c: string) => expect.objectContaining({ code: c });
const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : new TextDecoder().decode(bytes));

describe("exclusive handle in one process", () => {
  test("a second exclusive writer gets ERR_LOCKED, or ERR_TIMEOUT after its lockTimeout; it opens once the first closes", () => {
    using dir = tempDir();
    const q = DurableQueue.open(dir.path, { exclusive: true });
    expect(q.exclusive).toBe(true);
    q.append("a");
    expect(() => DurableQueue.open(dir.path, { exclusive: true, lockTimeout: 0 })).toThrow(code("ERR_LOCKED"));
    expect(() => DurableQueue.open(dir.path, { exclusive: true, lockTimeout: 30 })).toThrow(code("ERR_TIMEOUT"));
    // A multi-producer writer can't open either: its open takes the lock to check the files.
    expect(() => DurableQueue.open(dir.path, { lockTimeout: 0 })).toThrow(code("ERR_LOCKED"));
    expect(() => DurableQueue.open(dir.path, { lockTimeout: 30 })).toThrow(code("ERR_TIMEOUT"));
    q.append("b");
    q.close();
    using again = DurableQueue.open(dir.path, { exclusive: true });
    expect([text(again.get(0)), text(again.get(1)), again.next]).toEqual(["a", "b", 2]);
    expect(again.append("c")).toBe(2);
  });

  test("a non-exclusive writer opened earlier is refused while the exclusive one is open, and writes after it closes", () => {
    using dir = tempDir();
    using shared = DurableQueue.open(dir.path, { lockTimeout: 0 });
    using patient = DurableQueue.open(dir.path, { lockTimeout: 30 });
    expect(shared.append("before")).toBe(0);
    const q = DurableQueue.open(dir.path, { exclusive: true, lockTimeout: 1000 });
    expect(q.append("mine")).toBe(1);
    for (const call of [() => shared.append("x"), () => shared.appendMany(["x"]), () => shared.shift(), () => shared.delete(0), () => shared.truncate()]) {
      expect(call).toThrow(code("ERR_LOCKED"));
    }
    expect(() => patient.append("x")).toThrow(code("ERR_TIMEOUT"));
    // Reading needs no lock: the other handles see the exclusive writer's item.
    expect(text(shared.get(1))).toBe("mine");
    expect(shared.next).toBe(2);
    q.close();
    expect(shared.append("after")).toBe(2);
    expect(patient.appendMany(["p1", "p2"])).toBe(3);
    expect([0, 1, 2, 3, 4].map((i) => text(shared.get(i)))).toEqual(["before", "mine", "after", "p1", "p2"]);
  });

  test("read-only handles and readers see the exclusive writer's appends, deletes and shifts as they happen", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path, { exclusive: true, segmentBytes: 512, segmentItems: 4 });
    using ro = DurableQueue.open(dir.path, { readonly: true });
    const reader = ro.reader("r");
    for (let i = 0; i < 30; i++) {
      expect(q.append(`item ${i}`)).toBe(i);
      expect(text(ro.get(i))).toBe(`item ${i}`);
      expect(reader.next()).toEqual({ index: i, data: new TextEncoder().encode(`item ${i}`) });
    }
    expect(q.appendMany(["m0", "m1", "m2"])).toBe(30);
    expect(text(ro.get(32))).toBe("m2");
    expect(text(q.shift())).toBe("item 0");
    expect(q.delete([1, 2])).toBe(2);
    expect([ro.first, ro.length]).toEqual([3, 30]);
    q.truncate(20);
    expect([ro.first, ro.length, ro.get(19)]).toEqual([20, 13, undefined]);
    expect(text(ro.get(20))).toBe("item 20");
  });

  test("readonly with exclusive, or a non-boolean exclusive, is ERR_INVALID and creates nothing", () => {
    using dir = tempDir();
    const path = dir.file("q");
    expect(() => DurableQueue.open(path, { readonly: true, exclusive: true })).toThrow(code("ERR_INVALID"));
    expect(() => DurableQueue.open(path, { exclusive: "yes" as unknown as boolean })).toThrow(code("ERR_INVALID"));
    expect(() => DurableQueue.open(path, { readonly: true })).toThrow(); // nothing was created
  });

  test("a call that fails midway is taken back: none of its items is committed, and the same handle goes on", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path, { exclusive: true, segmentBytes: 512, segmentItems: 4 });
    expect(q.appendMany(["a", "b", "c"])).toBe(0);
    // The next segment's index file can't be published: a directory holds its name.
    const blocker = join(dir.path, `queue-${"4".padStart(16, "0")}.idx`);
    mkdirSync(blocker);
    // "d" fits in the first segment, "e" needs the next one: the call fails after "d".
    expect(() => q.appendMany(["d", "e"])).toThrow(code("ERR_SYSTEM"));
    expect([q.next, q.length, q.get(3)]).toEqual([3, 3, undefined]);
    rmdirSync(blocker);
    const before = q.stats().recoveries;
    expect(q.append("d")).toBe(3);
    expect(q.append("e")).toBe(4);
    expect(q.stats().recoveries).toBe(before); // nothing was left to repair
    expect([q.next, q.length]).toEqual([5, 5]);
    expect(["a", "b", "c", "d", "e"].map((_, i) => text(q.get(i)))).toEqual(["a", "b", "c", "d", "e"]);
    q.close();
    using again = DurableQueue.open(dir.path, { exclusive: true });
    expect([again.next, again.length, text(again.get(4))]).toEqual([5, 5, "e"]);
  });

  test("ERR_CLOSED after close; close releases the lock once", () => {
    using dir = tempDir();
    const q = DurableQueue.open(dir.path, { exclusive: true });
    q.close();
    q.close();
    expect(() => q.append("x")).toThrow(code("ERR_CLOSED"));
    expect(() => q.appendMany(["x"])).toThrow(code("ERR_CLOSED"));
    using other = DurableQueue.open(dir.path, { lockTimeout: 0 });
    expect(other.append("x")).toBe(0);
  });
});

const WRITER = `
import { DurableQueue } from "${ROOT}/src/queue/index.ts";
const [dir] = process.argv.slice(2);
const fast = DurableQueue.open(dir, { lockTimeout: 0 });
const slow = DurableQueue.open(dir, { lockTimeout: 40 });
console.log("ready");
const attempt = (q, data) => {
  try {
    return "index " + q.append(data);
  } catch (e) {
    return "error " + e.code;
  }
};
for await (const line of console) {
  if (line === "try") console.log("fast " + attempt(fast, "child-fast") + "; slow " + attempt(slow, "child-slow"));
  if (line === "quit") break;
}
fast.close();
slow.close();
`;

const EXCLUSIVE = `
import { DurableQueue } from "${ROOT}/src/queue/index.ts";
const [dir] = process.argv.slice(2);
const q = DurableQueue.open(dir, { exclusive: true, sync: "always" });
q.append("from the exclusive child");
console.log("ready");
for (;;) q.append("more"); // until SIGKILL, mid-append at some point
`;

const FOLLOWER = `
import { DurableQueue } from "${ROOT}/src/queue/index.ts";
const [dir, total] = process.argv.slice(2);
const q = DurableQueue.open(dir, { readonly: true });
console.log("ready");
let n = 0;
for await (const item of q.reader("f").follow()) {
  console.log("got " + item.index + " " + new TextDecoder().decode(item.data));
  if (++n === Number(total)) break;
}
console.log("end");
q.close();
`;

describe("exclusive handle across processes", () => {
  test("a non-exclusive writer in another process gets ERR_LOCKED / ERR_TIMEOUT while the exclusive one is open, and appends after it closes", async () => {
    using dir = tempDir();
    const queueDir = dir.file("q");
    DurableQueue.open(queueDir).close();
    const child = new Child(writeScript(dir.path, "writer.ts", WRITER), [queueDir]);
    try {
      await child.waitForLine((l) => l === "ready");
      const q = DurableQueue.open(queueDir, { exclusive: true, lockTimeout: 10_000 });
      expect(q.append("parent")).toBe(0);
      child.send("try");
      expect(await child.waitForLine((l) => l.startsWith("fast "))).toBe("fast error ERR_LOCKED; slow error ERR_TIMEOUT");
      expect(q.append("parent again")).toBe(1);
      q.close();
      child.send("try");
      expect(await child.waitForLine((l) => l.startsWith("fast index"))).toBe("fast index 2; slow index 3");
      child.send("quit");
      const { exitCode, stderr } = await child.exited();
      expect([exitCode, stderr]).toEqual([0, ""]);
      using check = DurableQueue.open(queueDir, { readonly: true });
      expect([0, 1, 2, 3].map((i) => text(check.get(i)))).toEqual(["parent", "parent again", "child-fast", "child-slow"]);
    } finally {
      if (child.process.exitCode === null) await child.kill();
    }
  }, 60_000);

  test("a SIGKILLed exclusive writer releases the lock; the next opener recovers and appends after its items", async () => {
    using dir = tempDir();
    const queueDir = dir.file("q");
    const child = new Child(writeScript(dir.path, "exclusive.ts", EXCLUSIVE), [queueDir]);
    await child.waitForLine((l) => l === "ready");
    expect(() => DurableQueue.open(queueDir, { exclusive: true, lockTimeout: 0 })).toThrow(code("ERR_LOCKED"));
    expect(() => DurableQueue.open(queueDir, { lockTimeout: 0 })).toThrow(code("ERR_LOCKED"));
    await Bun.sleep(20);
    await child.kill();
    using q = DurableQueue.open(queueDir, { exclusive: true });
    expect(q.stats().recoveries).toBe(1);
    expect(text(q.get(0))).toBe("from the exclusive child");
    const next = q.next;
    expect(next).toBeGreaterThan(0);
    for (let i = 1; i < next; i++) expect(text(q.get(i))).toBe("more");
    expect(q.append("after the crash")).toBe(next);
    expect(q.length).toBe(next + 1);
  }, 60_000);

  test("a read-only follower in another process sees the exclusive writer's appends live, in order", async () => {
    using dir = tempDir();
    const queueDir = dir.file("q");
    const q = DurableQueue.open(queueDir, { exclusive: true, segmentBytes: 4096 });
    try {
      const total = 300;
      const follower = new Child(writeScript(dir.path, "follower.ts", FOLLOWER), [queueDir, String(total)]);
      await follower.waitForLine((l) => l === "ready");
      let appended = 0;
      while (appended < total) {
        if (appended % 50 === 10) {
          const batch = Array.from({ length: 20 }, (_, j) => `item ${appended + j}`);
          expect(q.appendMany(batch)).toBe(appended);
          appended += batch.length;
        } else {
          expect(q.append(`item ${appended}`)).toBe(appended);
          appended++;
        }
        // Let the follower catch up now and then, so it is woken while waiting, not only at the end.
        if (appended % 40 === 0) await follower.waitForLine((l) => l === `got ${appended - 1} item ${appended - 1}`);
      }
      await follower.waitForLine((l) => l === "end", 30_000);
      const { exitCode, stderr } = await follower.exited();
      expect([exitCode, stderr]).toEqual([0, ""]);
      const got = follower.lines.filter((l) => l.startsWith("got "));
      expect(got).toEqual(Array.from({ length: total }, (_, i) => `got ${i} item ${i}`));
    } finally {
      q.close();
    }
  }, 60_000);
});
