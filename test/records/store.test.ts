import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { File, Mapping } from "../../ffi/index.ts";
import { encodeHeader } from "../../src/primitives/header.ts";
import { RecordStore, schema, t, type Infer } from "../../src/records/index.ts";
import { seededRandom, tempDir, expectCode } from "../helpers/index.ts";
import { All, Tick } from "./fixtures.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

type AllRecord = Infer<typeof All>;

const limits: AllRecord[] = [
  {
    u8: 0, u16: 0, u32: 0, i8: -128, i16: -32768, i32: -(2 ** 31), f32: -0, f64: -0,
    u64: 0n, i64: -(2n ** 63n), bool: false, name: "", raw: new Uint8Array(0),
  },
  {
    u8: 255, u16: 65535, u32: 2 ** 32 - 1, i8: 127, i16: 32767, i32: 2 ** 31 - 1, f32: 3.4028234663852886e38, f64: Number.MAX_VALUE,
    u64: 2n ** 64n - 1n, i64: 2n ** 63n - 1n, bool: true, name: "€€€€€a", raw: new Uint8Array([0, 255, 1, 254, 2, 253, 3, 252]),
  },
  {
    u8: 1, u16: 2, u32: 3, i8: -1, i16: -2, i32: -3, f32: Number.NaN, f64: Number.NaN,
    u64: 1n, i64: -1n, bool: true, name: "😀😀😀😀", raw: new Uint8Array([7]),
  },
  {
    u8: 128, u16: 32768, u32: 2 ** 31, i8: 0, i16: 0, i32: 0, f32: 1.401298464324817e-45, f64: Number.MIN_VALUE,
    u64: 2n ** 63n, i64: 0n, bool: false, name: "ÿ".repeat(8), raw: new Uint8Array(8).fill(9),
  },
  {
    u8: 7, u16: 7, u32: 7, i8: 7, i16: 7, i32: 7, f32: Number.NEGATIVE_INFINITY, f64: Number.POSITIVE_INFINITY,
    u64: 7n, i64: 7n, bool: false, name: "a\u0000b", raw: new Uint8Array(0),
  },
];

/** Field-by-field equality that tells -0 from 0 and accepts NaN. */
function expectSame(actual: AllRecord, expected: AllRecord): void {
  for (const key of Object.keys(expected) as Array<keyof AllRecord>) {
    const a = actual[key];
    const e = expected[key];
    if (typeof e === "number") expect(Object.is(a, e)).toBe(true);
    else expect(a).toEqual(e);
  }
}

