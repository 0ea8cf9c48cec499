/**
 * A full disk is an error from the call that needed space, never SIGBUS: each structure
 * is used on a tiny tmpfs (root only; CI runs as root) that a child process fills while
 * writing (disk-full-child.ts). The child must exit normally; every call that failed must
 * be `ERR_SYSTEM` `ENOSPC`; then, with space freed, the structure reopens holding every
 * acknowledged record and nothing of a failed call, and goes on.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { DurableQueue } from "../../src/queue/index.ts";
import { RecordStore } from "../../src/records/index.ts";
import { RingBuffer } from "../../src/ring/index.ts";
import { runScript, tinyFilesystem } from "../helpers/index.ts";
import { DISK_FULL_ROW } from "./disk-full-child.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const CHILD = join(import.meta.dir, "disk-full-child.ts");
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

async function run(mode: string, root: string) {
  const r = await runScript(CHILD, [mode, root]);
  expect({ code: r.exitCode, signal: r.signalCode, stderr: r.stderr, last: r.stdout.at(-1) }).toEqual({ code: 0, signal: null, stderr: "", last: "done" });
  const acked = r.stdout.filter((l) => l.startsWith("acked ")).map((l) => l.slice(6));
  const threw = r.stdout.filter((l) => l.startsWith("threw "));
  const line = (prefix: string) => r.stdout.find((l) => l.startsWith(prefix));
  return { acked, threw, line };
}

describe("a full disk", () => {
  for (const io of ["mmap", "pread"] as const) {
    test(`ring (${io}): appends and a writable reopen on a full disk go on (all allocated at create); a new ring is ENOSPC`, async () => {
      using fs = tinyFilesystem();
      const { acked, threw } = await run(`ring-${io}`, fs.path);
      expect(acked.length).toBe(3010);
      expect(threw).toEqual(["threw create ERR_SYSTEM ENOSPC"]);
      fs.free();
      using ring = RingBuffer.open(fs.file("events.ring"), { io });
      expect(ring.next).toBe(3010);
      // Every acknowledged record the window still holds reads back.
      for (let id = ring.first; id < 3010; id++) expect(text(ring.get(id))).toBe(`record ${id}`);
      expect(ring.append("after")).toBe(3010);
      RingBuffer.open(fs.file("other.ring"), { recordSize: 64, capacity: 16, io }).close();
    });
  }

  test("queue: append and appendMany that need a new segment are ENOSPC and commit nothing; after freeing space it goes on", async () => {
    using fs = tinyFilesystem();
    const { acked, threw, line } = await run("queue", fs.path);
    const n = acked.length;
    expect(n).toBeGreaterThan(100);
    expect(threw).toEqual(["threw appendMany ERR_SYSTEM ENOSPC", "threw append ERR_SYSTEM ENOSPC", "threw append ERR_SYSTEM ENOSPC"]);
    expect(n).toBe(256); // the segment's every entry, none of the batch
    expect(acked).toEqual(Array.from({ length: n }, (_, i) => String(i)));
    expect(line("state ")).toBe("state 254 254"); // the batch wrote two items, then took them back
    expect(line("reopened ")).toBe(`reopened ${n} ${n}`);
    fs.free();
    using q = DurableQueue.open(fs.file("q"));
    expect([q.next, q.length]).toEqual([n, n]);
    for (let i = 0; i < n; i++) expect(text(q.get(i))).toBe(`item ${i} `.padEnd(200, "x"));
    expect(q.appendMany(["a", "b", "c"])).toBe(n); // no index of the failed calls is skipped or reused
    expect(text(q.get(n + 2))).toBe("c");
  });

  test("records: the append that needs the file to grow is ENOSPC; the store goes on, and after freeing space it grows", async () => {
    using fs = tinyFilesystem();
    const { acked, threw, line } = await run("records", fs.path);
    const appended = acked.filter((a) => a !== "set3");
    const n = appended.length;
    expect(n).toBeGreaterThanOrEqual(64);
    expect(threw).toEqual(["threw append ERR_SYSTEM ENOSPC"]);
    expect(acked).toContain("set3");
    expect([line("state "), line("reopened ")]).toEqual([`state ${n}`, `reopened ${n}`]);
    fs.free();
    using store = RecordStore.open(fs.file("r.rec"), DISK_FULL_ROW, { verify: true });
    expect(store.length).toBe(n);
    for (let i = 0; i < n; i++) expect(store.get(i)).toEqual({ n: i, tag: i === 3 ? "changed" : `t${i}` });
    for (let i = n; i < n + 200; i++) expect(store.append({ n: i, tag: `t${i}` })).toBe(i);
  });
});
