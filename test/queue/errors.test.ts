/**
 * Every error code DurableQueue raises, and damaged files: a flipped data byte, index
 * files cut at every kind of offset, foreign and corrupt headers. Nothing may crash.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, cpSync, openSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { File, Lock } from "../../ffi/index.ts";
import { DurableQueue, verifyQueue } from "../../src/queue/index.ts";
import { flipByte, tempDir } from "../helpers/index.ts";

const code = (c: string) => expect.objectContaining({ code: c });


/** Where item `pos` of the first segment starts in its data file (read from the index). */
function dataOffset(dir: string, pos: number, base = 0): number {
  const idx = readFileSync(join(dir, `queue-${String(base).padStart(16, "0")}.idx`));
  return new DataView(idx.buffer, idx.byteOffset, idx.byteLength).getUint32(128 + pos * 16, true);
}

const snapshot = (dir: string) => readdirSync(dir).sort().map((n) => [n, Bun.hash(readFileSync(join(dir, n)))]);

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
    const before = snapshot(dir.path);
    expect(() => DurableQueue.open(dir.path, { segmentBytes: 8192 })).toThrow(code("ERR_MISMATCH"));
    expect(() => DurableQueue.open(dir.path, { maxBytes: 999 })).toThrow(code("ERR_MISMATCH"));
    expect(() => DurableQueue.open(dir.path, { segmentItems: 3 })).toThrow(code("ERR_MISMATCH"));
    expect(snapshot(dir.path)).toEqual(before);
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
    const before = snapshot(dir.path);
    expect(() => DurableQueue.open(dir.path)).toThrow(code("ERR_CORRUPT"));
    expect(() => DurableQueue.open(dir.path, { readonly: true })).toThrow(code("ERR_CORRUPT"));
    expect(snapshot(dir.path)).toEqual(before);
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

  test("an index file cut at any offset: never a crash; read-only sees the entries before the cut, a writable reopen rebuilds the rest", () => {
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
    for (const cut of offsets) {
      for (const readonly of [true, false]) {
        rmSync(dir.path, { recursive: true, force: true });
        cpSync(pristine.path, dir.path, { recursive: true });
        truncateSync(join(dir.path, "queue-0000000000000000.idx"), cut);
        // A read-only handle maps what is there: whole entries only. A writable open grows
        // the file back and rebuilds the lost entries from the data file's records.
        const whole = readonly ? Math.max(0, Math.min(items.length, Math.floor((cut - entryStart) / 16))) : items.length;
        let q: DurableQueue;
        try {
          q = DurableQueue.open(dir.path, { readonly });
        } catch (e) {
          // Only a cut into the header itself may refuse to open, and with a clear error.
          expect(cut).toBeLessThan(64);
          expect(e).toMatchObject({ code: "ERR_CORRUPT" });
          continue;
        }
        try {
          const text = (i: number) => {
            const v = q.get(i);
            return v === undefined ? undefined : new TextDecoder().decode(v);
          };
          for (let i = 0; i < whole; i++) expect(text(i)).toBe(items[i]);
          for (let i = whole; i < items.length; i++) expect(text(i)).toBeUndefined();
          if (!readonly) {
            expect(q.length).toBe(whole);
            // The next append follows the last valid entry.
            expect(q.append("after the cut")).toBe(Math.max(whole, q.next - 1));
            expect(text(q.next - 1)).toBe("after the cut");
          }
        } finally {
          q.close();
        }
      }
    }
  });

  test("index entries lost in a crash are rebuilt from the data records; stale records of a dead batch are not", () => {
    using dir = tempDir();
    const idx = join(dir.path, "queue-0000000000000000.idx");
    const zeroEntries = (from: number, to: number) => {
      const fd = openSync(idx, "r+");
      writeSync(fd, new Uint8Array(16 * (to - from)), 0, 16 * (to - from), 128 + 16 * from);
      closeSync(fd);
    };
    const items = Array.from({ length: 10 }, (_, i) => `record ${i}`); // 8 bytes each
    {
      using q = DurableQueue.open(dir.path, { sync: "batch", segmentBytes: 4096 });
      q.appendMany(items);
    }
    zeroEntries(5, 10); // the index pages never reached the disk
    {
      using q = DurableQueue.open(dir.path, { sync: "batch" });
      expect([q.length, q.next]).toEqual([10, 10]);
      expect(items.map((_, i) => new TextDecoder().decode(q.get(i)))).toEqual(items);
    }
    // Now a batch dies with record 8 torn and entries 8, 9 lost ...
    flipByte(join(dir.path, "queue-0000000000000000.dat"), dataOffset(dir.path, 8));
    zeroEntries(8, 10);
    {
      using q = DurableQueue.open(dir.path, { sync: "batch" });
      expect(q.next).toBe(8);
      // ... and the next writer appends an item of the same size where record 8 was, so
      // the dead batch's record 9 sits right after it.
      expect(q.append("RECORD 8")).toBe(8);
    }
    zeroEntries(8, 9); // lose the new entry too: the walk must rebuild 8 and stop there
    using q = DurableQueue.open(dir.path);
    expect(new TextDecoder().decode(q.get(8))).toBe("RECORD 8");
    expect(q.get(9)).toBeUndefined();
    expect(q.next).toBe(9);
  });

  test("a data file cut short: the torn tail is dropped on a writable reopen", () => {
    using dir = tempDir();
    {
      using q = DurableQueue.open(dir.path, { segmentBytes: 4096 });
      q.appendMany(Array.from({ length: 10 }, (_, i) => `item ${i}!!`)); // 8 bytes each
    }
    truncateSync(join(dir.path, "queue-0000000000000000.dat"), 64 + (20 + 8) * 7 + 3); // records: 20-byte header + 8 bytes
    using ro = DurableQueue.open(dir.path, { readonly: true });
    expect(() => ro.get(9)).toThrow(code("ERR_CORRUPT"));
    using q = DurableQueue.open(dir.path);
    expect([q.length, q.next]).toEqual([7, 7]);
    expect(new TextDecoder().decode(q.get(6))).toBe("item 6!!");
    expect(q.append("new")).toBe(7);
  });
});