describe("round trips", () => {
  test("every type at its limits, through append/get, at() and reopen", () => {
    using dir = tempDir();
    const path = dir.file("all.rec");
    const strings = limits.map((r) => Buffer.byteLength(r.name));
    expect(strings).toContain(16); // full-length multi-byte strings are in the set
    {
      using store = RecordStore.open(path, All, { capacity: 2 });
      for (const r of limits) store.append(r);
      limits.forEach((r, i) => {
        expectSame(store.get(i), r);
        const v = store.at(i);
        for (const key of Object.keys(r) as Array<keyof AllRecord>) {
          if (typeof r[key] === "number") expect(Object.is(v[key], r[key])).toBe(true);
          else expect(v[key]).toEqual(r[key]);
        }
      });
    }
    using again = RecordStore.open(path, All, { readonly: true });
    expect(again.length).toBe(limits.length);
    limits.forEach((r, i) => expectSame(again.get(i), r));
  });

  test("set writes through the live view and back, f32 rounds like Math.fround", () => {
    using dir = tempDir();
    using store = RecordStore.open(dir.file("a.rec"), All);
    store.append();
    const empty = store.get(0);
    expectSame(empty, { u8: 0, u16: 0, u32: 0, i8: 0, i16: 0, i32: 0, f32: 0, f64: 0, u64: 0n, i64: 0n, bool: false, name: "", raw: new Uint8Array(0) });
    limits.forEach((r) => {
      store.set(0, r);
      expectSame(store.get(0), r);
    });
    const v = store.at(0);
    v.f32 = 0.1;
    expect(v.f32).toBe(Math.fround(0.1));
    v.name = "日本語";
    v.raw = new Uint8Array([1, 2]);
    v.u64 = 5n;
    v.bool = true;
    expect(store.get(0)).toMatchObject({ name: "日本語", raw: new Uint8Array([1, 2]), u64: 5n, bool: true });
    store.set(0, { name: "x" });
    expect(store.get(0).name).toBe("x");
    expect(store.get(0).raw).toEqual(new Uint8Array([1, 2])); // fields not given stay
  });

  test("random records against an in-memory model, with getInto and iteration", () => {
    using dir = tempDir();
    const random = seededRandom(42);
    const model: Array<Infer<typeof Tick>> = [];
    using store = RecordStore.open(dir.file("t.rec"), Tick, { capacity: 3 });
    for (let n = 0; n < 2000; n++) {
      const r = {
        symbol: String.fromCharCode(...Array.from({ length: Math.floor(random() * 17) }, () => 97 + Math.floor(random() * 26))),
        price: random() * 1000,
        volume: Math.floor(random() * 1e6),
        ts: BigInt(Math.floor(random() * 2 ** 53)),
        flags: Math.floor(random() * 256),
        live: random() < 0.5,
        raw: Uint8Array.from({ length: Math.floor(random() * 33) }, () => Math.floor(random() * 256)),
      };
      if (model.length > 0 && random() < 0.3) {
        const i = Math.floor(random() * model.length);
        store.set(i, r);
        model[i] = r;
      } else {
        expect(store.append(r)).toBe(model.length);
        model.push(r);
      }
    }
    expect(store.length).toBe(model.length);
    expect([...store]).toEqual(model);
    const target = {} as Infer<typeof Tick>;
    for (let i = 0; i < model.length; i += 97) expect(store.getInto(i, target)).toEqual(model[i]!);
  });
});

describe("persistence and growth", () => {
  test("records, count and capacity survive close and reopen", () => {
    using dir = tempDir();
    const path = dir.file("p.rec");
    {
      using store = RecordStore.open(path, Tick, { capacity: 8 });
      for (let i = 0; i < 20; i++) store.append({ symbol: `s${i}`, price: i, ts: BigInt(i) });
      store.sync();
      expect(store.capacity).toBe(32);
    }
    using store = RecordStore.open(path, Tick);
    expect(store.length).toBe(20);
    expect(store.capacity).toBe(32);
    for (let i = 0; i < 20; i++) expect(store.get(i)).toMatchObject({ symbol: `s${i}`, price: i, ts: BigInt(i) });
    expect(store.append({ symbol: "next" })).toBe(20);
  });

  test("a larger capacity on reopen grows the file; a smaller one is ignored", () => {
    using dir = tempDir();
    const path = dir.file("c.rec");
    RecordStore.open(path, Tick, { capacity: 4 }).close();
    {
      using s = RecordStore.open(path, Tick, { capacity: 2 });
      expect(s.capacity).toBe(4);
    }
    using s = RecordStore.open(path, Tick, { capacity: 100 });
    expect(s.capacity).toBe(100);
  });

  test("growth from capacity 1 to 100,000 keeps every record; old views keep working", () => {
    using dir = tempDir();
    const S = schema({ a: t.u32, b: t.f64, c: t.i16 }, { name: "G", version: 1 });
    using store = RecordStore.open(dir.file("g.rec"), S, { capacity: 1 });
    store.append({ a: 0, b: 0.5, c: 0 });
    const first = store.at(0);
    using reader = RecordStore.open(dir.file("g.rec"), S, { readonly: true });
    const readerView = reader.at(0);
    for (let i = 1; i < 100_000; i++) store.append({ a: i, b: i + 0.5, c: i % 30000 });
    expect(store.length).toBe(100_000);
    expect(store.capacity).toBeGreaterThanOrEqual(100_000);
    expect(store.stats().growths).toBe(17); // 1 -> 2 -> … -> 131072
    for (let i = 0; i < 100_000; i++) {
      const r = store.get(i);
      if (r.a !== i || r.b !== i + 0.5 || r.c !== i % 30000) throw new Error(`record ${i} is ${JSON.stringify(r)}`);
    }
    // A view made before growth re-resolves the new mapping.
    expect(first.b).toBe(0.5);
    first.b = 9;
    expect(store.get(0).b).toBe(9);
    first.index = 99_999;
    expect(first.a).toBe(99_999);
    // The reader notices the new count and remaps.
    expect(readerView.b).toBe(9);
    expect(reader.length).toBe(100_000);
    expect(reader.get(99_999)).toEqual({ a: 99_999, b: 99_999.5, c: 99_999 % 30000 });
    readerView.index = 50_000;
    expect(readerView.a).toBe(50_000);
    expect(reader.stats().remaps).toBe(1);
  });
});

