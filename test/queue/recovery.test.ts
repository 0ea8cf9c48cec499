/**
 * Recovery never deletes data and removed items stay removed: a file that can't be read
 * (missing, damaged header, no permission) is an error for both opens and every file
 * stays byte-for-byte as it was; a damaged index never brings back shifted items; a
 * damaged directory file never hides items from a read-only open; an append call that
 * fails commits none of its items. (Disk-full cases: test/durability/disk-full.test.ts;
 * permissions as a non-root user: unreadable.test.ts.)
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeHeader } from "../../src/primitives/header.ts";
import { DurableQueue } from "../../src/queue/index.ts";
import { DATA_SPEC, entryFlagsWord } from "../../src/queue/layout.ts";
import { ROOT, dirSnapshot, flipByte, patchFile, runScript, tempDir } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const code = (c: string | RegExp) => expect.objectContaining({ code: typeof c === "string" ? c : expect.stringMatching(c) });
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const seg = (base: number, ext: "idx" | "dat") => `queue-${String(base).padStart(16, "0")}.${ext}`;

/** Jobs 0..11 in three segments of 4 (bases 0, 4, 8); jobs 0..2 shifted, job 6 deleted. */
function jobs(dir: string, options: { sync?: "none" | "batch" } = {}): void {
  using q = DurableQueue.open(dir, { segmentBytes: 1024, segmentItems: 4, ...options });
  for (let i = 0; i < 12; i++) q.append(`job ${i}`);
  for (let i = 0; i < 3; i++) q.shift();
  q.delete(6);
}

/** Both opens throw (`expected`, or for the read-only one `readonlyExpected`), and no file changed. */
function refusedUnchanged(dir: string, expected: string | RegExp, readonlyExpected = expected): void {
  const before = dirSnapshot(dir);
  expect(() => DurableQueue.open(dir)).toThrow(code(expected));
  expect(() => DurableQueue.open(dir, { readonly: true })).toThrow(code(readonlyExpected));
  expect(dirSnapshot(dir)).toEqual(before);
}

describe("recovery deletes nothing it can't prove torn", () => {
  for (const base of [8, 4]) {
    const which = base === 8 ? "the last segment" : "a middle segment";
    test(`${which}: a missing data file is ERR_CORRUPT for both opens; the index stays`, () => {
      using dir = tempDir();
      jobs(dir.path);
      rmSync(join(dir.path, seg(base, "dat")));
      refusedUnchanged(dir.path, "ERR_CORRUPT");
    });

    test(`${which}: a missing index file is ERR_CORRUPT for both opens; the data file stays`, () => {
      using dir = tempDir();
      jobs(dir.path);
      rmSync(join(dir.path, seg(base, "idx")));
      refusedUnchanged(dir.path, "ERR_CORRUPT");
      expect(readdirSync(dir.path)).toContain(seg(base, "dat"));
    });

    test(`${which}: a damaged data or index header is ERR_CORRUPT/ERR_FORMAT for both opens`, () => {
      for (const [ext, at] of [["dat", 12], ["dat", 30], ["idx", 3], ["idx", 30]] as const) {
        using dir = tempDir();
        jobs(dir.path);
        flipByte(join(dir.path, seg(base, ext)), at);
        refusedUnchanged(dir.path, /ERR_CORRUPT|ERR_FORMAT/);
      }
    });
  }

  test("a missing directory file with segments present is ERR_CORRUPT: no new, empty queue over the old files", () => {
    using dir = tempDir();
    jobs(dir.path);
    rmSync(join(dir.path, "queue.qdir"));
    refusedUnchanged(dir.path, "ERR_CORRUPT", "ERR_SYSTEM");
  });

  test("what a crash leaves is still finished: a data file made without its index, an index of removed items without its data", () => {
    using dir = tempDir();
    jobs(dir.path);
    // A create that died before publishing its index: an empty data file.
    const empty = new Uint8Array(1024);
    empty.set(encodeHeader(DATA_SPEC, { base: 12, segmentBytes: 1024 }));
    writeFileSync(join(dir.path, seg(12, "dat")), empty);
    // A removal that died between its unlinks: the index of segment 0, all its items removed.
    const idx0 = readFileSync(join(dir.path, seg(0, "idx")));
    {
      using q = DurableQueue.open(dir.path);
      expect(text(q.shift())).toBe("job 3"); // removes segment 0
    }
    const view = new DataView(idx0.buffer, idx0.byteOffset);
    const e = 128 + 3 * 16;
    view.setUint32(e + 12, entryFlagsWord(view.getUint32(e, true), view.getUint32(e + 4, true), view.getUint32(e + 8, true), 3), true);
    writeFileSync(join(dir.path, seg(0, "idx")), idx0);
    {
      using ro = DurableQueue.open(dir.path, { readonly: true });
      expect([ro.first, ro.next, ro.length]).toEqual([4, 12, 7]);
    }
    using q = DurableQueue.open(dir.path);
    expect(readdirSync(dir.path)).not.toContain(seg(12, "dat"));
    expect(readdirSync(dir.path)).not.toContain(seg(0, "idx"));
    expect([q.first, q.next, q.length]).toEqual([4, 12, 7]);
  });

  test("a zeroed or cut index never brings shifted jobs back: ERR_CORRUPT, files unchanged", () => {
    for (const damage of ["zero", "cut"] as const) {
      using dir = tempDir();
      jobs(dir.path);
      const idx = join(dir.path, seg(0, "idx"));
      if (damage === "zero") patchFile(idx, 128, new Uint8Array(4 * 16));
      else truncateSync(idx, 128 + 2 * 16);
      refusedUnchanged(dir.path, "ERR_CORRUPT");
    }
  });

  for (const sync of ["batch", "always"] as const) {
    test(`sync ${sync}: a writer that never closed, then its index zeroed: shifted jobs never come back`, () => {
      using dir = tempDir();
      const live = DurableQueue.open(dir.path, { segmentBytes: 4096, segmentItems: 64, sync });
      try {
        for (let i = 0; i < 10; i++) live.append(`job ${i}`);
        for (let i = 0; i < 3; i++) expect(text(live.shift())).toBe(`job ${i}`);
        patchFile(join(dir.path, seg(0, "idx")), 128, new Uint8Array(10 * 16));
        // The first floor follows each shift: the entries rebuilt from the records are
        // below it and stay removed.
        using q = DurableQueue.open(dir.path);
        expect(text(q.shift())).toBe("job 3");
        expect([q.first, q.next]).toEqual([4, 10]);
      } finally {
        live.close();
      }
    });
  }

  test("damaged first/next/count in the directory file: a read-only open is ERR_CORRUPT, never items hidden", () => {
    const F64 = (v: number) => new Uint8Array(new Float64Array([v]).buffer);
    for (const [what, offset, value] of [
      ["first raised to next (hides every item)", 208, 12],
      ["first raised by one", 208, 4],
      ["next lowered", 216, 9],
      ["next raised", 216, 14],
      ["count lowered", 224, 2],
    ] as const) {
      using dir = tempDir();
      jobs(dir.path);
      patchFile(join(dir.path, "queue.qdir"), offset, F64(value));
      expect(() => DurableQueue.open(dir.path, { readonly: true }), what).toThrow(code("ERR_CORRUPT"));
      // The writer recomputes the state from the index entries, which are checksummed.
      DurableQueue.open(dir.path).close();
      using ro = DurableQueue.open(dir.path, { readonly: true });
      expect([ro.first, ro.next, ro.length]).toEqual([3, 12, 8]);
    }
  });

  test("offheap verify exits 1 (corruption) for a queue whose index was zeroed", async () => {
    using dir = tempDir();
    jobs(dir.path);
    patchFile(join(dir.path, seg(4, "idx")), 128, new Uint8Array(64));
    const r = await runScript(join(ROOT, "src/cli.ts"), ["verify", dir.path]);
    expect(r.exitCode).toBe(1);
  });
});

