/**
 * DurableQueue behaviour: go-durostore's own cases (with its bugs fixed), named readers,
 * inspect/verify, and durability settings.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import CRC32 from "crc-32";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import { DurableQueue, describeQueue, verifyQueue } from "../../src/queue/index.ts";
import { flipByte, tempDir, until } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : new TextDecoder().decode(bytes));
/** Where item `pos` of the first segment starts in its data file (read from the index). */
function dataOffset(dir: string, pos: number, base = 0): number {
  const idx = readFileSync(join(dir, `queue-${String(base).padStart(16, "0")}.idx`));
  return new DataView(idx.buffer, idx.byteOffset, idx.byteLength).getUint32(128 + pos * 16, true);
}
const segmentFiles = (dir: string) => readdirSync(dir).filter((n) => n.endsWith(".idx") || n.endsWith(".dat")).sort();

describe("durostore's cases, fixed", () => {
  test("write then read index 0", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path);
    expect(q.append("hello")).toBe(0);
    expect(text(q.get(0))).toBe("hello");
    expect(q.get(1)).toBeUndefined();
    expect([q.first, q.next, q.length, q.bytes]).toEqual([0, 1, 1, 5]);
  });

  test("appendMany([a, b, c]) returns the first index and stores all three", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path);
    q.append("zero");
    expect(q.appendMany(["a", "b", new Uint8Array([99])])).toBe(1);
    expect([1, 2, 3].map((i) => text(q.get(i)))).toEqual(["a", "b", "c"]);
    expect(q.appendMany([])).toBe(4);
    expect(q.length).toBe(4);
  });

  test("FIFO order holds across reopen", () => {
    using dir = tempDir();
    {
      using q = DurableQueue.open(dir.path, { segmentBytes: 256 });
      for (let i = 0; i < 30; i++) q.append(`item ${i}`);
      expect(text(q.shift())).toBe("item 0");
    }
    using q = DurableQueue.open(dir.path);
    const out: string[] = [];
    for (let item = q.shift(); item; item = q.shift()) out.push(text(item)!);
    expect(out).toEqual(Array.from({ length: 29 }, (_, i) => `item ${i + 1}`));
  });

  test("the next index after reopen is max + 1, also after everything was consumed", () => {
    using dir = tempDir();
    {
      using q = DurableQueue.open(dir.path);
      q.appendMany(["a", "b", "c", "d", "e"]);
    }
    {
      using q = DurableQueue.open(dir.path);
      expect(q.next).toBe(5);
      expect(q.append("f")).toBe(5);
      while (q.shift());
      expect(segmentFiles(dir.path)).toEqual([]);
    }
    using q = DurableQueue.open(dir.path);
    expect([q.first, q.next, q.length]).toEqual([6, 6, 0]);
    expect(q.append("g")).toBe(6);
    expect(q.get(5)).toBeUndefined();
  });

  test("a delete survives reopen, also in a rolled-over segment", () => {
    using dir = tempDir();
    {
      using q = DurableQueue.open(dir.path, { segmentBytes: 256 });
      for (let i = 0; i < 40; i++) q.append(`item ${String(i).padStart(2, "0")} ${"x".repeat(20)}`);
      expect(segmentFiles(dir.path).length).toBeGreaterThan(4);
      expect(q.delete(1)).toBe(1);
      expect(q.delete([33, 34, 34, 99])).toBe(2);
    }
    using q = DurableQueue.open(dir.path);
    expect(q.get(1)).toBeUndefined();
    expect(q.get(33)).toBeUndefined();
    expect(q.get(34)).toBeUndefined();
    expect(text(q.get(35))?.startsWith("item 35")).toBe(true);
    expect(q.length).toBe(37);
    expect(q.delete(33)).toBe(0);
  });

  test("consumed segments are removed from disk at once, while the queue is not empty", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path, { segmentBytes: 256 });
    for (let i = 0; i < 40; i++) q.append("y".repeat(40));
    const before = segmentFiles(dir.path);
    const firstSegment = before[0]!;
    expect(firstSegment).toBe("queue-0000000000000000.dat");
    // 40-byte items in 60-byte records, 192 data bytes per segment: 3 items in each.
    for (let i = 0; i < 3; i++) q.shift();
    expect(segmentFiles(dir.path)).not.toContain(firstSegment);
    expect(segmentFiles(dir.path).length).toBe(before.length - 2);
    // Deleting every item of a middle segment removes it too.
    expect(q.delete([6, 7, 8])).toBe(3);
    expect(segmentFiles(dir.path)).not.toContain("queue-0000000000000006.idx");
    q.truncate(20);
    expect(segmentFiles(dir.path)[0]).toBe("queue-0000000000000018.dat"); // holds 18..20; 20 is live
    expect(q.length).toBe(20);
  });

  test("maxBytes: ERR_FULL with nothing written", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path, { maxBytes: 100, segmentBytes: 4096 });
    q.append(new Uint8Array(60));
    const files = () => readdirSync(dir.path).sort().map((n) => [n, Bun.hash(readFileSync(join(dir.path, n)))]);
    const snapshot = files();
    expect(() => q.append(new Uint8Array(41))).toThrow(expect.objectContaining({ code: "ERR_FULL" }));
    expect(() => q.appendMany([new Uint8Array(20), new Uint8Array(21)])).toThrow(expect.objectContaining({ code: "ERR_FULL" }));
    expect(files()).toEqual(snapshot);
    expect([q.next, q.length, q.bytes]).toEqual([1, 1, 60]);
    expect(q.append(new Uint8Array(40))).toBe(1);
    q.shift();
    expect(q.append(new Uint8Array(60))).toBe(2);
  });
});

