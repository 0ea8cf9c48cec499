// A shared (non-exclusive) handle keeps the queue's lock for the rest of the synchronous
// run of code that took it, and lets go in a microtask: other handles in this thread take
// it over at once, other processes get it as soon as the event loop turns.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { DurableQueue } from "../../src/index.ts";
import { Child, ROOT, runScript, seededRandom, tempDir, until, writeScript } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

describe("the producer lock of a shared handle", () => {
  test("two handles of one queue in one thread alternate in synchronous code without waiting (lockTimeout 0)", () => {
    using dir = tempDir();
    using a = DurableQueue.open(dir.path, { lockTimeout: 0 });
    using b = DurableQueue.open(dir.path, { lockTimeout: 0 });
    for (let i = 0; i < 10; i++) (i % 2 === 0 ? a : b).append(`item ${i}`);
    expect(text(b.shift())).toBe("item 0");
    expect(text(a.shift())).toBe("item 1");
    // A third handle opened in the middle of the run (its open takes the lock to recover).
    using c = DurableQueue.open(dir.path, { lockTimeout: 0 });
    c.append("item 10");
    expect(a.length).toBe(9);
    expect([...Array(9)].map(() => text(a.shift()))).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => `item ${i}`));
  });

  test("another process can append (lockTimeout 0) once this thread's synchronous run ends", async () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path);
    for (let i = 0; i < 100; i++) q.append(`parent ${i}`);
    await Bun.sleep(0); // the microtask and the event loop have run: the lock is free
    const script = writeScript(
      dir.path,
      "child",
      `import { DurableQueue } from ${JSON.stringify(`${ROOT}/src/index.ts`)};
       using q = DurableQueue.open(process.argv[2], { lockTimeout: 0 });
       for (let i = 0; i < 5; i++) q.append("child " + i);
       console.log("ok");`,
    );
    const r = await runScript(script, [dir.path]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toEqual(["ok"]);
    expect(q.length).toBe(105);
    const items = [...Array(105)].map(() => text(q.shift()));
    expect(items.slice(100)).toEqual([0, 1, 2, 3, 4].map((i) => `child ${i}`));
  });

  test("while this thread's synchronous run holds it, another process with lockTimeout 0 gets ERR_LOCKED and adds nothing", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path);
    q.append("parent");
    // Still the same synchronous run: spawnSync blocks this thread, so the lock is held
    // for the child's whole life.
    const child = `import { DurableQueue } from ${JSON.stringify(`${ROOT}/src/index.ts`)};
      try { DurableQueue.open(${JSON.stringify(dir.path)}, { lockTimeout: 0 }).append("child"); console.log("appended"); } catch (e) { console.log(e.code); }`;
    const r = Bun.spawnSync([process.execPath, "-e", child]);
    expect(new TextDecoder().decode(r.stdout).trim()).toBe("ERR_LOCKED");
    expect(q.length).toBe(1);
  });
});

const PRODUCER = `
import { DurableQueue } from "${ROOT}/src/index.ts";
const [dir, name] = process.argv.slice(2);
const q = DurableQueue.open(dir, { segmentBytes: 4096 });
let c = 0;
// A tight synchronous loop: the case where a handle keeps the lock past its call.
for (;;) {
  const p = name + "-" + c++ + "-" + "x".repeat(c % 50);
  console.log("ok " + q.append(p) + " " + p);
}
`;

test("three producer processes in tight loops, the lock's holder SIGKILLed 12 times: every survivor goes on, nothing reported is lost", async () => {
  using dir = tempDir();
  const script = writeScript(dir.path, "producer.ts", PRODUCER);
  const queueDir = dir.file("queue");
  DurableQueue.open(queueDir, { segmentBytes: 4096 }).close();
  const random = seededRandom(31);
  let generation = 0;
  const spawn = (slot: number) => new Child(script, [queueDir, `p${slot}g${generation++}`]);
  const children = [spawn(0), spawn(1), spawn(2)];
  const reported = new Map<number, string>();
  const collect = (c: Child) => {
    for (const line of c.lines) {
      const m = /^ok (\d+) (.*)$/.exec(line);
      if (m === null) continue;
      const index = Number(m[1]);
      expect(reported.get(index) ?? m[2]).toBe(m[2]!); // an index handed out twice
      reported.set(index, m[2]!);
    }
  };
  try {
    for (let round = 0; round < 12; round++) {
      // Every producer must get its turn (no hang, no starvation past lockTimeout).
      const before = children.map((c) => c.lines.length);
      await until(() => children.every((c, i) => c.lines.length > before[i]! + 5), `round ${round}: every producer appends`);
      const victim = Math.floor(random() * children.length);
      await children[victim]!.kill("SIGKILL");
      collect(children[victim]!);
      children[victim] = spawn(victim);
    }
  } finally {
    for (const c of children) {
      await c.kill("SIGKILL");
      collect(c);
    }
  }
  using q = DurableQueue.open(queueDir, { lockTimeout: 0 });
  for (const [index, payload] of reported) {
    const got = q.get(index);
    expect(got === undefined ? `missing ${index}` : new TextDecoder().decode(got)).toBe(payload);
  }
  expect(reported.size).toBeGreaterThan(100);
});
