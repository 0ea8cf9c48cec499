/**
 * Every error code DurableQueue raises, and damaged files: a flipped data byte, index
 * files cut at every kind of offset, foreign and corrupt headers. Nothing may crash.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { closeSync, cpSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { File, Lock } from "../../ffi/index.ts";
import { DurableQueue, verifyQueue } from "../../src/queue/index.ts";
import { dirSnapshot, flipByte, tempDir } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const code = (c: string) => expect.objectContaining({ code: c });


/** Where item `pos` of the first segment starts in its data file (read from the index). */
function dataOffset(dir: string, pos: number, base = 0): number {
  const idx = readFileSync(join(dir, `queue-${String(base).padStart(16, "0")}.idx`));
  return new DataView(idx.buffer, idx.byteOffset, idx.byteLength).getUint32(128 + pos * 16, true);
}


describe("error codes", () => {
  test("ERR_CLOSED after close; close is idempotent", () => {
    using dir = tempDir();
    const q = DurableQueue.open(dir.path);
    q.append("x");
    const r = q.reader("r");
    q.close();
    q.close();
    for (const call of [() => q.append("y"), () => q.get(0), () => q.first, () => q.length, () => q.shift(), () => q.reader("s"), () => r.next(), () => r.commit(), () => q.stats()]) {
      expect(call).toThrow(code("ERR_CLOSED"));
    }
    r.close();
  });

  test("ERR_READONLY for every mutation through a read-only handle", () => {
    using dir = tempDir();
    DurableQueue.open(dir.path).close();
    using q = DurableQueue.open(dir.path, { readonly: true });
    for (const call of [() => q.append("y"), () => q.appendMany(["y"]), () => q.shift(), () => q.delete(0), () => q.truncate()]) {
      expect(call).toThrow(code("ERR_READONLY"));
    }
  });

  test("ERR_LOCKED with lockTimeout 0 and ERR_TIMEOUT after lockTimeout while another holder has the lock", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path, { lockTimeout: 0 });
    using slow = DurableQueue.open(dir.path, { lockTimeout: 30 });
    using file = File.open(join(dir.path, "queue.qdir"));
    const lock = new Lock(file);
    lock.tryLock();
    expect(() => q.append("x")).toThrow(code("ERR_LOCKED"));
    expect(() => slow.append("x")).toThrow(code("ERR_TIMEOUT"));
    expect(() => DurableQueue.open(dir.path, { lockTimeout: 0 })).toThrow(code("ERR_LOCKED"));
    lock.unlock();
    expect(q.append("x")).toBe(0);
    expect(slow.append("y")).toBe(1);
  });

  test("ERR_MISMATCH for other layout options, leaving the files as they were", () => {
    using dir = tempDir();
    DurableQueue.open(dir.path, { segmentBytes: 4096, maxBytes: 1000 }).close();
    const before = dirSnapshot(dir.path);
    expect(() => DurableQueue.open(dir.path, { segmentBytes: 8192 })).toThrow(code("ERR_MISMATCH"));
    expect(() => DurableQueue.open(dir.path, { maxBytes: 999 })).toThrow(code("ERR_MISMATCH"));
    expect(() => DurableQueue.open(dir.path, { segmentItems: 3 })).toThrow(code("ERR_MISMATCH"));
    expect(dirSnapshot(dir.path)).toEqual(before);
    using q = DurableQueue.open(dir.path, { segmentBytes: 4096 });
    expect(q.maxBytes).toBe(1000);
  });

  test("ERR_FORMAT for a foreign file or another offheap kind; ERR_CORRUPT for a damaged header", () => {
    using dir = tempDir();
    writeFileSync(join(dir.path, "queue.qdir"), "this is not a queue at all, just some text that is long enough".repeat(80));
    expect(() => DurableQueue.open(dir.path)).toThrow(code("ERR_FORMAT"));
    // A queue's own reader file is an offheap file of another kind.
    using other = tempDir();
    DurableQueue.open(other.path).reader("r").commit();
    DurableQueue.open(other.path).close();
    writeFileSync(join(dir.path, "queue.qdir"), Buffer.concat([readFileSync(join(other.path, "queue.reader-r")), Buffer.alloc(4096)]));
    expect(() => DurableQueue.open(dir.path)).toThrow(code("ERR_FORMAT"));
    // A flipped byte in the header fails its CRC.
    rmSync(dir.path, { recursive: true });
    DurableQueue.open(dir.path).close();
    flipByte(join(dir.path, "queue.qdir"), 30);
    const before = dirSnapshot(dir.path);
    expect(() => DurableQueue.open(dir.path)).toThrow(code("ERR_CORRUPT"));
    expect(() => DurableQueue.open(dir.path, { readonly: true })).toThrow(code("ERR_CORRUPT"));
    expect(dirSnapshot(dir.path)).toEqual(before);
  });

  test("ERR_RANGE: truncate past the end", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path);
    q.appendMany(["a", "b"]);
    expect(() => q.truncate(3)).toThrow(code("ERR_RANGE"));
    expect(q.length).toBe(2);
    q.truncate(2);
    expect(q.length).toBe(0);
  });

  test("ERR_TOO_LARGE: an item that cannot fit in a segment, nothing written", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path, { segmentBytes: 256 });
    // 256 bytes minus a 64-byte file header and a 20-byte record header.
    expect(() => q.append(new Uint8Array(173))).toThrow(code("ERR_TOO_LARGE"));
    expect(() => q.appendMany([new Uint8Array(1), new Uint8Array(173)])).toThrow(code("ERR_TOO_LARGE"));
    expect([q.next, q.length]).toEqual([0, 0]);
    expect(q.append(new Uint8Array(172))).toBe(0);
  });

  test("ERR_FULL: past maxBytes", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path, { maxBytes: 10 });
    expect(() => q.append("12345678901")).toThrow(code("ERR_FULL"));
    expect(q.next).toBe(0);
  });

  test("ERR_INVALID for bad arguments and options", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path);
    const bad: Array<() => unknown> = [
      () => q.get(-1),
      () => q.get(1.5),
      () => q.get(Number.NaN),
      () => q.append(42 as unknown as string),
      () => q.appendMany([null as unknown as string]),
      () => q.appendMany(7 as unknown as string[]),
      () => q.delete("1" as unknown as number),
      () => q.delete([0, -2]),
      () => q.truncate(-1),
      () => q.reader("../escape"),
      () => q.reader(""),
      () => q.reader("ok").seek(-1),
      () => DurableQueue.open(dir.path, { prefix: "a/b" }),
      () => DurableQueue.open(dir.path, { sync: "sometimes" as "none" }),
      () => DurableQueue.open(dir.path, { segmentBytes: 100 }),
      () => DurableQueue.open(dir.path, { segmentBytes: 2 ** 33 }),
      () => DurableQueue.open(dir.path, { segmentItems: 0 }),
      () => DurableQueue.open(dir.path, { maxBytes: -5 }),
      () => DurableQueue.open(dir.path, { lockTimeout: -1 }),
    ];
    for (const call of bad) expect(call).toThrow(code("ERR_INVALID"));
  });

  test("ERR_SYSTEM: a read-only open of a queue that does not exist", () => {
    using dir = tempDir();
    let error: unknown;
    try {
      DurableQueue.open(join(dir.path, "missing"), { readonly: true });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: "ERR_SYSTEM", errno: "ENOENT" });
  });
});

