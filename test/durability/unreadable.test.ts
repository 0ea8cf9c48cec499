/**
 * Files the opening user may not read (mode 000): both opens throw `ERR_SYSTEM` with
 * `EACCES` and every file stays byte-for-byte as it was; nothing is dropped as a "torn
 * tail". Root reads every file whatever its mode, so the opens run in a child process as
 * `nobody` (`runuser`; these tests need root, which CI has).
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { chmodSync, chownSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { DurableQueue } from "../../src/queue/index.ts";
import { RingBuffer } from "../../src/ring/index.ts";
import { ROOT, dirSnapshot, runScriptAs, tempDir, writeScript } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const NOBODY = 65534;

/** A script that opens the structure writable, then read-only, and prints what each did. */
const OPENER = `
import { DurableQueue } from "${ROOT}/src/queue/index.ts";
import { RingBuffer } from "${ROOT}/src/ring/index.ts";
const [kind, path] = process.argv.slice(2);
const open = (readonly) => (kind === "queue" ? DurableQueue.open(path, { readonly }) : RingBuffer.open(path, { readonly }));
for (const readonly of [false, true]) {
  try {
    const handle = open(readonly);
    handle.close();
    console.log(JSON.stringify({ readonly, outcome: "opened" }));
  } catch (e) {
    console.log(JSON.stringify({ readonly, outcome: e?.code ?? "THREW " + e, errno: e?.errno }));
  }
}
`;

/** Give the tree to nobody (so only the mode of one file stands in the way). */
function handOver(path: string): void {
  chownSync(path, NOBODY, NOBODY);
  for (const name of readdirSync(path, { recursive: true })) chownSync(join(path, String(name)), NOBODY, NOBODY);
}

async function opensAsNobody(kind: "queue" | "ring", root: string, path: string, lock: string) {
  using scripts = tempDir();
  chmodSync(scripts.path, 0o755);
  const script = writeScript(scripts.path, "opener", OPENER);
  handOver(root);
  chmodSync(lock, 0o000);
  const before = dirSnapshot(root);
  const r = await runScriptAs("nobody", script, [kind, path]);
  expect({ code: r.exitCode, signal: r.signalCode, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" });
  expect(dirSnapshot(root)).toEqual(before);
  return r.stdout.map((l) => JSON.parse(l) as { readonly: boolean; outcome: string; errno?: string });
}

const refused = [
  { readonly: false, outcome: "ERR_SYSTEM", errno: "EACCES" },
  { readonly: true, outcome: "ERR_SYSTEM", errno: "EACCES" },
];

describe("unreadable files, opened as a user without permission", () => {
  for (const [what, name] of [
    ["the last segment's data file", "queue-0000000000000008.dat"],
    ["a middle segment's index file", "queue-0000000000000004.idx"],
    ["the first segment's data file", "queue-0000000000000000.dat"],
    ["the directory file", "queue.qdir"],
  ] as const) {
    test(`queue: ${what} (mode 000): both opens ERR_SYSTEM EACCES, files unchanged`, async () => {
      using dir = tempDir();
      {
        using q = DurableQueue.open(dir.path, { segmentBytes: 1024, segmentItems: 4 });
        for (let i = 0; i < 10; i++) q.append(`job ${i}`);
        q.shift();
      }
      expect(await opensAsNobody("queue", dir.path, dir.path, join(dir.path, name))).toEqual(refused);
      // Nothing was lost: root (who can read it) still sees every job.
      chmodSync(join(dir.path, name), 0o644);
      using q = DurableQueue.open(dir.path, { readonly: true });
      expect([q.first, q.next, q.length]).toEqual([1, 10, 9]);
    });
  }

  test("ring: an unreadable shard (mode 000): both opens ERR_SYSTEM EACCES, files unchanged", async () => {
    using dir = tempDir();
    const path = dir.file("r");
    {
      using ring = RingBuffer.open(path, { recordSize: 16, capacity: 8, shards: 2 });
      for (let i = 0; i < 6; i++) ring.append(`r${i}`);
    }
    expect(await opensAsNobody("ring", dir.path, path, `${path}.1`)).toEqual(refused);
  });
});