describe("items", () => {
  test("stored CRC is the standard CRC-32 of the item (checked with the crc-32 package)", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path);
    const item = new TextEncoder().encode("123456789");
    q.append(item);
    const idx = readFileSync(join(dir.path, "queue-0000000000000000.idx"));
    const view = new DataView(idx.buffer, idx.byteOffset, idx.byteLength);
    expect(view.getUint32(128 + 8, true)).toBe(CRC32.buf(item) >>> 0);
    expect(view.getUint32(128 + 4, true)).toBe(9);
  });

  test("empty items and items that exactly fill a segment", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path, { segmentBytes: 256 });
    expect(q.append(new Uint8Array(0))).toBe(0);
    expect(q.get(0)).toEqual(new Uint8Array(0));
    const big = new Uint8Array(256 - 64 - 20).fill(7);
    expect(q.append(big)).toBe(1);
    expect(q.get(1)).toEqual(big);
    expect(q.length).toBe(2);
  });

  test("get returns a copy", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path);
    q.append("abc");
    const a = q.get(0)!;
    a[0] = 0;
    expect(text(q.get(0))).toBe("abc");
  });

  test("several queues share a directory by prefix", () => {
    using dir = tempDir();
    using a = DurableQueue.open(dir.path, { prefix: "a" });
    using b = DurableQueue.open(dir.path, { prefix: "b" });
    a.append("from a");
    b.appendMany(["b0", "b1"]);
    expect([a.length, b.length]).toEqual([1, 2]);
    expect(text(b.get(0))).toBe("b0");
  });

  test("a read-only handle sees another handle's appends and deletes live", () => {
    using dir = tempDir();
    using w = DurableQueue.open(dir.path, { segmentBytes: 256 });
    using r = DurableQueue.open(dir.path, { readonly: true });
    expect(r.length).toBe(0);
    for (let i = 0; i < 20; i++) w.append(`live ${i} ${"z".repeat(30)}`);
    expect(r.length).toBe(20);
    expect(text(r.get(19))?.startsWith("live 19")).toBe(true);
    w.shift();
    w.delete(5);
    expect([r.first, r.length, r.get(0), r.get(5)]).toEqual([1, 18, undefined, undefined]);
    expect(text(r.peek())?.startsWith("live 1 ")).toBe(true);
  });

  test("two writable handles in one process take turns", () => {
    using dir = tempDir();
    using a = DurableQueue.open(dir.path, { segmentBytes: 256 });
    using b = DurableQueue.open(dir.path);
    for (let i = 0; i < 30; i++) {
      expect((i % 2 === 0 ? a : b).append(`n${i}`)).toBe(i);
    }
    expect(text(b.shift())).toBe("n0");
    expect(text(a.shift())).toBe("n1");
    expect(a.length).toBe(28);
  });

  test("sync modes all store the same items, and sync() flushes", () => {
    for (const sync of ["none", "batch", "always"] as const) {
      using dir = tempDir();
      {
        using q = DurableQueue.open(dir.path, { sync, segmentBytes: 512 });
        q.appendMany(Array.from({ length: 50 }, (_, i) => `${sync} ${i}`));
        q.append("last");
        q.delete(3);
        q.shift();
        q.sync();
      }
      using q = DurableQueue.open(dir.path, { sync });
      expect(q.length).toBe(49);
      expect(text(q.get(49))).toBe(`${sync} 49`);
      expect(text(q.get(50))).toBe("last");
    }
  });

  test("a lock holder that died mid-call leaves the dirty word; the next holder rebuilds the shared state", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path, { segmentBytes: 512 });
    q.appendMany(Array.from({ length: 30 }, (_, i) => `n${i}`));
    q.delete([3, 4]);
    q.shift();
    // What a process killed inside a mutation leaves behind: the dirty word set and the
    // shared counters half updated.
    const fd = openSync(join(dir.path, "queue.qdir"), "r+");
    const words = new DataView(new ArrayBuffer(48));
    readSync(fd, new Uint8Array(words.buffer), 0, 48, 192);
    words.setInt32(4, 1, true); // dirty
    words.setFloat64(16, 999, true); // first
    words.setFloat64(32, 12345, true); // length
    writeSync(fd, new Uint8Array(words.buffer), 0, 48, 192);
    closeSync(fd);
    expect(q.length).toBe(12345);
    expect(q.append("after")).toBe(30);
    expect([q.first, q.length, q.next]).toEqual([1, 28, 31]);
    expect(q.stats().recoveries).toBe(2);
  });

  test("stats() is a flat object of numbers", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path);
    q.appendMany(["a", "b"]);
    q.get(0);
    q.shift();
    const stats = q.stats();
    for (const v of Object.values(stats)) expect(typeof v).toBe("number");
    expect(stats).toMatchObject({ length: 1, bytes: 1, first: 1, next: 2, appends: 2, shifts: 1 });
  });
});

