/**
 * Damaged files: truncation of a shard or header at many offsets is an error and never a
 * crash (swept in a child process, so a SIGBUS would show as a signal, not kill the test
 * runner); flipped bytes are ERR_CORRUPT; verifyRing lists damaged records and describeRing
 * reports the header.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { copyFileSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { RingBuffer, describeRing, verifyRing } from "../../src/ring/index.ts";
import { HEAD_OFFSET } from "../../src/ring/layout.ts";
import { OffheapError } from "../../src/errors.ts";
import { ROOT, runScript, seededRandom, tempDir, writeScript } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const SWEEP = `
import { copyFileSync, mkdirSync, truncateSync, rmSync } from "node:fs";
import { RingBuffer, describeRing, verifyRing } from "${ROOT}/src/ring/index.ts";
const [pristine, work, casesJson] = process.argv.slice(2);
const cases = JSON.parse(casesJson);
const names = ["r", "r.1"];
function attempt(fn) {
  try { fn(); return "ok"; } catch (e) { return e && e.code ? e.code : "THROWN:" + e; }
}
for (const [shard, offset] of cases) {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work);
  for (const n of names) copyFileSync(pristine + "/" + n, work + "/" + n);
  truncateSync(work + "/" + names[shard], offset);
  const path = work + "/r";
  const results = {
    writer: attempt(() => { const r = RingBuffer.open(path); for (const x of r.range()) {} r.close(); }),
    mmap: attempt(() => { const r = RingBuffer.open(path, { readonly: true }); for (const x of r.range()) {} r.close(); }),
    pread: attempt(() => { const r = RingBuffer.open(path, { readonly: true, io: "pread" }); for (const x of r.range()) {} r.close(); }),
    verify: attempt(() => verifyRing(path)),
    describe: attempt(() => describeRing(path)),
  };
  console.log(JSON.stringify({ shard, offset, results }));
}
console.log("done");
`;

function makeRing(path: string): void {
  using ring = RingBuffer.open(path, { recordSize: 40, capacity: 10, shards: 2 });
  for (let i = 0; i < 14; i++) ring.append(`record number ${i}`);
}

describe("RingBuffer with damaged files", () => {
  test("truncating either shard at many offsets gives an error on open, never a crash", async () => {
    using dir = tempDir();
    const pristine = dir.file("pristine");
    require("node:fs").mkdirSync(pristine);
    makeRing(`${pristine}/r`);
    const sizes = [statSync(`${pristine}/r`).size, statSync(`${pristine}/r.1`).size];
    const random = seededRandom(42);
    const cases: Array<[number, number]> = [];
    for (const shard of [0, 1]) {
      const size = sizes[shard]!;
      const fixed = [0, 1, 7, 8, 12, 16, 23, 24, 60, 91, 92, 127, 128, 140, 200, 4095, 4096, 4097, 4096 + 55, 4096 + 56, size - 1];
      for (const o of fixed) cases.push([shard, o]);
      for (let i = 0; i < 12; i++) cases.push([shard, Math.floor(random() * size)]);
    }
    const script = writeScript(dir.path, "sweep.ts", SWEEP);
    const run = await runScript(script, [pristine, dir.file("work"), JSON.stringify(cases)]);
    expect(run.signalCode).toBeNull();
    expect(run.exitCode).toBe(0);
    expect(run.stdout.at(-1)).toBe("done");
    const rows = run.stdout.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    expect(rows.length).toBe(cases.length);
    for (const row of rows) {
      for (const key of ["writer", "mmap", "pread", "verify"]) {
        // An empty shard 0 is a ring whose creation never finished: a writer without
        // recordSize/capacity is told to give them (ERR_INVALID) and nothing is written.
        if (key === "writer" && row.shard === 0 && row.offset === 0) {
          expect(row.results[key]).toBe("ERR_INVALID");
          continue;
        }
        expect([row.shard, row.offset, key, row.results[key]]).toEqual([
          row.shard,
          row.offset,
          key,
          expect.stringMatching(/^ERR_(CORRUPT|FORMAT)$/),
        ]);
      }
      // describe reads only shard 0's header: fine when shard 1 is the damaged one.
      if (row.shard === 0) expect(row.results.describe).toMatch(/^ERR_(CORRUPT|FORMAT)$/);
      else expect(row.results.describe).toBe("ok");
    }
  });

  test("a missing or grown shard file is ERR_CORRUPT; a flipped header byte too", () => {
    using dir = tempDir();
    const path = dir.file("r");
    makeRing(path);
    const backup = dir.file("backup");
    copyFileSync(`${path}.1`, backup);
    rmSync(`${path}.1`);
    expect(() => RingBuffer.open(path, { readonly: true })).toThrow(expect.objectContaining({ code: "ERR_CORRUPT" }));
    copyFileSync(backup, `${path}.1`);
    writeFileSync(`${path}.1`, Buffer.alloc(100), { flag: "a" });
    expect(() => RingBuffer.open(path)).toThrow(expect.objectContaining({ code: "ERR_CORRUPT" }));
    copyFileSync(backup, `${path}.1`);
    for (const at of [8, 13, 30, 80]) {
      const bytes = readFileSync(path);
      bytes[at]! ^= 0x01;
      const damaged = dir.file(`h${at}`);
      writeFileSync(damaged, bytes);
      copyFileSync(`${path}.1`, `${damaged}.1`);
      expect(() => RingBuffer.open(damaged, { readonly: true })).toThrow(OffheapError);
    }
    // A shard from another ring (same options, other ring id) is refused.
    const other = dir.file("other");
    makeRing(other);
    copyFileSync(`${other}.1`, `${path}.1`);
    const e = (() => {
      try {
        RingBuffer.open(path);
      } catch (err) {
        return err as OffheapError;
      }
    })();
    expect(e?.code).toBe("ERR_CORRUPT");
    expect(e?.message).toContain("another ring");
  });

  test("a head moved past what was written is ERR_CORRUPT for readers and the writer", () => {
    using dir = tempDir();
    const path = dir.file("h");
    {
      using ring = RingBuffer.open(path, { recordSize: 16, capacity: 8 });
      for (let i = 0; i < 12; i++) ring.append(`r${i}`);
    }
    const pristine = readFileSync(path);
    // The head's low word; 12 -> 13, 14 and 243 all point past the last written slot.
    for (const [at, mask] of [[HEAD_OFFSET, 0x01], [HEAD_OFFSET, 0x02], [HEAD_OFFSET, 0xff], [HEAD_OFFSET + 2, 0x01]] as const) {
      const bytes = Buffer.from(pristine);
      bytes[at]! ^= mask;
      writeFileSync(path, bytes);
      for (const options of [{ readonly: true }, {}, { readonly: true, io: "pread" as const }]) {
        let err: unknown;
        try {
          RingBuffer.open(path, options).close();
        } catch (e) {
          err = e;
        }
        expect(err).toMatchObject({ code: "ERR_CORRUPT", message: expect.stringContaining("head") });
      }
    }
    writeFileSync(path, pristine);
    using ring = RingBuffer.open(path, { readonly: true });
    expect(new TextDecoder().decode(ring.get(11))).toBe("r11");
  });

  test("damaged slot headers: bad meta word and bad id are corrupt, not data", () => {
    using dir = tempDir();
    const path = dir.file("r");
    {
      using ring = RingBuffer.open(path, { recordSize: 8, capacity: 4 });
      ring.appendMany(["a", "b", "c", "d"]);
    }
    const bytes = readFileSync(path);
    bytes[4096 + 0 * 24 + 3] = 0x11; // slot 0: meta top byte: no such state
    bytes[4096 + 1 * 24 + 4]! ^= 0x02; // slot 1: id 1 becomes 3
    bytes[4096 + 2 * 24 + 12]! ^= 0xff; // slot 2: CRC byte
    writeFileSync(path, bytes);
    using ring = RingBuffer.open(path, { readonly: true });
    expect(() => ring.get(0)).toThrow(expect.objectContaining({ code: "ERR_CORRUPT" }));
    expect(() => ring.get(1)).toThrow(expect.objectContaining({ code: "ERR_CORRUPT" }));
    expect(() => ring.get(2)).toThrow(expect.objectContaining({ code: "ERR_CORRUPT" }));
    expect(new TextDecoder().decode(ring.get(3))).toBe("d");
  });

  test("getInto checks what get checks: a flipped payload, CRC, id or meta byte is ERR_CORRUPT, for writer and reader, mmap and pread", () => {
    using dir = tempDir();
    const path = dir.file("r");
    {
      // A power-of-two capacity and a record that fills the target: getInto's quickest path.
      using ring = RingBuffer.open(path, { recordSize: 8, capacity: 8 });
      ring.appendMany(["aaaaaaaa", "bbbbbbbb", "cccccccc", "dddddddd", "eeeeeeee"]);
    }
    const bytes = readFileSync(path);
    bytes[4096 + 0 * 24 + 16]! ^= 0x01; // slot 0: a payload byte
    bytes[4096 + 1 * 24 + 12]! ^= 0x80; // slot 1: a CRC byte
    bytes[4096 + 2 * 24 + 4]! ^= 0x08; // slot 2: id 2 becomes 10
    bytes[4096 + 3 * 24 + 0]! ^= 0x01; // slot 3: the length in the meta word
    writeFileSync(path, bytes);
    const target = new Uint8Array(8);
    for (const options of [{}, { io: "pread" as const }, { readonly: true }, { readonly: true, io: "pread" as const }]) {
      using ring = RingBuffer.open(path, options);
      for (const id of [0, 1, 2, 3]) expect(() => ring.getInto(id, target)).toThrow(expect.objectContaining({ code: "ERR_CORRUPT" }));
      expect(ring.getInto(4, target)).toBe(8);
      expect(new TextDecoder().decode(target)).toBe("eeeeeeee");
      expect(() => ring.getInto(4, new Uint8Array(7))).toThrow(expect.objectContaining({ code: "ERR_RANGE" }));
    }
  });

  test("verifyRing lists each damaged record and reports progress; describeRing reads the header", () => {
    using dir = tempDir();
    const path = dir.file("r");
    {
      using ring = RingBuffer.open(path, { recordSize: 40, capacity: 10, shards: 2 });
      for (let i = 0; i < 14; i++) ring.append(`record number ${i}`);
      ring.delete(12);
    }
    const clean = verifyRing(path);
    expect(clean).toEqual({ checked: 10, bad: [] });
    const bytes1 = readFileSync(`${path}.1`);
    bytes1[4096 + 1 * 56 + 16 + 3]! ^= 0x20; // shard 1 slot 1 = ring slot 6 = id 6
    writeFileSync(`${path}.1`, bytes1);
    const bytes0 = readFileSync(path);
    bytes0[4096 + 2 * 56 + 20]! ^= 0x01; // slot 2 = id 12 (deleted marker) — the payload is not covered
    bytes0[4096 + 3 * 56 + 16]! ^= 0x01; // slot 3 = id 13
    writeFileSync(path, bytes0);
    const progress: Array<[number, number]> = [];
    const report = verifyRing(path, (done, total) => progress.push([done, total]));
    expect(report.checked).toBe(10);
    expect(report.bad.map((b) => b.id).sort((a, b) => a - b)).toEqual([6, 13]);
    expect(report.bad[0]!.reason).toContain("CRC");
    expect(progress.at(-1)).toEqual([10, 10]);
    expect(describeRing(path)).toEqual({
      kind: "RING",
      version: 2,
      options: { recordSize: 40, capacity: 10, shards: 2, slotBytes: 56, slotsPerShard: 5 },
      counts: { next: 14, first: 4, size: 10, waiters: 0 },
    });
    // verify and describe never write: the files are as they were.
    expect(readFileSync(path).equals(bytes0)).toBe(true);
  });

  test("verifyRing throws OffheapError only when the ring as a whole cannot be read", () => {
    using dir = tempDir();
    const path = dir.file("r");
    writeFileSync(path, "not a ring");
    expect(() => verifyRing(path)).toThrow(expect.objectContaining({ code: "ERR_FORMAT" }));
    makeRing(dir.file("ok"));
    truncateSync(dir.file("ok.1"), 5000);
    expect(() => verifyRing(dir.file("ok"))).toThrow(expect.objectContaining({ code: "ERR_CORRUPT" }));
  });
});