describe("corruption", () => {
  test("a flipped data byte gives ERR_CORRUPT on get, the neighbours still read", () => {
    using dir = tempDir();
    {
      using q = DurableQueue.open(dir.path, { segmentBytes: 4096 });
      q.appendMany(["first item", "second item", "third item"]);
    }
    flipByte(join(dir.path, "queue-0000000000000000.dat"), dataOffset(dir.path, 1) + 2);
    using q = DurableQueue.open(dir.path);
    expect(() => q.get(1)).toThrow(code("ERR_CORRUPT"));
    expect(new TextDecoder().decode(q.get(0))).toBe("first item");
    expect(new TextDecoder().decode(q.get(2))).toBe("third item");
    q.shift();
    expect(() => q.shift()).toThrow(code("ERR_CORRUPT"));
    const r = q.reader("r");
    expect(() => r.next()).toThrow(code("ERR_CORRUPT"));
    r.seek(2);
    expect(r.next()?.index).toBe(2);
    q.append("fourth item");
    expect(() => q.shiftMany(3)).toThrow(code("ERR_CORRUPT")); // nothing taken: the bad item is first
    expect(q.length).toBe(3);
    expect(q.delete(1)).toBe(1); // a corrupt item can be dropped
    expect(q.shiftMany(5).map((b) => new TextDecoder().decode(b))).toEqual(["third item", "fourth item"]);
  });

  test("shiftMany hands back the items before a corrupt one and leaves it first", () => {
    using dir = tempDir();
    {
      using q = DurableQueue.open(dir.path, { segmentBytes: 4096 });
      q.appendMany(["aaaa", "bbbb", "cccc"]);
    }
    flipByte(join(dir.path, "queue-0000000000000000.dat"), dataOffset(dir.path, 1) + 1);
    using q = DurableQueue.open(dir.path);
    expect(q.shiftMany(3).map((b) => new TextDecoder().decode(b))).toEqual(["aaaa"]);
    expect(q.first).toBe(1);
    expect(() => q.shiftMany(3)).toThrow(code("ERR_CORRUPT"));
  });

  test("an index entry pointing outside the data file is ERR_CORRUPT, not a crash", () => {
    using dir = tempDir();
    {
      using q = DurableQueue.open(dir.path, { segmentBytes: 4096 });
      q.appendMany(["aa", "bb"]);
    }
    const idx = join(dir.path, "queue-0000000000000000.idx");
    const fd = openSync(idx, "r+");
    const huge = new Uint8Array(new Uint32Array([0xfffffff0]).buffer);
    writeSync(fd, huge, 0, 4, 128); // entry 0's offset
    closeSync(fd);
    using q = DurableQueue.open(dir.path, { readonly: true });
    expect(() => q.get(0)).toThrow(code("ERR_CORRUPT"));
    expect(verifyQueue(dir.path).bad.map((b) => b.id)).toEqual([0]);
  });

  test("an index or data file cut at any offset: never a crash; both opens are ERR_CORRUPT and every file stays as it was", () => {
    using dir = tempDir();
    using pristine = tempDir();
    const items = Array.from({ length: 24 }, (_, i) => `entry ${i} ${"#".repeat(i)}`);
    {
      using q = DurableQueue.open(pristine.path, { segmentBytes: 4096, segmentItems: 32 });
      q.appendMany(items);
    }
    const entryStart = 128;
    const offsets = new Set<number>([0, 1, 8, 20, 40, 51, 52, 60, 64, 80, 100, 127]);
    for (let off = entryStart; off <= entryStart + 16 * items.length + 16; off += 5) offsets.add(off);
    for (const file of ["queue-0000000000000000.idx", "queue-0000000000000000.dat"]) {
      for (const cut of offsets) {
        rmSync(dir.path, { recursive: true, force: true });
        cpSync(pristine.path, dir.path, { recursive: true });
        truncateSync(join(dir.path, file), cut);
        const before = dirSnapshot(dir.path);
        // Files are made at full size and never resized: a short one was cut by something
        // else, and the items past the cut can't be told from items never written.
        for (const readonly of [true, false]) {
          expect(() => DurableQueue.open(dir.path, { readonly })).toThrow(code(cut < 64 && file.endsWith(".idx") ? expect.stringMatching(/ERR_CORRUPT|ERR_FORMAT/) : "ERR_CORRUPT"));
        }
        expect(dirSnapshot(dir.path)).toEqual(before);
      }
    }
  });

  test("index entries a crash lost are rebuilt from the data records; stale records of a dead batch are not", () => {
    using dir = tempDir();
    const idx = join(dir.path, "queue-0000000000000000.idx");
    const zeroEntries = (from: number, to: number) => {
      const fd = openSync(idx, "r+");
      writeSync(fd, new Uint8Array(16 * (to - from)), 0, 16 * (to - from), 128 + 16 * from);
      closeSync(fd);
    };
    // Writers that die: their handles are never closed (a close would raise the floors,
    // after which a blank entry is damage, not a crash).
    const crashed: DurableQueue[] = [];
    try {
      const items = Array.from({ length: 10 }, (_, i) => `record ${i}`); // 8 bytes each
      crashed.push(DurableQueue.open(dir.path, { sync: "batch", segmentBytes: 4096 }));
      crashed[0]!.appendMany(items);
      zeroEntries(5, 10); // the index pages never reached the disk
      const q1 = DurableQueue.open(dir.path, { sync: "batch" });
      crashed.push(q1);
      expect([q1.length, q1.next]).toEqual([10, 10]);
      expect(items.map((_, i) => new TextDecoder().decode(q1.get(i)))).toEqual(items);
      // Now a batch (items 10..13) dies with record 11 torn and entries 11..13 lost ...
      q1.appendMany(["record 10", "record 11", "record 12", "record 13"]);
      flipByte(join(dir.path, "queue-0000000000000000.dat"), dataOffset(dir.path, 11));
      zeroEntries(11, 14);
      const q2 = DurableQueue.open(dir.path, { sync: "batch" });
      crashed.push(q2);
      expect(q2.next).toBe(11);
      // ... and the next writer appends an item of the same size where record 11 was, so
      // the dead batch's record 12 sits right after it.
      expect(q2.append("RECORD 11")).toBe(11);
      zeroEntries(11, 12); // lose the new entry too: the walk must rebuild 11 and stop there
      const q3 = DurableQueue.open(dir.path);
      crashed.push(q3);
      expect(new TextDecoder().decode(q3.get(11))).toBe("RECORD 11");
      expect(q3.get(12)).toBeUndefined();
      expect(q3.next).toBe(12);
    } finally {
      for (const q of crashed) q.close();
    }
  });

  test("a tail torn by a crash is dropped on a writable reopen; the same bytes damaged after a close are ERR_CORRUPT, never dropped", () => {
    using dir = tempDir();
    const items = Array.from({ length: 10 }, (_, i) => `item ${i}!!`); // 8 bytes each
    const dat = join(dir.path, "queue-0000000000000000.dat");
    const crashed = DurableQueue.open(dir.path, { segmentBytes: 4096 });
    try {
      crashed.appendMany(items);
      // Items 7..9 never fully reached the file (their bytes fail their CRC).
      for (const i of [7, 8, 9]) flipByte(dat, dataOffset(dir.path, i) + 2);
      using ro = DurableQueue.open(dir.path, { readonly: true });
      expect(() => ro.get(9)).toThrow(code("ERR_CORRUPT"));
      using q = DurableQueue.open(dir.path);
      expect([q.length, q.next]).toEqual([7, 7]);
      expect(new TextDecoder().decode(q.get(6))).toBe("item 6!!");
      expect(q.append("new")).toBe(7);
    } finally {
      crashed.close();
    }
    // After a clean close every item is known to be complete: a bad byte is damage.
    flipByte(dat, dataOffset(dir.path, 7) + 1);
    using q = DurableQueue.open(dir.path);
    expect([q.length, q.next]).toEqual([8, 8]);
    expect(() => q.get(7)).toThrow(code("ERR_CORRUPT"));
  });
});