describe("named readers", () => {
  test("read in order without consuming; commit makes the position durable", () => {
    using dir = tempDir();
    {
      using q = DurableQueue.open(dir.path, { segmentBytes: 256 });
      q.appendMany(Array.from({ length: 20 }, (_, i) => `r${i}`));
      const r = q.reader("indexer");
      expect(r.position).toBe(0);
      for (let i = 0; i < 5; i++) expect(r.next()).toEqual({ index: i, data: new TextEncoder().encode(`r${i}`) });
      r.commit();
      r.next();
      r.next();
      expect(r.position).toBe(7);
      expect(q.length).toBe(20);
    }
    using q = DurableQueue.open(dir.path);
    const r = q.reader("indexer");
    expect(r.position).toBe(5); // the uncommitted reads were not kept
    expect(r.next()?.index).toBe(5);
  });

  test("two readers are independent; deleted and truncated items are skipped", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path);
    q.appendMany(["a", "b", "c", "d", "e"]);
    const one = q.reader("one");
    const two = q.reader("two");
    expect(one.next()?.index).toBe(0);
    expect(one.next()?.index).toBe(1);
    q.delete(2);
    expect(one.next()?.index).toBe(3);
    expect(two.next()?.index).toBe(0);
    q.truncate(4);
    expect(two.next()?.index).toBe(4);
    expect(two.next()).toBeUndefined();
    expect(one.next()?.index).toBe(4);
    two.seek(0);
    expect(two.next()?.index).toBe(4);
  });

  test("a new reader starts at the oldest live item", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path);
    q.appendMany(["a", "b", "c"]);
    q.shift();
    expect(q.reader("late").position).toBe(1);
  });

  test("follow() yields items as they arrive; an abort ends it with the signal's reason (as a ring's follow does)", async () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path);
    q.append("before");
    const r = q.reader("follower");
    const controller = new AbortController();
    const got: string[] = [];
    const timer = setInterval(() => {
      if (q.next < 6) q.append(`later ${q.next}`);
    }, 5);
    let thrown: unknown;
    try {
      for await (const item of r.follow({ signal: controller.signal })) {
        got.push(text(item.data)!);
        if (got.length === 6) controller.abort();
      }
    } catch (e) {
      thrown = e;
    } finally {
      clearInterval(timer);
    }
    expect(got).toEqual(["before", "later 1", "later 2", "later 3", "later 4", "later 5"]);
    expect((thrown as Error)?.name).toBe("AbortError");
  });

  test("follow(from) without a named reader: from an index, as items arrive; ends when the queue closes", async () => {
    using dir = tempDir();
    const q = DurableQueue.open(dir.path);
    q.appendMany(["a", "b", "c"]);
    const got: number[] = [];
    const loop = (async () => {
      for await (const item of q.follow(1)) got.push(item.index);
    })();
    await Bun.sleep(20);
    q.append("d");
    await until(() => got.length === 3, "the follower saw d");
    q.close();
    await loop; // ends, does not throw
    expect(got).toEqual([1, 2, 3]);
    expect(() => DurableQueue.open(dir.path).follow(-1)).toThrow("from must be an integer >= 0");
  });

  test("follow() on a read-only handle wakes up for another handle's append", async () => {
    using dir = tempDir();
    using w = DurableQueue.open(dir.path);
    using ro = DurableQueue.open(dir.path, { readonly: true });
    setTimeout(() => w.append("wake"), 50);
    const seen: number[] = [];
    for await (const item of ro.reader("ro").follow({ pollMs: 60_000 })) {
      seen.push(item.index);
      break;
    }
    expect(seen).toEqual([0]);
  });

  test("closing the queue ends a follow loop", async () => {
    using dir = tempDir();
    const q = DurableQueue.open(dir.path);
    const loop = (async () => {
      let n = 0;
      for await (const _ of q.reader("x").follow()) n++;
      return n;
    })();
    await Bun.sleep(20);
    q.close();
    expect(await loop).toBe(0);
  });
});

