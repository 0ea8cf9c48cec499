/**
 * Per-record CRCs: stored by append/set, checked against the independent `crc-32` package,
 * marked stale by live-view stores and recomputed by sync and by a writable reopen (also
 * after the writer was killed), and damage found by checked reads and by verifyRecords.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import CRC32 from "crc-32";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { File } from "../../ffi/index.ts";
import { CRC_STALE } from "../../src/records/crc.ts";
import { RecordStore, schema, t, verifyRecords } from "../../src/records/index.ts";
import { Child, ROOT, tempDir, writeScript, expectCode } from "../helpers/index.ts";


// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

/** name: 1-byte prefix at 8, data 9..21; value at 24; big at 32; 40 bytes. */
const Row = schema({ name: t.string(12), value: t.f64, big: t.u64 }, { name: "Row", version: 1 });
const ROW_SCHEMA_SOURCE = `schema({ name: t.string(12), value: t.f64, big: t.u64 }, { name: "Row", version: 1 })`;
const Fixed = schema({ a: t.f64, b: t.i32, c: t.u16 }, { name: "Fixed", version: 1 });

function dataOffsetOf(bytes: Uint8Array): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(24 + 5 * 8, true));
}

/** The CRC word the file holds for record `i`, and the one the reference computes. */
function crcWords(path: string, i: number, rs: number, stringField?: { at: number; max: number }): { stored: number; expected: number } {
  const bytes = readFileSync(path);
  const o = dataOffsetOf(bytes) + i * rs;
  const stored = new DataView(bytes.buffer, bytes.byteOffset).getInt32(o + 4, true);
  let covered: Uint8Array;
  if (stringField === undefined) {
    covered = bytes.subarray(o + 8, o + rs);
  } else {
    // Bytes of a string past its length are not covered.
    const p = o + stringField.at;
    const len = Math.min(bytes[p]!, stringField.max);
    covered = Buffer.concat([bytes.subarray(o + 8, p + 1 + len), bytes.subarray(p + 1 + stringField.max, o + rs)]);
  }
  return { stored, expected: (CRC32.buf(covered) | 0x8000_0000) | 0 };
}

const ROW_STRING = { at: 8, max: 12 };

