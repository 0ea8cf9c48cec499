import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { File } from "../../ffi/index.ts";
import { describeRecords, RecordStore, verifyRecords } from "../../src/records/index.ts";
import { tempDir, expectCode } from "../helpers/index.ts";
import { Tick } from "./fixtures.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

describe("inspect", () => {
  test("describeRecords reports kind, schema and counts without the schema in code", () => {
    using dir = tempDir();
    const path = dir.file("d.rec");
    {
      using store = RecordStore.open(path, Tick, { capacity: 2 });
      for (let i = 0; i < 3; i++) store.append({ price: i });
    }
    const d = describeRecords(path);
    expect(d.kind).toBe("RECS");
    expect(d.version).toBe(3);
    expect(d.options).toMatchObject({ schema: "Tick", schemaVersion: 1, schemaHash: Tick.hash, recordSize: Tick.recordSize });
    expect(d.options.fields).toBe(Tick.layout.map((f) => `${f.name}:${f.type.name}@${f.offset}`).join(" "));
    expect(d.counts).toMatchObject({ records: 3, capacity: 4, growths: 1 });
    expect(d.counts.fileBytes).toBe(readFileSync(path).length);
  });

  test("verifyRecords lists records whose sequence word is odd, and nothing on a clean file", () => {
    using dir = tempDir();
    const path = dir.file("v.rec");
    {
      using store = RecordStore.open(path, Tick, { capacity: 8 });
      for (let i = 0; i < 5; i++) store.append({ price: i });
    }
    const progress: Array<[number, number]> = [];
    expect(verifyRecords(path, (done, total) => progress.push([done, total]))).toEqual({ checked: 5, bad: [] });
    expect(progress.at(-1)).toEqual([5, 5]);
    // Leave records 1 and 3 as a writer that died mid-update would.
    const dataOffset = Number(new DataView(readFileSync(path).buffer).getBigUint64(24 + 5 * 8, true));
    using file = File.open(path);
    for (const id of [1, 3]) file.write(new Uint8Array(new Int32Array([7]).buffer), dataOffset + id * Tick.recordSize);
    const report = verifyRecords(path);
    expect(report.checked).toBe(5);
    expect(report.bad.map((b) => b.id)).toEqual([1, 3]);
    expect(report.bad[0]!.reason).toContain("odd");
    // A writable open repairs them.
    RecordStore.open(path, Tick).close();
    expect(verifyRecords(path).bad).toEqual([]);
  });

  test("both throw for a file that can't be read as a record store", () => {
    using dir = tempDir();
    const path = dir.file("x.rec");
    writeFileSync(path, "not a record store".repeat(20));
    expectCode(() => describeRecords(path), "ERR_FORMAT");
    expectCode(() => verifyRecords(path), "ERR_FORMAT");
    {
      using store = RecordStore.open(dir.file("y.rec"), Tick, { capacity: 8 });
      store.append();
    }
    const good = readFileSync(dir.file("y.rec"));
    writeFileSync(path, good.subarray(0, good.length - Tick.recordSize * 2));
    expectCode(() => describeRecords(path), "ERR_CORRUPT");
    expectCode(() => verifyRecords(path), "ERR_CORRUPT");
    expect(verifyRecords(dir.file("y.rec"))).toEqual({ checked: 1, bad: [] });
  });
});
