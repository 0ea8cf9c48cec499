import { describe, expect, test, setDefaultTimeout } from "bun:test";
import CRC32 from "crc-32";
import { readFileSync } from "node:fs";
import { RecordStore, schema, t, type Infer } from "../../src/records/index.ts";
import { tempDir, expectCode } from "../helpers/index.ts";
import { All, Tick } from "./fixtures.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

describe("schema layout", () => {
  test("fields are naturally aligned after the 8-byte record header (sequence word, CRC), records padded", () => {
    const S = schema({ a: t.u8, b: t.f64, c: t.u16, d: t.string(3), e: t.i32, f: t.bytes(300), g: t.bool }, { name: "S", version: 1 });
    // Computed by hand: seq 0..4, CRC 4..8, a 8, b 16..24, c 24..26, d (1-byte prefix) 26..30,
    // e 32..36, f (2-byte prefix) 36..338, g 338; end 339, padded to 8 -> 344.
    expect(S.layout.map((f) => [f.name, f.offset])).toEqual([
      ["a", 8], ["b", 16], ["c", 24], ["d", 26], ["e", 32], ["f", 36], ["g", 338],
    ]);
    expect(S.recordSize).toBe(344);
    for (const f of S.layout) expect(f.offset % f.type.align).toBe(0);
  });

  test("a record of only small fields is padded to 4", () => {
    const S = schema({ a: t.u8 }, { name: "S", version: 1 });
    expect(S.recordSize).toBe(12);
    // a 8, b 10..12, c 12; end 13 -> 16.
    expect(schema({ a: t.u8, b: t.u16, c: t.u8 }, { name: "S", version: 1 }).recordSize).toBe(16);
  });

  test("string and bytes length prefixes grow with the maximum", () => {
    expect(t.string(255).prefix).toBe(1);
    expect(t.string(256).prefix).toBe(2);
    expect(t.bytes(65535).prefix).toBe(2);
    expect(t.bytes(65536).prefix).toBe(4);
    expect(t.bytes(65536).align).toBe(4);
  });

  test("the hash is a CRC-32 over names, types, sizes, offsets and order", () => {
    const identity = JSON.stringify({ recordSize: All.recordSize, fields: All.layout.map((f) => [f.name, f.type.name, f.type.size, f.offset]) });
    expect(All.hash).toBe(CRC32.str(identity) >>> 0);
    const a = schema({ x: t.f64, y: t.f64 }, { name: "P", version: 1 });
    const b = schema({ y: t.f64, x: t.f64 }, { name: "P", version: 1 });
    expect(a.hash).not.toBe(b.hash);
  });

  test("bad schemas are ERR_INVALID", () => {
    expectCode(() => schema({}, { name: "E", version: 1 }), "ERR_INVALID");
    expectCode(() => schema({ index: t.u8 }, { name: "E", version: 1 }), "ERR_INVALID");
    expectCode(() => schema({ "not ok": t.u8 }, { name: "E", version: 1 }), "ERR_INVALID");
    expectCode(() => schema({ a: "u8" as never }, { name: "E", version: 1 }), "ERR_INVALID");
    expectCode(() => schema({ a: t.u8 }, { name: "E", version: -1 }), "ERR_INVALID");
    expectCode(() => t.string(0), "ERR_INVALID");
    expectCode(() => t.bytes(1.5), "ERR_INVALID");
  });

  test("Infer gives the record type", () => {
    type T = Infer<typeof Tick>;
    const v: T = { symbol: "A", price: 1, volume: 2, ts: 3n, flags: 4, live: true, raw: new Uint8Array(1) };
    // @ts-expect-error ts is a bigint
    const bad: T = { ...v, ts: 3 };
    expect(bad.ts).toBe(3 as never);
  });

  test("the file header is the shared format with a valid CRC (checked with npm crc-32)", () => {
    using dir = tempDir();
    const path = dir.file("t.rec");
    RecordStore.open(path, Tick, { capacity: 4 }).close();
    const bytes = readFileSync(path);
    expect(bytes.subarray(0, 8).toString("latin1")).toBe("OFFHEAP\0");
    expect(bytes.subarray(8, 12).toString("latin1")).toBe("RECS");
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const fieldCount = view.getUint32(16, true);
    const crcAt = 24 + fieldCount * 8;
    expect(view.getUint32(crcAt, true)).toBe(CRC32.buf(bytes.subarray(0, crcAt)) >>> 0);
    expect(Number(view.getBigUint64(24, true))).toBe(Tick.recordSize);
    expect(Number(view.getBigUint64(32, true))).toBe(1); // schema version
    expect(Number(view.getBigUint64(40, true))).toBe(Tick.hash);
  });
});