describe("an append call that fails commits none of its items", () => {
  for (const exclusive of [false, true]) {
    test(`${exclusive ? "exclusive" : "shared"} handle: appendMany failing at rollover, then the same handle goes on; no index handed out twice`, () => {
      using dir = tempDir();
      using q = DurableQueue.open(dir.path, { segmentBytes: 1024, segmentItems: 4, exclusive });
      for (let i = 0; i < 10; i++) expect(q.append(`job ${i}`)).toBe(i); // acked: 0..9, segment 8 holds 8, 9
      const blocker = join(dir.path, seg(12, "idx"));
      mkdirSync(blocker); // the next segment's index can't be published
      expect(() => q.appendMany(["a", "b", "c", "d"])).toThrow(code("ERR_SYSTEM"));
      expect([q.next, q.length, q.get(10), q.get(11)]).toEqual([10, 10, undefined, undefined]);
      expect(() => q.append("x")).not.toThrow(); // 10 fits in segment 8
      expect(() => q.appendMany(["y", "z"])).toThrow(code("ERR_SYSTEM")); // 11 fits, 12 does not
      expect([q.next, q.length, q.get(11)]).toEqual([11, 11, undefined]);
      rmdirSync(blocker);
      {
        using ro = DurableQueue.open(dir.path, { readonly: true });
        expect([ro.next, ro.length, ro.get(11)]).toEqual([11, 11, undefined]);
      }
      expect(q.appendMany(["y", "z"])).toBe(11);
      expect(Array.from({ length: 13 }, (_, i) => text(q.get(i)))).toEqual([
        ...Array.from({ length: 10 }, (_, i) => `job ${i}`),
        "x",
        "y",
        "z",
      ]);
    });
  }

  test("a failed call's records are not rebuilt by a later recovery (the walk stops at them)", () => {
    using dir = tempDir();
    {
      using q = DurableQueue.open(dir.path, { segmentBytes: 1024, segmentItems: 4 });
      q.appendMany(["a", "b"]);
      const blocker = join(dir.path, seg(4, "idx"));
      mkdirSync(blocker);
      expect(() => q.appendMany(["c", "d", "e"])).toThrow(code("ERR_SYSTEM"));
      rmdirSync(blocker);
    }
    using q = DurableQueue.open(dir.path);
    expect([q.next, q.length, q.get(2)]).toEqual([2, 2, undefined]);
  });
});
