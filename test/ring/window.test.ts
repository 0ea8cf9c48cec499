/**
 * Every id in the window has its slot written, so a slot there that reads as empty or as
 * an older id was damaged: ERR_CORRUPT, never "never written". A damaged head is an
 * OffheapError for the writer's open too, never a TypeError.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { closeSync, openSync, readSync } from "node:fs";
import { RingBuffer, verifyRing } from "../../src/ring/index.ts";
import { encodeHeader } from "../../src/primitives/header.ts";
import { RING_SPEC } from "../../src/ring/layout.ts";
import { patchFile, tempDir, thrown } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const ioModes = ["mmap", "pread"] as const;
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const SLOT = 32; // recordSize 16: 16-byte slot header + 16 bytes

const zero = (path: string, offset: number, length: number) => patchFile(path, offset, new Uint8Array(length));
const putU32 = (path: string, offset: number, value: number) => patchFile(path, offset, new Uint8Array(new Uint32Array([value]).buffer));

function ring10(path: string): void {
  using ring = RingBuffer.open(path, { recordSize: 16, capacity: 8 });
  for (let i = 0; i < 10; i++) ring.append(`r${i}`); // window 2..9
}

describe("RingBuffer window", () => {
  for (const io of ioModes) {
    test(`${io}: a zeroed slot in the window is ERR_CORRUPT for get, range, follow and delete finds it; verify lists it`, async () => {
      using dir = tempDir();
      const path = dir.file("r");
      ring10(path);
      zero(path, 4096 + 3 * SLOT, SLOT); // slot 3 = id 3
      for (const readonly of [true, false]) {
        using ring = RingBuffer.open(path, { readonly, io });
        expect(text(ring.get(2))).toBe("r2");
        expect(thrown(() => ring.get(3)).code).toBe("ERR_CORRUPT");
        expect(thrown(() => ring.getInto(3, new Uint8Array(16))).code).toBe("ERR_CORRUPT");
        expect(thrown(() => [...ring.range()]).code).toBe("ERR_CORRUPT");
        const it = ring.follow(2);
        expect((await it.next()).value).toMatchObject({ id: 2 });
        expect(await it.next().then(() => "resolved", (e) => e.code)).toBe("ERR_CORRUPT");
      }
      expect(verifyRing(path).bad.map((b) => b.id)).toEqual([3]);
      {
        using ring = RingBuffer.open(path, { io });
        expect(ring.delete(3)).toBe(true); // the damaged slot can only have held id 3
        expect(ring.get(3)).toBeUndefined();
      }
      expect(verifyRing(path).bad).toEqual([]);
    });

    test(`${io}: a slot in the window holding an older id (a stale copy) is ERR_CORRUPT`, () => {
      using dir = tempDir();
      const path = dir.file("r");
      {
        using ring = RingBuffer.open(path, { recordSize: 16, capacity: 8 });
        for (let i = 0; i < 2; i++) ring.append(`r${i}`);
      }
      const fd = openSync(path, "r");
      const old = new Uint8Array(SLOT);
      readSync(fd, old, 0, SLOT, 4096); // slot 0 holding id 0
      closeSync(fd);
      ring10(`${path}2`);
      patchFile(`${path}2`, 4096, old); // slot 0 should hold id 8
      using ring = RingBuffer.open(`${path}2`, { readonly: true, io });
      expect(thrown(() => ring.get(8)).code).toBe("ERR_CORRUPT");
      expect(ring.get(0)).toBeUndefined(); // outside the window
    });

    test(`${io}: ids a write(id) skips read as absent, not as damage, also after reopen`, () => {
      using dir = tempDir();
      const path = dir.file("r");
      {
        using ring = RingBuffer.open(path, { recordSize: 16, capacity: 8, io });
        ring.append("a");
        ring.write(5, "f");
        ring.write(20, "u"); // skips 6..19: 13..19 are in the new window
        expect(ring.get(15)).toBeUndefined();
        expect([...ring.range()].map((r) => r.id)).toEqual([20]);
      }
      using ring = RingBuffer.open(path, { readonly: true, io });
      for (let id = 13; id < 20; id++) expect(ring.get(id)).toBeUndefined();
      expect(text(ring.get(20))).toBe("u");
      expect(verifyRing(path).bad).toEqual([]);
    });
  }

  test("a jump past the marking limit raises the unchecked floor: skipped ids read as absent, ids after it are checked", () => {
    using dir = tempDir();
    const path = dir.file("r");
    const capacity = 100_000;
    {
      using ring = RingBuffer.open(path, { recordSize: 16, capacity });
      ring.append("a");
      ring.write(90_000, "far"); // skips 89,999 ids, more than are marked
      ring.appendMany(["after", "after", "after"]);
      expect(ring.get(50_000)).toBeUndefined();
    }
    zero(path, 4096 + 90_001 * SLOT, SLOT); // id 90,001, above the floor
    zero(path, 4096 + 40_000 * SLOT, SLOT); // id 40,000, skipped, below it
    using ring = RingBuffer.open(path, { readonly: true });
    expect(ring.get(40_000)).toBeUndefined();
    expect(thrown(() => ring.get(90_001)).code).toBe("ERR_CORRUPT");
    expect(verifyRing(path).bad.map((b) => b.id)).toEqual([90_001]);
  });

  for (const io of ioModes) {
    test(`${io}: a writable open of a ring whose head is past the largest id is ERR_CORRUPT, not a TypeError`, () => {
      using dir = tempDir();
      const path = dir.file("r");
      ring10(path);
      putU32(path, 132, 0xffff_fffe); // high bits of the head: 2^31 - 1, far past 2^53
      for (const readonly of [false, true]) {
        const e = thrown(() => RingBuffer.open(path, { readonly, io }));
        expect(e.code).toBe("ERR_CORRUPT");
        expect(e.message).toContain(path);
      }
    });
  }

  test("a head zeroed or moved back across a lap is ERR_CORRUPT for both opens, never ids handed out again", () => {
    for (const lo of [0, 1]) {
      using dir = tempDir();
      const path = dir.file("r");
      ring10(path); // next 10: the slot of id 0 (or 1) holds id 8 (or 9)
      putU32(path, 128, lo);
      for (const readonly of [true, false]) expect(thrown(() => RingBuffer.open(path, { readonly })).code).toBe("ERR_CORRUPT");
    }
  });

  test("a head a few ids behind whole records (a writer killed before publishing them): readers see them, the writer publishes them", () => {
    using dir = tempDir();
    const path = dir.file("r");
    {
      using ring = RingBuffer.open(path, { recordSize: 16, capacity: 8 });
      for (let i = 0; i < 6; i++) ring.append(`r${i}`);
    }
    putU32(path, 128, 3); // records 3, 4, 5 written, the head not moved past them
    {
      using ro = RingBuffer.open(path, { readonly: true });
      expect([ro.next, text(ro.get(5))]).toEqual([6, "r5"]);
    }
    using ring = RingBuffer.open(path);
    expect(ring.next).toBe(6);
    expect(ring.append("r6")).toBe(6);
  });

  test("a ring file of format version 1 is refused with ERR_FORMAT", () => {
    using dir = tempDir();
    const path = dir.file("r");
    ring10(path);
    const header = encodeHeader({ ...RING_SPEC, version: 1 }, {
      recordSize: 16, capacity: 8, shards: 1, shardIndex: 0, slotBytes: SLOT, slotsPerShard: 8, dataOffset: 4096, ringId: 7,
    });
    patchFile(path, 0, header);
    for (const readonly of [false, true]) {
      const e = thrown(() => RingBuffer.open(path, { readonly }));
      expect(e.code).toBe("ERR_FORMAT");
      expect(e.message).toContain("version 1");
    }
  });
});