describe("errors", () => {
  test("ERR_TOO_LARGE: strings and bytes longer than the field; nothing is written", () => {
    using dir = tempDir();
    using store = RecordStore.open(dir.file("e.rec"), All);
    expectCode(() => store.append({ name: "x".repeat(17) }), "ERR_TOO_LARGE");
    expectCode(() => store.append({ name: "€".repeat(6) }), "ERR_TOO_LARGE"); // 18 bytes, 6 chars
    expect(store.length).toBe(0);
    store.append({ u8: 5, name: "ok" });
    expectCode(() => store.set(0, { u8: 6, raw: new Uint8Array(9) }), "ERR_TOO_LARGE");
    expect(store.get(0)).toMatchObject({ u8: 5, name: "ok" });
    expectCode(() => (store.at(0).name = "y".repeat(17)), "ERR_TOO_LARGE");
    expect(store.get(0).name).toBe("ok");
    expectCode(() => RecordStore.open(dir.file("huge.rec"), Tick, { capacity: 2 ** 31 }), "ERR_TOO_LARGE");
  });

  test("ERR_INVALID: values outside their type, bad options", () => {
    using dir = tempDir();
    using store = RecordStore.open(dir.file("i.rec"), All);
    store.append();
    const bad: Array<Partial<AllRecord>> = [
      { u8: 256 }, { u8: -1 }, { u8: 1.5 }, { i8: -129 }, { u16: 65536 }, { i16: 32768 }, { u32: -1 }, { i32: 2 ** 31 },
      { u64: -1n }, { u64: 2n ** 64n }, { i64: 2n ** 63n }, { u64: 1 as never }, { bool: 1 as never }, { f64: "1" as never },
      { name: 5 as never }, { raw: [1] as never },
    ];
    for (const values of bad) {
      expectCode(() => store.set(0, values), "ERR_INVALID");
      expectCode(() => store.append(values), "ERR_INVALID");
    }
    expectCode(() => store.set(0, null as never), "ERR_INVALID");
    expect(store.length).toBe(1);
    expectCode(() => RecordStore.open(dir.file("x.rec"), All, { capacity: 0 }), "ERR_INVALID");
    expectCode(() => RecordStore.open(dir.file("x.rec"), {} as never), "ERR_INVALID");
  });

  test("ERR_RANGE: indexes outside the store, ERR_INVALID: indexes that are no integer; checked before the record is touched", () => {
    using dir = tempDir();
    using store = RecordStore.open(dir.file("r.rec"), Tick, { capacity: 4 });
    store.append();
    for (const i of [-1, 1, 4, 2 ** 32]) {
      expectCode(() => store.get(i), "ERR_RANGE");
      expectCode(() => store.set(i, { price: 1 }), "ERR_RANGE");
      expectCode(() => store.at(i), "ERR_RANGE");
    }
    for (const i of [1.5, Number.NaN, "0" as unknown as number]) {
      expectCode(() => store.get(i), "ERR_INVALID");
      expectCode(() => store.set(i, { price: 1 }), "ERR_INVALID");
      expectCode(() => store.at(i), "ERR_INVALID");
    }
    const v = store.at(0);
    expectCode(() => (v.index = 1), "ERR_RANGE");
    expect(v.index).toBe(0);
  });

  test("ERR_READONLY: every write through a readonly handle", () => {
    using dir = tempDir();
    const path = dir.file("ro.rec");
    RecordStore.open(path, Tick).close();
    {
      using w = RecordStore.open(path, Tick);
      w.append({ price: 1 });
    }
    using r = RecordStore.open(path, Tick, { readonly: true });
    expectCode(() => r.append({ price: 2 }), "ERR_READONLY");
    expectCode(() => r.set(0, { price: 2 }), "ERR_READONLY");
    expectCode(() => (r.at(0).price = 2), "ERR_READONLY");
    expectCode(() => (r.at(0).symbol = "x"), "ERR_READONLY");
    expect(r.get(0).price).toBe(1);
  });

  test("ERR_LOCKED: a second writer; with lockTimeout, ERR_TIMEOUT; readers are not blocked", () => {
    using dir = tempDir();
    const path = dir.file("l.rec");
    using w = RecordStore.open(path, Tick);
    expectCode(() => RecordStore.open(path, Tick, { lockTimeout: 0 }), "ERR_LOCKED");
    expectCode(() => RecordStore.open(path, Tick, { lockTimeout: 30 }), "ERR_TIMEOUT");
    using r = RecordStore.open(path, Tick, { readonly: true });
    expect(r.length).toBe(0);
    w.close();
    using w2 = RecordStore.open(path, Tick);
    expect(w2.length).toBe(0);
  });

  test("ERR_LOCKED for a write to a record another writer holds; ERR_TIMEOUT for a reader of it", () => {
    using dir = tempDir();
    const path = dir.file("seq.rec");
    using store = RecordStore.open(path, Tick, { readTimeout: 20 });
    store.append({ price: 1 });
    store.append({ price: 2 });
    // Play the other writer: move record 0's sequence word to odd, as a writer mid-update would.
    const seqOffset = (dataOffset(path)) / 4;
    using file = File.open(path);
    using m = Mapping.file(file);
    const words = new Int32Array(m.buffer, 0, m.length >>> 2);
    Atomics.add(words, seqOffset, 1);
    expectCode(() => store.set(0, { price: 3 }), "ERR_LOCKED");
    expectCode(() => (store.at(0).symbol = "z"), "ERR_LOCKED");
    expectCode(() => store.get(0), "ERR_TIMEOUT");
    expect(store.get(1).price).toBe(2); // other records are unaffected
    expect(store.at(0).price).toBe(1); // the single-word raw read does not wait
    expect(store.stats().readTimeouts).toBe(1);
    Atomics.add(words, seqOffset, 1);
    store.set(0, { price: 3 });
    expect(store.get(0).price).toBe(3);
  });

  test("ERR_CLOSED after close; close is idempotent; every property of a view throws ERR_CLOSED", () => {
    using dir = tempDir();
    const store = RecordStore.open(dir.file("c.rec"), Tick);
    store.append({ price: 5, symbol: "a" });
    const v = store.at(0);
    store.close();
    store.close();
    expectCode(() => store.get(0), "ERR_CLOSED");
    expectCode(() => store.getInto(0, {}), "ERR_CLOSED");
    expectCode(() => store.set(0, { price: 1 }), "ERR_CLOSED");
    expectCode(() => store.append(), "ERR_CLOSED");
    expectCode(() => store.at(0), "ERR_CLOSED");
    expectCode(() => store.length, "ERR_CLOSED");
    expectCode(() => store.capacity, "ERR_CLOSED");
    expectCode(() => store.sync(), "ERR_CLOSED");
    expectCode(() => store.stats(), "ERR_CLOSED");
    expectCode(() => [...store], "ERR_CLOSED");
    expectCode(() => (v.index = 0), "ERR_CLOSED");
    expectCode(() => v.index, "ERR_CLOSED");
    expectCode(() => v.price, "ERR_CLOSED");
    expectCode(() => (v.price = 3), "ERR_CLOSED");
    expectCode(() => v.symbol, "ERR_CLOSED");
    expectCode(() => (v.symbol = "b"), "ERR_CLOSED");
    expectCode(() => v.toJSON(), "ERR_CLOSED");
    const r = RecordStore.open(dir.file("c.rec"), Tick, { readonly: true });
    r[Symbol.dispose]();
    expectCode(() => r.length, "ERR_CLOSED");
  });

  test("ERR_MISMATCH for a renamed, retyped, resized or reordered field or another version; file untouched", () => {
    using dir = tempDir();
    const path = dir.file("m.rec");
    const base = { a: t.f64, b: t.u32, s: t.string(8) };
    {
      using store = RecordStore.open(path, schema(base, { name: "M", version: 1 }));
      store.append({ a: 1, b: 2, s: "x" });
    }
    const before = readFileSync(path);
    const others = [
      schema({ a: t.f64, c: t.u32, s: t.string(8) }, { name: "M", version: 1 }),
      schema({ a: t.f64, b: t.i32, s: t.string(8) }, { name: "M", version: 1 }),
      schema({ a: t.f64, b: t.u32, s: t.string(9) }, { name: "M", version: 1 }),
      schema({ b: t.u32, a: t.f64, s: t.string(8) }, { name: "M", version: 1 }),
      schema({ a: t.f64, b: t.u32 }, { name: "M", version: 1 }),
      schema({ a: t.f64, b: t.u32, s: t.string(8), d: t.u8 }, { name: "M", version: 1 }),
      schema(base, { name: "M", version: 2 }),
    ];
    for (const other of others) {
      const e = expectCode(() => RecordStore.open(path, other), "ERR_MISMATCH");
      expect(e.message).toContain("file has");
      expectCode(() => RecordStore.open(path, other, { readonly: true }), "ERR_MISMATCH");
    }
    expect(readFileSync(path).equals(before)).toBe(true);
    // The same schema, made again, still opens.
    using ok = RecordStore.open(path, schema(base, { name: "Renamed type", version: 1 }));
    expect(ok.get(0)).toEqual({ a: 1, b: 2, s: "x" });
  });

  test("ERR_CORRUPT when the header claims more records than the file holds (no SIGBUS)", () => {
    using dir = tempDir();
    const path = dir.file("k.rec");
    {
      using store = RecordStore.open(path, Tick, { capacity: 8 });
      for (let i = 0; i < 8; i++) store.append({ price: i });
    }
    const good = readFileSync(path);
    // The file cut short: the capacity word claims 8 records.
    writeFileSync(path, good.subarray(0, good.length - Tick.recordSize * 3));
    expectCode(() => RecordStore.open(path, Tick, { readonly: true }), "ERR_CORRUPT");
    expectCode(() => RecordStore.open(path, Tick), "ERR_CORRUPT");
    // A count beyond the capacity.
    const badCount = Buffer.from(good);
    badCount.writeInt32LE(1000, 128);
    writeFileSync(path, badCount);
    expectCode(() => RecordStore.open(path, Tick, { readonly: true }), "ERR_CORRUPT");
    // A capacity beyond the file.
    const badCap = Buffer.from(good);
    badCap.writeInt32LE(1 << 20, 132);
    writeFileSync(path, badCap);
    expectCode(() => RecordStore.open(path, Tick, { readonly: true }), "ERR_CORRUPT");
    // A damaged header (CRC) and a damaged stored schema.
    const badHeader = Buffer.from(good);
    badHeader[30] = badHeader[30]! ^ 0xff;
    writeFileSync(path, badHeader);
    expectCode(() => RecordStore.open(path, Tick), "ERR_CORRUPT");
    const badSchema = Buffer.from(good);
    badSchema[200] = badSchema[200]! ^ 0x01;
    writeFileSync(path, badSchema);
    expectCode(() => RecordStore.open(path, Tick), "ERR_CORRUPT");
    // The intact file still opens.
    writeFileSync(path, good);
    using ok = RecordStore.open(path, Tick, { readonly: true });
    expect(ok.get(7).price).toBe(7);
  });

  test("ERR_CORRUPT for a reader when a grown count is not backed by the file", () => {
    using dir = tempDir();
    const path = dir.file("k2.rec");
    {
      using store = RecordStore.open(path, Tick, { capacity: 2 });
      store.append();
    }
    using reader = RecordStore.open(path, Tick, { readonly: true });
    // Pretend a writer published 100 records and a capacity of 128 without growing the file.
    using file = File.open(path);
    file.write(new Uint8Array(new Int32Array([100, 128]).buffer), 128);
    expectCode(() => reader.length, "ERR_CORRUPT");
    expectCode(() => reader.get(50), "ERR_CORRUPT");
  });

  test("ERR_FORMAT for a file that is not a record store; ERR_SYSTEM for a missing one", () => {
    using dir = tempDir();
    const path = dir.file("f.rec");
    writeFileSync(path, "hello, this is not a record store at all".repeat(10));
    expectCode(() => RecordStore.open(path, Tick), "ERR_FORMAT");
    writeFileSync(path, encodeHeader({ kind: "RING", name: "ring buffer", version: 1, fields: ["a"] }, { a: 1 }));
    expectCode(() => RecordStore.open(path, Tick, { readonly: true }), "ERR_FORMAT");
    expect(readFileSync(path).subarray(8, 12).toString()).toBe("RING");
    const e = expectCode(() => RecordStore.open(dir.file("missing.rec"), Tick, { readonly: true }), "ERR_SYSTEM");
    expect(e.errno).toBe("ENOENT");
  });

  test("ERR_FULL when one 4 GiB mapping can hold no more records", () => {
    using dir = tempDir();
    // Records of ~1 GiB in a sparse file: 4 fit in one mapping; only a few pages are touched.
    const Huge = schema({ x: t.u8, big: t.bytes(0x3fff_0000) }, { name: "Huge", version: 1 });
    using store = RecordStore.open(dir.file("full.rec"), Huge, { capacity: 1 });
    const none = new Uint8Array(0);
    for (let i = 0; i < 4; i++) store.append({ x: i, big: none });
    expectCode(() => store.append({ x: 9, big: none }), "ERR_FULL");
    expect(store.length).toBe(4);
    expect(store.at(3).x).toBe(3);
  });
});