describe("inspect", () => {
  test("describeQueue reports options and counts; verifyQueue scans every live item", () => {
    using dir = tempDir();
    {
      using q = DurableQueue.open(dir.path, { segmentBytes: 1024, maxBytes: 1 << 20 });
      q.appendMany(Array.from({ length: 50 }, (_, i) => `item ${i}`));
      q.delete(7);
      q.reader("r").commit();
    }
    const described = describeQueue(dir.path);
    expect(described.kind).toBe("QDIR");
    expect(described.version).toBe(1);
    expect(described.options).toMatchObject({ prefix: "queue", segmentBytes: 1024, maxBytes: 1 << 20 });
    expect(described.counts).toMatchObject({ length: 49, first: 0, next: 50, readers: 1 });
    expect(describeQueue(join(dir.path, "queue.qdir")).counts.length).toBe(49);
    const progress: number[] = [];
    expect(verifyQueue(dir.path, (done) => progress.push(done))).toEqual({ checked: 49, bad: [] });
    expect(progress.length).toBeGreaterThan(0);
  });

  test("verifyQueue lists a corrupt item instead of throwing", () => {
    using dir = tempDir();
    {
      using q = DurableQueue.open(dir.path);
      q.appendMany(["aaaa", "bbbb", "cccc"]);
    }
    flipByte(join(dir.path, "queue-0000000000000000.dat"), dataOffset(dir.path, 1) + 1); // inside item 1
    const result = verifyQueue(dir.path);
    expect(result.checked).toBe(3);
    expect(result.bad.map((b) => b.id)).toEqual([1]);
    expect(result.bad[0]!.reason).toContain("checksum");
  });

  test("describeQueue on a directory without a queue throws ERR_FORMAT", () => {
    using dir = tempDir();
    expect(() => describeQueue(dir.path)).toThrow(expect.objectContaining({ code: "ERR_FORMAT" }));
    expect(existsSync(join(dir.path, "queue.qdir"))).toBe(false);
  });
});
