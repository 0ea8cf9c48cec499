/**
 * Reopen after states only a crash leaves: a slot left BUSY by a writer killed inside a
 * put, and a head torn in the middle of a high-bits change. Also: a waiting follower makes
 * the writer issue futex wakes.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { RingBuffer, describeRing, verifyRing } from "../../src/ring/index.ts";
import { tempDir } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const SLOT = 24; // recordSize 8 -> 16 + 8
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

function patch(path: string, edit: (view: DataView) => void): void {
  const bytes = readFileSync(path);
  edit(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  writeFileSync(path, bytes);
}

describe("RingBuffer recovery", () => {
  test("a slot left BUSY by a killed writer reads as absent, and the writer's reopen settles it", () => {
    using dir = tempDir();
    const path = dir.file("r");
    {
      using ring = RingBuffer.open(path, { recordSize: 8, capacity: 4 });
      for (let i = 0; i < 6; i++) ring.append(`v${i}`);
    }
    // The put of id 6 (slot 2, holding id 2) was cut short after marking the slot BUSY.
    patch(path, (v) => v.setUint32(4096 + 2 * SLOT, 0x2000_0000, true));
    {
      using reader = RingBuffer.open(path, { readonly: true });
      expect(reader.get(2)).toBeUndefined();
      expect(text(reader.get(3))).toBe("v3");
    }
    expect(verifyRing(path).bad).toEqual([{ id: 2, reason: expect.stringContaining("interrupted") }]);
    {
      using ring = RingBuffer.open(path);
      expect([ring.first, ring.next]).toEqual([2, 6]);
      expect(ring.get(2)).toBeUndefined();
      expect([...ring.range()].map((r) => r.id)).toEqual([3, 4, 5]);
    }
    expect(verifyRing(path).bad).toEqual([]);
  });

  test("a first write left BUSY (the first lap: the slot held nothing) is made empty again, and its id is the next one", () => {
    using dir = tempDir();
    const path = dir.file("r");
    {
      using ring = RingBuffer.open(path, { recordSize: 8, capacity: 4 });
      ring.append("v0");
      ring.append("v1");
    }
    // The put of id 2 (slot 2, never written) was cut short after marking the slot BUSY
    // and storing its id.
    patch(path, (v) => {
      v.setUint32(4096 + 2 * SLOT, 0x2000_0000, true);
      v.setUint32(4096 + 2 * SLOT + 4, 2, true);
    });
    {
      using ring = RingBuffer.open(path);
      expect([ring.first, ring.next]).toEqual([0, 2]);
      expect(ring.get(2)).toBeUndefined();
      expect(ring.append("v2")).toBe(2);
      expect(text(ring.get(2))).toBe("v2");
      expect([...ring.range()].map((r) => r.id)).toEqual([0, 1, 2]);
    }
    expect(verifyRing(path).bad).toEqual([]);
  });

  test("a head torn during a high-bits change is settled by the slots", () => {
    using dir = tempDir();
    const path = dir.file("r");
    const big = 2 ** 32 + 1;
    let slot1 = new Uint8Array(0);
    {
      using ring = RingBuffer.open(path, { recordSize: 8, capacity: 4 });
      for (let i = 0; i < 5; i++) ring.append(`v${i}`);
      slot1 = Uint8Array.from(readFileSync(path).subarray(4096 + 24, 4096 + 48)); // id 1
      ring.write(big, "big"); // slot 1; head 2^32 + 2
    }
    const head = (lo: number, state: number, prev: number) =>
      patch(path, (v) => {
        v.setUint32(128, lo, true);
        v.setUint32(132, state, true);
        v.setUint32(136, prev, true);
      });
    // Killed after storing the new low half: the slots confirm 2^32 + 2.
    head(2, 3, 0);
    {
      using ring = RingBuffer.open(path);
      expect(ring.next).toBe(big + 1);
      expect(text(ring.get(big))).toBe("big");
    }
    // Killed before storing the new low half (it still says 5), every slot of the jump
    // written: the jump block says where it was going, and both reader and writer go there.
    head(5, 3, 0);
    {
      using reader = RingBuffer.open(path, { readonly: true });
      expect(reader.next).toBe(big + 1);
      expect(text(reader.get(big))).toBe("big");
    }
    {
      using ring = RingBuffer.open(path);
      expect([ring.next, text(ring.get(big))]).toEqual([big + 1, "big"]);
    }
    // The same, but the jump died before its own record was written (slot 1 still holds
    // id 1): the slots confirm 5. The markers it wrote for skipped ids become deletions of
    // the records they replaced, so no slot holds an id past the head.
    head(5, 3, 0);
    patch(path, (v) => slot1.forEach((b, i) => v.setUint8(4096 + 24 + i, b)));
    {
      using reader = RingBuffer.open(path, { readonly: true });
      expect(reader.next).toBe(5); // a reader takes the conservative value meanwhile
    }
    {
      using ring = RingBuffer.open(path);
      expect(ring.next).toBe(5);
      expect(text(ring.get(1))).toBe("v1");
      for (let id = 2; id < 5; id++) expect(ring.get(id)).toBeUndefined();
      expect(ring.append("v5")).toBe(5);
    }
    using reader = RingBuffer.open(path, { readonly: true });
    expect([reader.next, text(reader.get(5))]).toEqual([6, "v5"]);
    expect(verifyRing(path).bad).toEqual([]);
  });

  test("ids crossing 2^32 by appends are seen by a reader at every step", () => {
    using dir = tempDir();
    const path = dir.file("r");
    using ring = RingBuffer.open(path, { recordSize: 8, capacity: 4 });
    using reader = RingBuffer.open(path, { readonly: true, io: "pread" });
    ring.write(2 ** 32 - 3, "a");
    for (let i = 0; i < 6; i++) {
      const id = ring.append(`n${i}`);
      expect(id).toBe(2 ** 32 - 2 + i);
      expect(reader.next).toBe(id + 1);
      expect(text(reader.get(id))).toBe(`n${i}`);
    }
  });

  test("a waiting follower makes the writer wake it with a futex", async () => {
    using dir = tempDir();
    const path = dir.file("r");
    using ring = RingBuffer.open(path, { recordSize: 8, capacity: 4 });
    using reader = RingBuffer.open(path, { readonly: true });
    const iter = reader.follow(0);
    const pending = iter.next();
    // Appends made while nobody waits issue no wake.
    for (let i = 0; i < 30 && ring.stats().wakes === 0; i++) {
      await Bun.sleep(10);
      ring.append(`w${i}`);
    }
    const first = await pending;
    expect(first.value?.id).toBe(0);
    expect(ring.stats().wakes).toBeGreaterThan(0);
    await iter.return?.();
    expect(reader.stats().followers).toBe(0);
    expect(describeRing(path).counts.waiters).toBe(0); // it unregistered
  });
});
