/**
 * Damaged index metadata: each entry's check, the live area of an index file and the
 * shared state of the directory file. Damage must give ERR_CORRUPT (at open, or at the get
 * that depends on it), never an item that silently reads as missing or comes back deleted;
 * what a crash legitimately leaves behind must still open read-only.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import { DurableQueue, verifyQueue } from "../../src/queue/index.ts";
import { patchFile, tempDir } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const code = (c: string) => expect.objectContaining({ code: c });
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const IDX0 = "queue-0000000000000000.idx";
const QDIR = "queue.qdir";
/** Offsets fixed by the file format (src/queue/layout.ts). */
const ENTRY_FLAGS = (pos: number) => 128 + pos * 16 + 12;
const IDX = { live: 64, written: 72, dataEnd: 80, liveBytes: 88 };
const DIR = { dirty: 196, first: 208, next: 216, count: 224, bytes: 232 };

function xorByte(path: string, offset: number, mask: number): void {
  const fd = openSync(path, "r+");
  try {
    const b = new Uint8Array(1);
    readSync(fd, b, 0, 1, offset);
    b[0] = b[0]! ^ mask;
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

const putF64 = (path: string, offset: number, value: number) => patchFile(path, offset, new Uint8Array(new Float64Array([value]).buffer));
const putI32 = (path: string, offset: number, value: number) => patchFile(path, offset, new Uint8Array(new Int32Array([value]).buffer));

/** A queue of 8 items in one segment of 16 entries, item 5 deleted. */
function build(dir: string): void {
  using q = DurableQueue.open(dir, { segmentBytes: 4096, segmentItems: 16 });
  for (let i = 0; i < 8; i++) q.append(`item ${i}`);
  q.delete(5);
}

function readAll(dir: string): Array<string | undefined> {
  using q = DurableQueue.open(dir, { readonly: true });
  return Array.from({ length: 8 }, (_, i) => text(q.get(i)));
}

const intact = ["item 0", "item 1", "item 2", "item 3", "item 4", undefined, "item 6", "item 7"];

describe("damaged index entries", () => {
  test("the undamaged queue reads back as written (reference for the cases below)", () => {
    using dir = tempDir();
    build(dir.path);
    expect(readAll(dir.path)).toEqual(intact);
    expect(verifyQueue(dir.path).bad).toEqual([]);
  });

  test("a live entry whose flags flip (all bits, or just the deleted bit) is ERR_CORRUPT, not a missing item", () => {
    for (const mask of [0xff, 0x02, 0x01]) {
      using dir = tempDir();
      build(dir.path);
      xorByte(join(dir.path, IDX0), ENTRY_FLAGS(2), mask);
      using q = DurableQueue.open(dir.path, { readonly: true });
      expect(text(q.get(1))).toBe("item 1");
      expect(() => q.get(2)).toThrow(code("ERR_CORRUPT"));
      expect(verifyQueue(dir.path).bad.map((b) => b.id)).toEqual([2]);
    }
  });

  test("a deleted entry whose deleted bit flips is ERR_CORRUPT, never the deleted item back", () => {
    using dir = tempDir();
    build(dir.path);
    xorByte(join(dir.path, IDX0), ENTRY_FLAGS(5), 0x02);
    using q = DurableQueue.open(dir.path, { readonly: true });
    expect(() => q.get(5)).toThrow(code("ERR_CORRUPT"));
  });

  test("a flipped check, offset, length or CRC of an entry is ERR_CORRUPT", () => {
    for (const at of [0, 4, 8, 14, 15]) {
      using dir = tempDir();
      build(dir.path);
      xorByte(join(dir.path, IDX0), 128 + 3 * 16 + at, 0x10);
      using q = DurableQueue.open(dir.path, { readonly: true });
      expect(() => q.get(3)).toThrow(code("ERR_CORRUPT"));
    }
  });

  test("a writable open refuses a damaged entry in the middle instead of dropping the items after it", () => {
    using dir = tempDir();
    build(dir.path);
    xorByte(join(dir.path, IDX0), ENTRY_FLAGS(3), 0x02);
    expect(() => DurableQueue.open(dir.path)).toThrow(code("ERR_CORRUPT"));
    // Nothing was dropped: the other items still read back.
    using q = DurableQueue.open(dir.path, { readonly: true });
    expect(text(q.get(7))).toBe("item 7");
  });
});

describe("damaged index live area", () => {
  const cases: Array<[string, number, number]> = [
    ["written not an integer", IDX.written, 8.5],
    ["written negative", IDX.written, -8],
    ["written past the segment", IDX.written, 1e300],
    ["written past the last entry", IDX.written, 10],
    ["live above written", IDX.live, 9],
    ["live bytes negative", IDX.liveBytes, -1],
    ["data end past the data file", IDX.dataEnd, 5000],
  ];
  for (const [name, offset, value] of cases) {
    test(`${name}: the read-only open is ERR_CORRUPT`, () => {
      using dir = tempDir();
      build(dir.path);
      putF64(join(dir.path, IDX0), offset, value);
      expect(() => DurableQueue.open(dir.path, { readonly: true })).toThrow(code("ERR_CORRUPT"));
    });
  }

  test("written lowered to a plausible integer: the read-only open is ERR_CORRUPT (the entries past it exist)", () => {
    using dir = tempDir();
    build(dir.path);
    putF64(join(dir.path, IDX0), IDX.written, 4);
    putF64(join(dir.path, IDX0), IDX.live, 4);
    expect(() => DurableQueue.open(dir.path, { readonly: true })).toThrow(code("ERR_CORRUPT"));
  });

  test("a writable open recomputes a damaged live area", () => {
    using dir = tempDir();
    build(dir.path);
    putF64(join(dir.path, IDX0), IDX.written, 8.5);
    DurableQueue.open(dir.path).close();
    expect(readAll(dir.path)).toEqual(intact);
  });

  test("a crash between writing an entry and publishing it still opens read-only: the unpublished item is absent", () => {
    using dir = tempDir();
    build(dir.path);
    // What a writer killed inside append leaves: the entry of item 7 written, the segment's
    // `written` and the queue's `next` not yet raised, the dirty word set.
    putF64(join(dir.path, IDX0), IDX.written, 7);
    putF64(join(dir.path, IDX0), IDX.live, 6);
    putF64(join(dir.path, QDIR), DIR.next, 7);
    putF64(join(dir.path, QDIR), DIR.count, 6);
    putI32(join(dir.path, QDIR), DIR.dirty, 1);
    expect(readAll(dir.path)).toEqual([...intact.slice(0, 7), undefined]);
    // A writable open recovers the item from its record.
    DurableQueue.open(dir.path).close();
    expect(readAll(dir.path)).toEqual(intact);
  });
});

describe("damaged shared state in the directory file", () => {
  const cases: Array<[string, number, number]> = [
    ["first not an integer", DIR.first, 1e-300],
    ["first negative", DIR.first, -1],
    ["next NaN", DIR.next, Number.NaN],
    ["count not an integer", DIR.count, 7.25],
    ["bytes negative", DIR.bytes, -3],
    ["first past next", DIR.first, 9],
    ["count more than fits between first and next", DIR.count, 20],
  ];
  for (const [name, offset, value] of cases) {
    test(`${name}: the read-only open is ERR_CORRUPT`, () => {
      using dir = tempDir();
      build(dir.path);
      putF64(join(dir.path, QDIR), offset, value);
      expect(() => DurableQueue.open(dir.path, { readonly: true })).toThrow(code("ERR_CORRUPT"));
    });
  }

  test("first or next below the crash-safe floors: the read-only open is ERR_CORRUPT", () => {
    for (const [offset, value] of [
      [DIR.first, 1],
      [DIR.next, 2],
    ] as const) {
      using dir = tempDir();
      {
        using q = DurableQueue.open(dir.path, { segmentBytes: 4096, segmentItems: 4 });
        for (let i = 0; i < 8; i++) q.append(`item ${i}`);
        q.truncate(4); // removes the first segment: floors first 4, next 8
      }
      putF64(join(dir.path, QDIR), offset, value);
      expect(() => DurableQueue.open(dir.path, { readonly: true })).toThrow(code("ERR_CORRUPT"));
    }
  });

  test("a writable open recomputes the shared state", () => {
    using dir = tempDir();
    build(dir.path);
    putF64(join(dir.path, QDIR), DIR.first, 3.5);
    DurableQueue.open(dir.path).close();
    expect(readAll(dir.path)).toEqual(intact);
  });
});