describe("record CRCs", () => {
  test("append and set store the CRC of the record's field bytes", () => {
    using dir = tempDir();
    const path = dir.file("crc.rec");
    using store = RecordStore.open(path, Row, { capacity: 4 });
    store.append({ name: "first", value: 1.5, big: 7n });
    store.append();
    store.set(0, { name: "another", big: 1n << 60n });
    // A shorter value leaves old bytes past its length: they are not covered.
    store.set(1, { name: "long name 12" });
    store.set(1, { name: "x" });
    for (const i of [0, 1]) {
      const { stored, expected } = crcWords(path, i, Row.recordSize, ROW_STRING);
      expect(stored).toBe(expected);
    }
    using fixed = RecordStore.open(dir.file("fixed.rec"), Fixed);
    fixed.append({ a: 2.5, b: -3, c: 9 });
    const { stored, expected } = crcWords(dir.file("fixed.rec"), 0, Fixed.recordSize);
    expect(stored).toBe(expected);
    expect(verifyRecords(path)).toEqual({ checked: 2, bad: [] });
  });

  test("a flipped field byte: ERR_CORRUPT from getChecked and from get with verify, listed by verifyRecords", () => {
    using dir = tempDir();
    const path = dir.file("flip.rec");
    {
      using store = RecordStore.open(path, Row, { capacity: 4 });
      for (let i = 0; i < 4; i++) store.append({ name: `row ${i}`, value: i * 2.25, big: BigInt(i) });
    }
    const bytes = readFileSync(path);
    const o = dataOffsetOf(bytes) + 2 * Row.recordSize;
    bytes[o + 24]! ^= 0x10; // record 2's value
    writeFileSync(path, bytes);

    using reader = RecordStore.open(path, Row, { readonly: true });
    expect(reader.get(2).value).not.toBe(4.5); // the unchecked read does not look
    expectCode(() => reader.getChecked(2), "ERR_CORRUPT");
    expectCode(() => reader.getIntoChecked(2, {}), "ERR_CORRUPT");
    expect(reader.getChecked(1)).toEqual({ name: "row 1", value: 2.25, big: 1n });
    using verifying = RecordStore.open(path, Row, { readonly: true, verify: true });
    expectCode(() => verifying.get(2), "ERR_CORRUPT");
    expectCode(() => verifying.getInto(2, {}), "ERR_CORRUPT");
    expect(verifying.get(3)).toEqual({ name: "row 3", value: 6.75, big: 3n });
    const report = verifyRecords(path);
    expect(report.checked).toBe(4);
    expect(report.bad.map((b) => b.id)).toEqual([2]);
    expect(report.bad[0]!.reason).toContain("CRC");
  });

  test("every single-byte flip of a record's fields is caught", () => {
    using dir = tempDir();
    const pristine = dir.file("p.rec");
    {
      using store = RecordStore.open(pristine, Row, { capacity: 1 });
      store.append({ name: "abc", value: -1.25, big: 99n });
    }
    const good = readFileSync(pristine);
    const o = dataOffsetOf(good);
    const path = dir.file("d.rec");
    let caught = 0;
    for (let k = 8; k < Row.recordSize; k++) {
      const bytes = Buffer.from(good);
      bytes[o + k]! ^= 0xff;
      writeFileSync(path, bytes);
      using store = RecordStore.open(path, Row, { readonly: true, verify: true });
      let same = false;
      try {
        same = JSON.stringify(store.get(0), (_, v) => (typeof v === "bigint" ? `${v}n` : v)) === JSON.stringify({ name: "abc", value: -1.25, big: "99n" });
      } catch (e) {
        expect((e as { code?: string }).code).toBe("ERR_CORRUPT");
        caught++;
      }
      // Bytes past the string's length are never read: a flip there changes nothing.
      if (!same) expect(verifyRecords(path).bad.map((b) => b.id)).toEqual([0]);
    }
    // 32 field bytes minus the 9 unused string bytes.
    expect(caught).toBe(Row.recordSize - 8 - 9);
  });

  test("live-view stores mark the CRC stale; sync recomputes it", () => {
    using dir = tempDir();
    const path = dir.file("view.rec");
    using store = RecordStore.open(path, Row, { capacity: 4 });
    store.append({ name: "a", value: 1 });
    store.append({ name: "b", value: 2 });
    const v = store.at(1);
    v.value = 3.5;
    // The stale marker is not 0 (a zeroed record is damage, not a stale one) and has the
    // top bit clear, which no CRC word has.
    expect(CRC_STALE).not.toBe(0);
    expect(CRC_STALE & 0x8000_0000).toBe(0);
    expect(crcWords(path, 1, Row.recordSize, ROW_STRING).stored).toBe(CRC_STALE);
    // Stale: read unchecked, not listed by verify.
    expect(store.getChecked(1).value).toBe(3.5);
    expect(verifyRecords(path).bad).toEqual([]);
    // A string field goes through the seqlock and recomputes the CRC at once.
    store.at(0).name = "renamed";
    const first = crcWords(path, 0, Row.recordSize, ROW_STRING);
    expect(first.stored).toBe(first.expected);
    store.sync();
    const second = crcWords(path, 1, Row.recordSize, ROW_STRING);
    expect(second.stored).not.toBe(CRC_STALE);
    expect(second.stored).toBe(second.expected);
    expect(store.stats().crcRefreshed).toBe(1);
    // Damage after the sync is caught again.
    const copy = dir.file("copy.rec");
    copyFileSync(path, copy);
    const bytes = readFileSync(copy);
    bytes[dataOffsetOf(bytes) + Row.recordSize + 24]! ^= 1;
    writeFileSync(copy, bytes);
    using reader = RecordStore.open(copy, Row, { readonly: true });
    expectCode(() => reader.getChecked(1), "ERR_CORRUPT");
    expect(reader.getChecked(0).name).toBe("renamed");
  });

  test("a writable reopen recomputes CRCs a killed writer left stale, and reports nothing bad", async () => {
    using dir = tempDir();
    const path = dir.file("killed.rec");
    const script = writeScript(
      dir.path,
      "view-writer",
      `
import { RecordStore, schema, t } from "${ROOT}/src/records/index.ts";
const Row = ${ROW_SCHEMA_SOURCE};
const store = RecordStore.open(process.argv[2], Row, { capacity: 64 });
for (let i = 0; i < 64; i++) store.append({ name: "r" + i, value: i });
store.sync();
for (let i = 0; i < 64; i += 2) store.at(i).value = i + 0.5;
console.log("ready");
setInterval(() => {}, 1000);
`,
    );
    const child = new Child(script, [path]);
    await child.waitForLine((l) => l === "ready");
    await child.kill("SIGKILL");
    expect(crcWords(path, 0, Row.recordSize, ROW_STRING).stored).toBe(CRC_STALE);
    expect(verifyRecords(path)).toEqual({ checked: 64, bad: [] });
    {
      using writer = RecordStore.open(path, Row);
      expect(writer.stats().crcRefreshed).toBe(32);
    }
    for (let i = 0; i < 64; i++) {
      const { stored, expected } = crcWords(path, i, Row.recordSize, ROW_STRING);
      expect(stored).toBe(expected);
    }
    expect(verifyRecords(path)).toEqual({ checked: 64, bad: [] });
    using reader = RecordStore.open(path, Row, { readonly: true, verify: true });
    for (let i = 0; i < 64; i++) expect(reader.get(i).value).toBe(i % 2 === 0 ? i + 0.5 : i);
  }, 30_000);

  test("flips of the live words (count, capacity) are ERR_CORRUPT or harmless", () => {
    using dir = tempDir();
    const pristine = dir.file("p.rec");
    {
      using store = RecordStore.open(pristine, Row, { capacity: 8 });
      for (let i = 0; i < 8; i++) store.append({ name: `n${i}`, value: i });
    }
    const good = readFileSync(pristine);
    const path = dir.file("d.rec");
    for (let k = 128; k < 140; k++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const bytes = Buffer.from(good);
        bytes[k]! ^= mask;
        writeFileSync(path, bytes);
        let outcome: string;
        try {
          using store = RecordStore.open(path, Row, { readonly: true, verify: true });
          const rows: string[] = [];
          for (let i = 0; i < store.length; i++) rows.push(`${store.get(i).name}|${store.get(i).value}`);
          outcome = rows.every((r, i) => r === `n${i}|${i}`) ? "same" : `wrong ${rows.join(",")}`;
        } catch (e) {
          outcome = (e as { code?: string }).code ?? String(e);
        }
        // A smaller count shows fewer records (never wrong ones); growths is informational.
        expect(["same", "ERR_CORRUPT"]).toContain(outcome);
      }
    }
  });

  test("an odd sequence word: readers wait (ERR_TIMEOUT) while a writer is open, ERR_CORRUPT once none is", () => {
    using dir = tempDir();
    const path = dir.file("odd.rec");
    const writer = RecordStore.open(path, Row, { capacity: 2 });
    writer.append({ name: "a" });
    writer.append({ name: "b" });
    const o = dataOffsetOf(readFileSync(path));
    {
      using file = File.open(path);
      file.write(new Uint8Array(new Int32Array([5]).buffer), o);
    }
    {
      using reader = RecordStore.open(path, Row, { readonly: true, readTimeout: 20 });
      expectCode(() => reader.get(0), "ERR_TIMEOUT");
      expect(reader.get(1).name).toBe("b");
    }
    writer.close();
    using reader = RecordStore.open(path, Row, { readonly: true, readTimeout: 60_000 });
    expectCode(() => reader.get(0), "ERR_CORRUPT");
    expectCode(() => reader.getChecked(0), "ERR_CORRUPT");
    expect(reader.stats().readTimeouts).toBe(0);
  });

  test("option verify must be a boolean", () => {
    using dir = tempDir();
    expectCode(() => RecordStore.open(dir.file("o.rec"), Row, { verify: 1 as unknown as boolean }), "ERR_INVALID");
  });
});
