/**
 * Finding item n: the lookup cache and table over segments (sequential and random reads,
 * uneven segment sizes, removed segments, segments another handle created), the reused
 * buffers of append/appendMany, and the staged (pwrite) path of appendMany.
 */
import { expect, test, setDefaultTimeout } from "bun:test";
import CRC32 from "crc-32";
import { readdirSync } from "node:fs";
import { DurableQueue } from "../../src/queue/index.ts";
import { seededRandom, tempDir } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : new TextDecoder().decode(bytes));
const segmentCount = (dir: string) => readdirSync(dir).filter((n) => n.endsWith(".idx")).length;

function item(random: () => number, max: number): Uint8Array {
  const out = new Uint8Array(Math.floor(random() * (max + 1)));
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

test("random and sequential reads over hundreds of uneven segments agree with a model, with gaps and after reopen", () => {
  using dir = tempDir();
  const random = seededRandom(4242);
  const options = { segmentBytes: 1024, segmentItems: 8 } as const;
  let q = DurableQueue.open(dir.path, options);
  const model = new Map<number, Uint8Array>();
  // Item sizes change by phase, so segments hold from 1 to 8 items.
  for (let phase = 0; phase < 6; phase++) {
    const max = [20, 900, 60, 400, 5, 200][phase]!;
    for (let i = 0; i < 300; i++) {
      const bytes = item(random, max);
      model.set(q.append(bytes), bytes);
    }
  }
  const next = q.next;
  expect(segmentCount(dir.path)).toBeGreaterThan(200);
  // Empty whole segments in the middle (they are removed from disk) and a few single items.
  const gone = new Set<number>();
  for (let i = 500; i < 700; i++) gone.add(i);
  for (let i = 0; i < 40; i++) gone.add(Math.floor(random() * next));
  expect(q.delete([...gone])).toBe(gone.size);
  for (const i of gone) model.delete(i);
  const check = (handle: DurableQueue) => {
    for (let i = 0; i < next + 3; i++) expect(handle.get(i)).toEqual(model.get(i));
    for (let n = 0; n < 3000; n++) {
      const i = Math.floor(random() * (next + 5));
      expect(handle.get(i)).toEqual(model.get(i));
    }
    for (let i = next + 2; i >= 0; i -= 3) expect(handle.get(i)).toEqual(model.get(i));
  };
  check(q);
  using ro = DurableQueue.open(dir.path, { readonly: true });
  check(ro);
  q.close();
  q = DurableQueue.open(dir.path);
  check(q);
  // Shifting the front away removes segments while reads go on.
  for (let n = 0; n < 400; n++) {
    const first = q.first;
    expect(q.shift()).toEqual(model.get(first));
    model.delete(first);
    const i = Math.floor(random() * next);
    expect(q.get(i)).toEqual(model.get(i));
    expect(ro.get(i)).toEqual(model.get(i));
  }
  check(q);
  check(ro);
  q.close();
});

test("a handle finds items in segments another handle created after its last look", () => {
  using dir = tempDir();
  // 100-byte items: one record per 256-byte segment, while a segment has room for 16 entries.
  using w = DurableQueue.open(dir.path, { segmentBytes: 256 });
  w.append("x".repeat(100));
  using other = DurableQueue.open(dir.path);
  using ro = DurableQueue.open(dir.path, { readonly: true });
  expect(text(ro.get(0))).toBe("x".repeat(100));
  expect(text(other.get(0))).toBe("x".repeat(100));
  for (let i = 1; i < 10; i++) {
    w.append(String(i).repeat(100));
    expect(text(ro.get(i))).toBe(String(i).repeat(100));
    expect(text(other.get(i))).toBe(String(i).repeat(100));
    expect(ro.get(i + 1)).toBeUndefined();
  }
  expect(segmentCount(dir.path)).toBe(10);
  // And the other way round: the other handle appends, rolls over, shifts segments away.
  for (let i = 10; i < 20; i++) expect(other.append(String(i % 10).repeat(100))).toBe(i);
  expect(text(w.get(19))).toBe("9".repeat(100));
  expect(text(w.shift())).toBe("x".repeat(100));
  expect([ro.get(0), other.get(0)]).toEqual([undefined, undefined]);
  expect(text(ro.get(15))).toBe("5".repeat(100));
});

test("append of strings reuses one buffer: every stored item is its own, with the standard CRC-32", () => {
  using dir = tempDir();
  using q = DurableQueue.open(dir.path, { segmentBytes: 4096 });
  const strings = ["", "a", "héllo wörld", "日本語のテキスト", "x".repeat(500), "\u{1F600} emoji", "short"];
  for (const s of strings) q.append(s);
  const encoded = strings.map((s) => new TextEncoder().encode(s));
  strings.forEach((s, i) => {
    const got = q.get(i)!;
    expect(text(got)).toBe(s);
    expect(got).toEqual(encoded[i]!);
  });
  expect(q.length).toBe(strings.length);
  expect(q.bytes).toBe(encoded.reduce((n, b) => n + b.length, 0));
  // A string item longer than a segment is ERR_TOO_LARGE and writes nothing.
  expect(() => q.append("y".repeat(5000))).toThrow(expect.objectContaining({ code: "ERR_TOO_LARGE" }));
  expect(q.next).toBe(strings.length);
  for (let i = 0; i < strings.length; i++) {
    expect((CRC32.buf(q.get(i)!) >>> 0).toString(16)).toBe((CRC32.buf(encoded[i]!) >>> 0).toString(16));
  }
});

test("long string items (past the reused buffer's size) and short ones after them", () => {
  using dir = tempDir();
  using q = DurableQueue.open(dir.path, { segmentBytes: 1 << 20 });
  const long = "ü".repeat(100_000); // 200,000 bytes of UTF-8
  expect(q.append(long)).toBe(0);
  expect(q.append("after")).toBe(1);
  expect(text(q.get(0))).toBe(long);
  expect(q.get(0)!.length).toBe(200_000);
  expect(text(q.get(1))).toBe("after");
});

test("appendMany through the staged path (≥ 4 KiB per call) rolls over segments and keeps every item", () => {
  for (const sync of ["none", "batch"] as const) {
    using dir = tempDir();
    const random = seededRandom(sync === "none" ? 11 : 12);
    let q = DurableQueue.open(dir.path, { segmentBytes: 8192, sync });
    const model: Uint8Array[] = [];
    for (let call = 0; call < 30; call++) {
      const items = Array.from({ length: 20 + Math.floor(random() * 80) }, () => item(random, 300));
      expect(q.appendMany(items)).toBe(model.length);
      model.push(...items);
      if (call % 10 === 9) {
        q.close();
        q = DurableQueue.open(dir.path);
      }
    }
    expect(segmentCount(dir.path)).toBeGreaterThan(10);
    expect(q.length).toBe(model.length);
    model.forEach((bytes, i) => expect(q.get(i)).toEqual(bytes));
    q.close();
  }
});

test("appendMany called again from inside its own iterable stores both calls' items", () => {
  using dir = tempDir();
  using q = DurableQueue.open(dir.path);
  let inner = -1;
  function* items() {
    yield "outer 0";
    inner = q.appendMany(["inner 0", "inner 1"]);
    yield "outer 1";
  }
  const first = q.appendMany(items());
  expect(inner).toBe(0);
  expect(first).toBe(2);
  expect([0, 1, 2, 3].map((i) => text(q.get(i)))).toEqual(["inner 0", "inner 1", "outer 0", "outer 1"]);
  // The reused list is empty again: the next call stores only its own items.
  expect(q.appendMany(["last"])).toBe(4);
  expect(q.length).toBe(5);
});
