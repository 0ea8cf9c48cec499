/**
 * Nothing leaks: 10,000 open/close cycles per structure, and 1,000 `follow` iterators
 * dropped without `return()` (after one item, or while waiting), keep the process's open
 * descriptors (/proc/self/fd), threads (/proc/self/task) and mappings (/proc/self/maps)
 * flat. A leak per cycle would show as thousands; the slack allowed is for the runtime's
 * own threads and heap.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { DurableQueue } from "../../src/queue/index.ts";
import { RecordStore, schema, t } from "../../src/records/index.ts";
import { RingBuffer } from "../../src/ring/index.ts";
import { tempDir } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const CYCLES = 10_000;
const FOLLOWERS = 1_000;

interface Counts {
  fds: number;
  threads: number;
  maps: number;
}

function counts(): Counts {
  return {
    fds: readdirSync("/proc/self/fd").length,
    threads: readdirSync("/proc/self/task").length,
    maps: readFileSync("/proc/self/maps", "utf8").split("\n").length,
  };
}

/**
 * Wait (up to 20 s: Workers end asynchronously after terminate) until the counts are back
 * within the slack of `before`, then assert they are.
 */
async function expectFlat(before: Counts): Promise<void> {
  const within = (c: Counts) => c.fds <= before.fds + 2 && c.threads <= before.threads + 3 && c.maps <= before.maps + 64;
  let now = counts();
  for (let i = 0; i < 200 && !within(now); i++) {
    Bun.gc(true);
    await Bun.sleep(100);
    now = counts();
  }
  expect({ fds: now.fds <= before.fds + 2, threads: now.threads <= before.threads + 3, maps: now.maps <= before.maps + 64, before, now }).toMatchObject({
    fds: true,
    threads: true,
    maps: true,
  });
}

async function baseline(): Promise<Counts> {
  Bun.gc(true);
  await Bun.sleep(10);
  return counts();
}

const Row = schema({ n: t.u32, x: t.f64 }, { name: "Row", version: 1 });

describe("no leaks", () => {
  test(`ring: ${CYCLES} open/close cycles, writable and read-only, both I/O modes`, async () => {
    using dir = tempDir();
    const path = dir.file("r");
    RingBuffer.open(path, { recordSize: 32, capacity: 64, shards: 2 }).close();
    const before = await baseline();
    for (let i = 0; i < CYCLES; i++) {
      const ring = RingBuffer.open(path, { readonly: i % 2 === 1, io: i % 4 < 2 ? "mmap" : "pread" });
      if (!ring.readonly) ring.append("x");
      ring.close();
    }
    await expectFlat(before);
  }, 120_000);

  test(`queue: ${CYCLES} open/close cycles, writable and read-only, with a reader each`, async () => {
    using dir = tempDir();
    DurableQueue.open(dir.path, { segmentBytes: 4096, segmentItems: 16 }).close();
    const before = await baseline();
    for (let i = 0; i < CYCLES; i++) {
      const q = DurableQueue.open(dir.path, { readonly: i % 2 === 1 });
      if (!q.readonly && i < 40) q.append("x"); // a few segments, then the same files over and over
      q.reader("r").next();
      q.close();
    }
    await expectFlat(before);
  }, 120_000);

  test(`records: ${CYCLES} open/close cycles, writable and read-only`, async () => {
    using dir = tempDir();
    const path = dir.file("r.rec");
    RecordStore.open(path, Row, { capacity: 16 }).close();
    const before = await baseline();
    for (let i = 0; i < CYCLES; i++) {
      const store = RecordStore.open(path, Row, { readonly: i % 2 === 1 });
      if (!store.readonly && store.length < 1000) store.append({ n: i });
      store.close();
    }
    await expectFlat(before);
  }, 120_000);

  test(`ring: ${FOLLOWERS} follow iterators dropped after one item, and ${FOLLOWERS} dropped while waiting`, async () => {
    using dir = tempDir();
    const path = dir.file("r");
    const writer = RingBuffer.open(path, { recordSize: 32, capacity: 4096 });
    const reader = RingBuffer.open(path, { readonly: true });
    const before = await baseline();
    for (let i = 0; i < FOLLOWERS; i++) {
      const it = reader.follow(writer.next);
      const item = it.next(); // waits: nothing is there yet
      writer.append(`r${i}`);
      expect((await item).value?.id).toBe(i);
      // dropped here, without return()
    }
    for (let i = 0; i < FOLLOWERS; i++) void reader.follow(writer.next).next().catch(() => {});
    await Bun.sleep(50);
    expect(counts().threads).toBeLessThanOrEqual(before.threads + 3); // one waiter for all of them
    reader.close(); // ends the waiting ones
    writer.close();
    await expectFlat(before);
  }, 120_000);

  test(`queue: ${FOLLOWERS} reader follow iterators dropped after one item, and ${FOLLOWERS} dropped while waiting`, async () => {
    using dir = tempDir();
    const writer = DurableQueue.open(dir.path, { segmentBytes: 64 << 10 });
    const ro = DurableQueue.open(dir.path, { readonly: true });
    const before = await baseline();
    for (let i = 0; i < FOLLOWERS; i++) {
      const r = ro.reader(`f${i % 10}`);
      r.seek(writer.next);
      const item = r.follow({ pollMs: 50 }).next();
      writer.append(`q${i}`);
      expect((await item).value?.index).toBe(i);
    }
    for (let i = 0; i < FOLLOWERS; i++) {
      const r = ro.reader("w");
      r.seek(writer.next);
      void r.follow({ pollMs: 50 }).next();
    }
    await Bun.sleep(100);
    expect(counts().threads).toBeLessThanOrEqual(before.threads + 3);
    ro.close();
    // Followers count themselves in the wake file only while waiting: none are left counted.
    const wake = readFileSync(dir.file("queue.qwake"));
    expect(new DataView(wake.buffer, wake.byteOffset).getInt32(64, true)).toBe(0);
    writer.close();
    await expectFlat(before);
  }, 120_000);
});
