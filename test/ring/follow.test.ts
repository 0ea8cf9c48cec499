/**
 * follow(): waiting and waking, abort, close, laps (throw / skip), and one writer process
 * with three follower processes checking every record's order, CRC and content.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { RingBuffer, type RingRecord } from "../../src/ring/index.ts";
import { OffheapError } from "../../src/errors.ts";
import { Child, ROOT, tempDir, writeScript } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** The next `n` records, leaving the iterator open (for-await with break would end it). */
async function take(iter: AsyncIterableIterator<RingRecord>, n: number): Promise<RingRecord[]> {
  const out: RingRecord[] = [];
  while (out.length < n) {
    const step = await iter.next();
    if (step.done) break;
    out.push(step.value);
  }
  return out;
}

describe("RingBuffer.follow", () => {
  for (const io of ["mmap", "pread"] as const) {
    test(`${io}: yields what exists, then waits for and receives new appends`, async () => {
      using dir = tempDir();
      const path = dir.file("f");
      using ring = RingBuffer.open(path, { recordSize: 16, capacity: 64, io });
      using reader = RingBuffer.open(path, { readonly: true, io });
      ring.appendMany(["a", "b"]);
      const got = take(reader.follow(), 6);
      await Bun.sleep(20);
      ring.append("c");
      await Bun.sleep(20);
      ring.appendMany(["d", "e"]);
      await Bun.sleep(5);
      ring.append("f");
      expect((await got).map((r) => [r.id, text(r.data)])).toEqual([
        [0, "a"],
        [1, "b"],
        [2, "c"],
        [3, "d"],
        [4, "e"],
        [5, "f"],
      ]);
    });
  }

  test("follow(from) starts at from; deleted and skipped ids are not yielded", async () => {
    using dir = tempDir();
    using ring = RingBuffer.open(dir.file("f"), { recordSize: 8, capacity: 16 });
    ring.appendMany(["0", "1", "2", "3"]);
    ring.delete(2);
    ring.write(6, "6");
    const got = await take(ring.follow(1), 3);
    expect(got.map((r) => r.id)).toEqual([1, 3, 6]);
  });

  test("an abort signal ends a waiting follow with the signal's reason", async () => {
    using dir = tempDir();
    using ring = RingBuffer.open(dir.file("f"), { recordSize: 8, capacity: 4 });
    const controller = new AbortController();
    const pending = take(ring.follow(0, { signal: controller.signal }), 1);
    setTimeout(() => controller.abort(new Error("stop following")), 30);
    await expect(pending).rejects.toThrow("stop following");
    expect(ring.stats().followers).toBe(0); // the generator's cleanup ran
  });

  test("close() ends a waiting follow", async () => {
    using dir = tempDir();
    const path = dir.file("f");
    using ring = RingBuffer.open(path, { recordSize: 8, capacity: 4 });
    const reader = RingBuffer.open(path, { readonly: true });
    const pending = take(reader.follow(0), 5);
    ring.append("x");
    await Bun.sleep(30);
    reader.close();
    expect((await pending).map((r) => text(r.data))).toEqual(["x"]);
  });

  test('onLap: "skip" continues from first and counts the lap in stats', async () => {
    using dir = tempDir();
    const path = dir.file("f");
    using ring = RingBuffer.open(path, { recordSize: 8, capacity: 4 });
    using reader = RingBuffer.open(path, { readonly: true });
    for (let i = 0; i < 10; i++) ring.append(`x${i}`);
    const iter = reader.follow(0, { onLap: "skip" });
    const first = await take(iter, 2);
    expect(first.map((r) => r.id)).toEqual([6, 7]);
    expect(reader.stats()).toMatchObject({ laps: 1, lapMissed: 6 });
    // Lapped again while it was not reading.
    for (let i = 10; i < 20; i++) ring.append(`x${i}`);
    const more = await take(iter, 1);
    expect(more.map((r) => r.id)).toEqual([16]);
    expect(reader.stats()).toMatchObject({ laps: 2, lapMissed: 6 + 8 });
    await iter.return?.();
  });

  test("ERR_LAPPED names how many records were missed, also after reading some", async () => {
    using dir = tempDir();
    using ring = RingBuffer.open(dir.file("f"), { recordSize: 8, capacity: 4 });
    ring.appendMany(["a", "b"]);
    const iter = ring.follow(0);
    expect((await take(iter, 2)).map((r) => r.id)).toEqual([0, 1]);
    for (let i = 0; i < 9; i++) ring.append(`y${i}`);
    // next = 11, first = 7: the follower is at 2, so it missed 5.
    const error = await iter.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OffheapError);
    expect((error as OffheapError).code).toBe("ERR_LAPPED");
    expect((error as OffheapError).missed).toBe(5);
  });
});

