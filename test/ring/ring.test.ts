/**
 * RingBuffer behaviour: ids, wrap-around and laps, far ids, sharding, reopen, the on-disk
 * slot format checked against an independent CRC, read-only handles, prefetch, stats,
 * lifecycle.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { heapStats } from "bun:jsc";
import CRC32 from "crc-32";
import { RingBuffer } from "../../src/ring/index.ts";
import { tempDir } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const ioModes = ["mmap", "pread"] as const;

describe("RingBuffer", () => {
  for (const io of ioModes) {
    describe(`io: ${io}`, () => {
      test("ids start at 0 and records round-trip", () => {
        using dir = tempDir();
        using ring = RingBuffer.open(dir.file("r"), { recordSize: 16, capacity: 8, io });
        expect([ring.first, ring.next, ring.size]).toEqual([0, 0, 0]);
        expect(ring.append("a")).toBe(0);
        expect(ring.append(new Uint8Array([1, 2, 3]))).toBe(1);
        expect(ring.append("")).toBe(2);
        expect(text(ring.get(0))).toBe("a");
        expect(Array.from(ring.get(1)!)).toEqual([1, 2, 3]);
        expect(ring.get(2)!.length).toBe(0);
        expect(ring.get(3)).toBeUndefined();
        expect(ring.append("x".repeat(16))).toBe(3);
        expect(text(ring.get(3))).toBe("x".repeat(16));
        expect([ring.first, ring.next, ring.size]).toEqual([0, 4, 4]);
      });

      test("wrap-around: laps keep the newest capacity records", () => {
        using dir = tempDir();
        using ring = RingBuffer.open(dir.file("r"), { recordSize: 8, capacity: 5, io });
        for (let i = 0; i < 23; i++) ring.append(`r${i}`);
        expect([ring.first, ring.next, ring.size]).toEqual([18, 23, 5]);
        for (let i = 0; i < 18; i++) expect(ring.get(i)).toBeUndefined();
        for (let i = 18; i < 23; i++) expect(text(ring.get(i))).toBe(`r${i}`);
        expect([...ring.range()].map((r) => r.id)).toEqual([18, 19, 20, 21, 22]);
        expect([...ring.range(0, 20)].map((r) => text(r.data))).toEqual(["r18", "r19"]);
        expect([...ring.range(21)].map((r) => r.id)).toEqual([21, 22]);
      });

      test("first/next after laps survive reopen", () => {
        using dir = tempDir();
        const path = dir.file("r");
        {
          using ring = RingBuffer.open(path, { recordSize: 8, capacity: 3, io });
          for (let i = 0; i < 10; i++) ring.append(`v${i}`);
        }
        using ring = RingBuffer.open(path, { io });
        expect([ring.first, ring.next]).toEqual([7, 10]);
        expect(ring.append("v10")).toBe(10);
        expect([...ring.range()].map((r) => text(r.data))).toEqual(["v8", "v9", "v10"]);
      });

      test("ids far beyond capacity, and past 2^32", () => {
        using dir = tempDir();
        const path = dir.file("r");
        {
          using ring = RingBuffer.open(path, { recordSize: 8, capacity: 4, io });
          ring.append("zero");
          ring.write(1_000_003, "far");
          expect([ring.first, ring.next]).toEqual([1_000_000, 1_000_004]);
          expect(ring.get(0)).toBeUndefined();
          expect(ring.get(1_000_001)).toBeUndefined();
          expect(text(ring.get(1_000_003))).toBe("far");
          const big = 2 ** 32 + 5;
          ring.write(big, "big");
          expect(ring.append("after")).toBe(big + 1);
          const huge = 2 ** 52 + 3;
          ring.write(huge, "huge");
          expect(ring.next).toBe(huge + 1);
        }
        using ring = RingBuffer.open(path, { io });
        using reader = RingBuffer.open(path, { readonly: true, io });
        const huge = 2 ** 52 + 3;
        expect(ring.next).toBe(huge + 1);
        expect(reader.next).toBe(huge + 1);
        expect(text(reader.get(huge))).toBe("huge");
        expect(reader.get(2 ** 32 + 5)).toBeUndefined();
      });

      test("write(id) replaces a record in the window and jumps ahead", () => {
        using dir = tempDir();
        using ring = RingBuffer.open(dir.file("r"), { recordSize: 8, capacity: 4, io });
        ring.appendMany(["a", "b", "c"]);
        ring.write(1, "B");
        expect(text(ring.get(1))).toBe("B");
        expect(ring.next).toBe(3);
        ring.write(5, "f");
        expect([ring.first, ring.next]).toEqual([2, 6]);
        expect(text(ring.get(2))).toBe("c");
        expect(ring.get(3)).toBeUndefined();
        expect(ring.get(4)).toBeUndefined();
        expect([...ring.range()].map((r) => r.id)).toEqual([2, 5]);
      });

      test("delete: absent afterwards, survives reopen, false when not there", () => {
        using dir = tempDir();
        const path = dir.file("r");
        {
          using ring = RingBuffer.open(path, { recordSize: 8, capacity: 4, io });
          ring.appendMany(["a", "b", "c"]);
          expect(ring.delete(1)).toBe(true);
          expect(ring.delete(1)).toBe(false);
          expect(ring.delete(7)).toBe(false);
          expect(ring.get(1)).toBeUndefined();
        }
        using ring = RingBuffer.open(path, { io });
        expect(ring.get(1)).toBeUndefined();
        expect([...ring.range()].map((r) => text(r.data))).toEqual(["a", "c"]);
        ring.write(1, "again");
        expect(text(ring.get(1))).toBe("again");
      });

      test("appendMany returns the first id; a batch larger than the ring keeps its tail", () => {
        using dir = tempDir();
        using ring = RingBuffer.open(dir.file("r"), { recordSize: 8, capacity: 3, io });
        expect(ring.appendMany([])).toBe(0);
        expect(ring.appendMany(["a", "b"])).toBe(0);
        expect(ring.appendMany(new Set(["c", "d", "e", "f", "g"]))).toBe(2);
        expect([ring.first, ring.next]).toEqual([4, 7]);
        expect([...ring.range()].map((r) => text(r.data))).toEqual(["e", "f", "g"]);
      });

      test("getInto copies into the target and returns the length or -1", () => {
        using dir = tempDir();
        using ring = RingBuffer.open(dir.file("r"), { recordSize: 32, capacity: 4, io });
        ring.append("hello");
        const target = new Uint8Array(32).fill(0xee);
        expect(ring.getInto(0, target)).toBe(5);
        expect(text(target.subarray(0, 5))).toBe("hello");
        expect(target[5]).toBe(0xee);
        expect(ring.getInto(1, target)).toBe(-1);
        const exact = new Uint8Array(5);
        expect(ring.getInto(0, exact)).toBe(5);
        // Unaligned targets, odd lengths, a record above the word-copy size.
        const backing = new Uint8Array(400);
        const unaligned = backing.subarray(3, 3 + 300);
        const long = new Uint8Array(300).map((_, i) => (i * 7 + 1) & 255);
        using big = RingBuffer.open(dir.file("big"), { recordSize: 300, capacity: 4, io });
        big.appendMany([long.subarray(0, 13), long, long.subarray(0, 256), long.subarray(0, 257)]);
        for (const [id, n] of [[0, 13], [1, 300], [2, 256], [3, 257]] as const) {
          for (const t of [unaligned, new Uint8Array(300)]) {
            t.fill(0);
            expect(big.getInto(id, t)).toBe(n);
            expect(Array.from(t.subarray(0, n))).toEqual(Array.from(long.subarray(0, n)));
            expect(t[n] ?? 0).toBe(0);
          }
        }
      });

      test("a read-only handle sees appends live and reads the same records", () => {
        using dir = tempDir();
        const path = dir.file("r");
        using ring = RingBuffer.open(path, { recordSize: 64, capacity: 16, io });
        using reader = RingBuffer.open(path, { readonly: true, io: io === "mmap" ? "pread" : "mmap" });
        expect(reader.next).toBe(0);
        for (let i = 0; i < 40; i++) {
          ring.append(`rec-${i}`);
          expect(reader.next).toBe(i + 1);
          expect(text(reader.get(i))).toBe(`rec-${i}`);
        }
        expect(reader.first).toBe(24);
        expect(reader.get(23)).toBeUndefined();
        ring.delete(30);
        expect(reader.get(30)).toBeUndefined();
        expect([...reader.range()].length).toBe(15);
      });

      test("sync: always and explicit sync() keep working and count", () => {
        using dir = tempDir();
        using ring = RingBuffer.open(dir.file("r"), { recordSize: 8, capacity: 4, io, sync: "always" });
        ring.append("a");
        ring.appendMany(["b", "c"]);
        ring.write(3, "d");
        ring.delete(0);
        ring.sync();
        expect(ring.stats().syncs).toBe(1);
        expect([...ring.range()].map((r) => text(r.data))).toEqual(["b", "c", "d"]);
      });

      test("prefetch on sequential reads is bounded and stops with close", async () => {
        using dir = tempDir();
        const ring = RingBuffer.open(dir.file("r"), { recordSize: 64, capacity: 1000, io, prefetch: 32 });
        for (let i = 0; i < 1000; i++) ring.append(`p${i}`);
        for (let i = 0; i < 320; i++) expect(text(ring.get(i))).toBe(`p${i}`);
        const issued = ring.stats().prefetches;
        // One read-ahead per half window of sequential reads: bounded, not one per read.
        expect(issued).toBeGreaterThanOrEqual(10);
        expect(issued).toBeLessThanOrEqual(21);
        for (let i = 0; i < 50; i++) ring.get((i * 37) % 1000); // random reads: no read-ahead
        expect(ring.stats().prefetches).toBeLessThanOrEqual(issued + 2);
        ring.get(500);
        ring.get(501); // schedules one (pread: deferred) read-ahead
        ring.close(); // cancels it; nothing runs on the closed handle
        await Bun.sleep(5);
        expect(() => ring.stats()).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
      });
    });
  }

  test("the slot format: id, length and CRC-32 (checked with the crc-32 package)", () => {
    using dir = tempDir();
    const path = dir.file("r");
    {
      using ring = RingBuffer.open(path, { recordSize: 20, capacity: 4 });
      ring.append("first");
      ring.write(2 ** 33 + 1, "second"); // slot 1
    }
    const file = readFileSync(path);
    expect(file.subarray(0, 8).toString("latin1")).toBe("OFFHEAP\0");
    expect(file.subarray(8, 12).toString("latin1")).toBe("RING");
    const slotBytes = Math.ceil((16 + 20) / 8) * 8;
    expect(file.length).toBe(4096 + 4 * slotBytes);
    const check = (slot: number, id: number, payload: string, meta = (0x8000_0000 | payload.length) >>> 0) => {
      const at = 4096 + slot * slotBytes;
      const view = new DataView(file.buffer, file.byteOffset + at, 16);
      expect(view.getUint32(0, true) >>> 0).toBe(meta);
      expect(view.getUint32(4, true) + view.getUint32(8, true) * 2 ** 32).toBe(id);
      const body = file.subarray(at + 16, at + 16 + payload.length);
      expect(body.toString()).toBe(payload);
      const expected = CRC32.buf(body, CRC32.buf(file.subarray(at, at + 12))) >>> 0;
      expect(view.getUint32(12, true)).toBe(expected);
    };
    check(1, 2 ** 33 + 1, "second");
    // The jump skipped ids 2^33 - 2 .. 2^33, still in the window: their slots (0, 2 and 3,
    // where "first" was) hold a deleted marker (0x4000_0000) with the skipped id.
    check(0, 2 ** 33, "", 0x4000_0000);
    check(2, 2 ** 33 - 2, "", 0x4000_0000);
    check(3, 2 ** 33 - 1, "", 0x4000_0000);
    // The head is published in shard 0's header page as 32-bit words.
    const head = new DataView(file.buffer, file.byteOffset + 128, 8);
    expect(head.getUint32(0, true) + (head.getUint32(4, true) / 2) * 2 ** 32).toBe(2 ** 33 + 2);
  });

  test("shards: path, path.1, … each with its own header; reopen reads the count", () => {
    using dir = tempDir();
    const path = dir.file("s.ring");
    {
      using ring = RingBuffer.open(path, { recordSize: 100, capacity: 10, shards: 3 });
      for (let i = 0; i < 25; i++) ring.append(`s${i}`);
      expect(ring.shards).toBe(3);
    }
    for (const p of [path, `${path}.1`, `${path}.2`]) {
      expect(existsSync(p)).toBe(true);
      expect(readFileSync(p).subarray(8, 12).toString("latin1")).toBe("RING");
    }
    expect(existsSync(`${path}.3`)).toBe(false);
    // 10 slots over 3 shards: 4 + 4 + 2, each after a 4096-byte header page.
    expect([path, `${path}.1`, `${path}.2`].map((p) => statSync(p).size)).toEqual([4096 + 4 * 120, 4096 + 4 * 120, 4096 + 2 * 120]);
    using ring = RingBuffer.open(path, { io: "pread" });
    expect(ring.shards).toBe(3);
    expect([...ring.range()].map((r) => text(r.data))).toEqual(Array.from({ length: 10 }, (_, i) => `s${i + 15}`));
  });

  test("default shard count keeps shards at or under 1 GiB", () => {
    using dir = tempDir();
    // 9 M slots of 136 bytes = 1.2 GiB: two sparse shard files.
    using ring = RingBuffer.open(dir.file("big"), { recordSize: 120, capacity: 9_000_000 });
    expect(ring.shards).toBe(2);
    for (const p of [dir.file("big"), dir.file("big.1")]) expect(statSync(p).size).toBeLessThanOrEqual(2 ** 30);
    ring.write(8_999_999, "last");
    expect(text(ring.get(8_999_999))).toBe("last");
  });

  for (const io of ioModes) test(`${io} getInto allocates no Uint8Array per call`, () => {
    using dir = tempDir();
    using ring = RingBuffer.open(dir.file("r"), { recordSize: 128, capacity: 64, io });
    for (let i = 0; i < 64; i++) ring.append(new Uint8Array(i).fill(i));
    const target = new Uint8Array(128);
    for (let i = 0; i < 1000; i++) ring.getInto(i & 63, target); // warm the per-length views
    Bun.gc(true);
    const before = heapStats().objectTypeCounts.Uint8Array ?? 0;
    let total = 0;
    for (let i = 0; i < 10_000; i++) total += ring.getInto(i & 63, target);
    const after = heapStats().objectTypeCounts.Uint8Array ?? 0;
    expect(total).toBe(Array.from({ length: 10_000 }, (_, i) => i & 63).reduce((a, b) => a + b, 0));
    expect(after - before).toBeLessThan(10);
  });

  test("stats() is a flat object of numbers", () => {
    using dir = tempDir();
    using ring = RingBuffer.open(dir.file("r"), { recordSize: 8, capacity: 2 });
    ring.append("a");
    ring.get(0);
    ring.get(5);
    const stats = ring.stats();
    for (const v of Object.values(stats)) expect(typeof v).toBe("number");
    expect(stats).toMatchObject({ appends: 1, gets: 2, hits: 1, misses: 1, next: 1, first: 0, capacity: 2, recordSize: 8 });
  });

  test("close is idempotent, releases the lock, and later calls throw ERR_CLOSED", () => {
    using dir = tempDir();
    const path = dir.file("r");
    const ring = RingBuffer.open(path, { recordSize: 8, capacity: 2 });
    ring.append("a");
    ring.close();
    ring.close();
    using again = RingBuffer.open(path);
    expect(text(again.get(0))).toBe("a");
  });

  test("a read-only handle works in a Worker and sees appends live", async () => {
    using dir = tempDir();
    const path = dir.file("w.ring");
    using ring = RingBuffer.open(path, { recordSize: 32, capacity: 64 });
    const source = `
      import { RingBuffer } from ${JSON.stringify(`${import.meta.dir}/../../src/ring/index.ts`)};
      const ring = RingBuffer.open(${JSON.stringify(path)}, { readonly: true });
      const seen = [];
      for await (const r of ring.follow(0)) {
        seen.push(new TextDecoder().decode(r.data));
        if (seen.length === 20) break;
      }
      ring.close();
      postMessage(seen);
    `;
    const url = URL.createObjectURL(new Blob([source], { type: "application/typescript" }));
    const worker = new Worker(url);
    const result = new Promise<string[]>((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data as string[]);
      worker.onerror = (e) => reject(new Error(e.message));
    });
    for (let i = 0; i < 20; i++) {
      ring.append(`w${i}`);
      if (i % 5 === 0) await Bun.sleep(5);
    }
    expect(await result).toEqual(Array.from({ length: 20 }, (_, i) => `w${i}`));
    worker.terminate();
  });
});