test("stats() is a flat object of numbers", () => {
  using dir = tempDir();
  using store = RecordStore.open(dir.file("s.rec"), Tick, { capacity: 2 });
  store.append();
  store.append();
  store.append();
  const stats = store.stats();
  for (const value of Object.values(stats)) expect(typeof value).toBe("number");
  expect(stats).toMatchObject({ length: 3, capacity: 4, recordSize: Tick.recordSize, growths: 1 });
});

/** Byte offset of record 0, read from the header. */
function dataOffset(path: string): number {
  const bytes = readFileSync(path);
  return Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(24 + 5 * 8, true));
}

test("readonly handles stay safe when their reads are JIT-optimized (no write to a read-only page)", () => {
  using dir = tempDir();
  const path = dir.file("jit.rec");
  using w = RecordStore.open(path, Tick, { capacity: 64 });
  for (let i = 0; i < 64; i++) w.append({ symbol: `s${i}`, price: i, ts: BigInt(i) });
  using r = RecordStore.open(path, Tick, { readonly: true });
  const v = r.at(0);
  let sum = 0;
  for (let n = 0; n < 300_000; n++) {
    const i = n & 63;
    sum += r.get(i).price + r.length + r.capacity;
    v.index = i;
    sum += v.price + Number(v.ts) + v.symbol.length;
  }
  expect(sum).toBeGreaterThan(0);
  expect(r.get(63)).toMatchObject({ symbol: "s63", price: 63, ts: 63n });
});

test("a file left with a zero header by a crash during creation is initialized again; other zero files are refused", () => {
  using dir = tempDir();
  const path = dir.file("z.rec");
  RecordStore.open(path, Tick, { capacity: 4 }).close();
  const size = readFileSync(path).length;
  writeFileSync(path, new Uint8Array(size)); // sized, header never written
  expectCode(() => RecordStore.open(path, Tick, { readonly: true }), "ERR_FORMAT");
  {
    using store = RecordStore.open(path, Tick, { capacity: 4 });
    expect(store.length).toBe(0);
    store.append({ price: 1 });
  }
  writeFileSync(path, new Uint8Array(size + 4096)); // not a size we would have made
  expectCode(() => RecordStore.open(path, Tick, { capacity: 4 }), "ERR_FORMAT");
  expect(readFileSync(path).every((b) => b === 0)).toBe(true);
});
