/**
 * Damage that must not pass as data in a record store: a zeroed record (its CRC word 0 is
 * not the stale marker), which sync must not bless either; and a count word moved up or
 * down, which the records themselves contradict. Files are damaged after a clean close.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { encodeHeader } from "../../src/primitives/header.ts";
import { RECORDS_HEADER } from "../../src/records/layout.ts";
import { RecordStore, describeRecords, schema, t, verifyRecords } from "../../src/records/index.ts";
import { patchFile, tempDir, thrown } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const Row = schema({ n: t.u32, x: t.f64, tag: t.string(8) }, { name: "Row", version: 1 });
const COUNT_AT = 128; // the count word (src/records/layout.ts)

function build(path: string, records = 20): number {
  using store = RecordStore.open(path, Row, { capacity: 32 });
  for (let i = 0; i < records; i++) store.append({ n: i, x: i / 2, tag: `t${i}` });
  return Number(describeRecords(path).options.dataOffset);
}

const putCount = (path: string, count: number) => patchFile(path, COUNT_AT, new Uint8Array(new Int32Array([count]).buffer));

describe("record store damage", () => {
  test("a zeroed record is ERR_CORRUPT for checked reads and verify, and sync does not bless it", () => {
    using dir = tempDir();
    const path = dir.file("r.rec");
    const dataOffset = build(path);
    patchFile(path, dataOffset + 7 * Row.recordSize, new Uint8Array(Row.recordSize));
    {
      using ro = RecordStore.open(path, Row, { readonly: true, verify: true });
      expect(ro.get(6).n).toBe(6);
      expect(thrown(() => ro.get(7)).code).toBe("ERR_CORRUPT");
      expect(thrown(() => ro.getChecked(7)).code).toBe("ERR_CORRUPT");
    }
    expect(verifyRecords(path).bad.map((b) => b.id)).toEqual([7]);
    {
      // A writable open and a sync leave the damaged record damaged.
      using store = RecordStore.open(path, Row);
      expect(thrown(() => store.getChecked(7)).code).toBe("ERR_CORRUPT");
      store.sync();
    }
    using ro = RecordStore.open(path, Row, { readonly: true });
    expect(thrown(() => ro.getChecked(7)).code).toBe("ERR_CORRUPT");
    expect(ro.getChecked(8).tag).toBe("t8");
    expect(verifyRecords(path).bad.map((b) => b.id)).toEqual([7]);
  });

  test("the count moved down (20 -> 1) is ERR_CORRUPT for both opens, and the file stays as it was", () => {
    using dir = tempDir();
    const path = dir.file("r.rec");
    build(path);
    putCount(path, 1);
    const before = readFileSync(path);
    for (const readonly of [true, false]) {
      const e = thrown(() => RecordStore.open(path, Row, { readonly }));
      expect(e.code).toBe("ERR_CORRUPT");
      expect(e.message).toContain("count");
    }
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  test("the count moved up (20 -> 25) is ERR_CORRUPT for both opens", () => {
    using dir = tempDir();
    const path = dir.file("r.rec");
    build(path);
    putCount(path, 25);
    for (const readonly of [true, false]) expect(thrown(() => RecordStore.open(path, Row, { readonly })).code).toBe("ERR_CORRUPT");
  });

  test("a zeroed last record (the count then claims one never written) is ERR_CORRUPT at open", () => {
    using dir = tempDir();
    const path = dir.file("r.rec");
    const dataOffset = build(path);
    patchFile(path, dataOffset + 19 * Row.recordSize, new Uint8Array(Row.recordSize));
    for (const readonly of [true, false]) expect(thrown(() => RecordStore.open(path, Row, { readonly })).code).toBe("ERR_CORRUPT");
  });

  test("an append killed before publishing its count: whole, the writable open keeps it; torn, it is overwritten", () => {
    using dir = tempDir();
    const path = dir.file("r.rec");
    const dataOffset = build(path);
    // Whole: record 19 written, the count still 19 (also what a count moved down by one looks like).
    putCount(path, 19);
    {
      // A reader can't tell it from an append in flight: it sees 19 records meanwhile.
      using ro = RecordStore.open(path, Row, { readonly: true });
      expect(ro.length).toBe(19);
    }
    {
      using store = RecordStore.open(path, Row);
      expect(store.length).toBe(20);
      expect(store.getChecked(19).tag).toBe("t19");
      expect(store.append({ n: 20, tag: "t20" })).toBe(20);
    }
    // Torn: record 21 has fields but no CRC word yet.
    patchFile(path, dataOffset + 21 * Row.recordSize + 8, new Uint8Array([1, 2, 3, 4]));
    using store = RecordStore.open(path, Row);
    expect(store.length).toBe(21);
    expect(store.append({ n: 21, tag: "t21" })).toBe(21);
    expect(store.getChecked(21)).toEqual({ n: 21, x: 0, tag: "t21" });
  });

  test("a record store of format version 2 is refused with ERR_FORMAT", () => {
    using dir = tempDir();
    const path = dir.file("r.rec");
    build(path);
    const bytes = readFileSync(path);
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const fields = RECORDS_HEADER.fields.map((_, i) => view.getUint32(24 + i * 8, true));
    const old = encodeHeader({ ...RECORDS_HEADER, version: 2 }, Object.fromEntries(RECORDS_HEADER.fields.map((f, i) => [f, fields[i]!])) as Record<(typeof RECORDS_HEADER.fields)[number], number>);
    patchFile(path, 0, old);
    for (const readonly of [true, false]) {
      const e = thrown(() => RecordStore.open(path, Row, { readonly }));
      expect(e.code).toBe("ERR_FORMAT");
      expect(e.message).toContain("version 2");
    }
  });
});