const READER = `
import CRC32 from "${ROOT}/node_modules/crc-32/crc32.js";
import { RingBuffer } from "${ROOT}/src/ring/index.ts";
const [path, total, io] = process.argv.slice(2);
const n = Number(total);
const ring = RingBuffer.open(path, { readonly: true, io });
console.log("ready");
let expectedId = 0, bad = 0;
try {
  for await (const r of ring.follow(0)) {
    const view = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength);
    const id = view.getUint32(0, true);
    const crc = view.getUint32(4, true) >>> 0;
    const body = r.data.subarray(8);
    const good = r.id === expectedId && id === r.id && (CRC32.buf(body) >>> 0) === crc && body.length === 8 + (r.id % 50) && body.every((b, i) => b === ((r.id + i) & 255));
    if (!good) bad++;
    expectedId = r.id + 1;
    if (r.id === n - 1) break;
  }
  console.log("done " + expectedId + " " + bad);
} catch (e) {
  console.log("error " + e.code + " " + e.missed + " at " + expectedId + " " + bad);
}
ring.close();
`;

const WRITER = `
import CRC32 from "${ROOT}/node_modules/crc-32/crc32.js";
import { RingBuffer } from "${ROOT}/src/ring/index.ts";
const [path, total, pauseEvery] = process.argv.slice(2);
const ring = RingBuffer.open(path, {});
for (let id = 0; id < Number(total); id++) {
  const body = new Uint8Array(8 + (id % 50)).map((_, i) => (id + i) & 255);
  const rec = new Uint8Array(8 + body.length);
  const view = new DataView(rec.buffer);
  view.setUint32(0, id, true);
  view.setUint32(4, CRC32.buf(body) >>> 0, true);
  rec.set(body, 8);
  if (ring.append(rec) !== id) throw new Error("id mismatch");
  if (id % Number(pauseEvery) === 0) await Bun.sleep(1);
}
console.log("wrote " + ring.next);
ring.close();
`;

describe("RingBuffer across processes", () => {
  test("one writer and three following readers: every record, in order, intact", async () => {
    using dir = tempDir();
    const path = dir.file("x.ring");
    const total = 4000;
    RingBuffer.open(path, { recordSize: 80, capacity: 8192 }).close();
    const readerScript = writeScript(dir.path, "reader.ts", READER);
    const writerScript = writeScript(dir.path, "writer.ts", WRITER);
    const readers = ["mmap", "pread", "mmap"].map((io) => new Child(readerScript, [path, String(total), io]));
    try {
      for (const r of readers) await r.waitForLine((l) => l === "ready");
      const writer = new Child(writerScript, [path, String(total), "250"]);
      writer.process.stdin.end();
      expect(await writer.waitForLine((l) => l.startsWith("wrote"), 60_000)).toBe(`wrote ${total}`);
      for (const r of readers) {
        expect(await r.waitForLine((l) => l.startsWith("done") || l.startsWith("error"), 60_000)).toBe(`done ${total} 0`);
      }
    } finally {
      for (const r of readers) await r.kill();
    }
  });

  test("readers genuinely overtaken get ERR_LAPPED; what they read before is in order and intact", async () => {
    using dir = tempDir();
    const path = dir.file("lap.ring");
    const total = 20_000;
    RingBuffer.open(path, { recordSize: 80, capacity: 16 }).close();
    const readerScript = writeScript(dir.path, "reader.ts", READER);
    const writerScript = writeScript(dir.path, "writer.ts", WRITER);
    const readers = ["mmap", "pread", "mmap"].map((io) => new Child(readerScript, [path, String(total), io]));
    try {
      for (const r of readers) await r.waitForLine((l) => l === "ready");
      const writer = new Child(writerScript, [path, String(total), "100000"]);
      writer.process.stdin.end();
      expect(await writer.waitForLine((l) => l.startsWith("wrote"), 60_000)).toBe(`wrote ${total}`);
      for (const r of readers) {
        const line = await r.waitForLine((l) => l.startsWith("done") || l.startsWith("error"), 60_000);
        // Either it kept up (possible on an idle machine), or it was lapped with missed > 0
        // and every record it did receive was the right one.
        if (line.startsWith("done")) {
          expect(line).toBe(`done ${total} 0`);
        } else {
          const [, code, missed, , at, bad] = line.split(" ");
          expect(code).toBe("ERR_LAPPED");
          expect(Number(missed)).toBeGreaterThan(0);
          expect(Number(at)).toBeLessThan(total);
          expect(bad).toBe("0");
        }
      }
    } finally {
      for (const r of readers) await r.kill();
    }
  });
});
