import { describe, expect, test, setDefaultTimeout } from "bun:test";
import CRC32 from "crc-32";
import { File } from "../../ffi/index.ts";
import { ERROR_CODES, OffheapError } from "../../src/errors.ts";
import {
  CounterBlock,
  assertSameOptions,
  decodeAnyHeader,
  decodeHeader,
  encodeHeader,
  getU64,
  headerBytes,
  readHeader,
  registerKind,
  setU64,
  type HeaderSpec,
} from "../../src/primitives/header.ts";
import { crc32, crc32Range } from "../../src/primitives/crc.ts";
import { codeOf, seededRandom, tempDir, thrown } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const spec: HeaderSpec<"recordSize" | "capacity" | "shards"> = {
  kind: "TEST",
  name: "test file",
  version: 3,
  fields: ["recordSize", "capacity", "shards"],
};
const values = { recordSize: 128, capacity: 2 ** 40 + 3, shards: 4 };


describe("crc32", () => {
  test("matches the crc-32 package on fixed and random inputs", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    const random = seededRandom(1);
    for (const size of [0, 1, 3, 64, 100, 4096, 65537]) {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = Math.floor(random() * 256);
      expect(crc32(bytes)).toBe(CRC32.buf(bytes) >>> 0);
      // crc32Range (the JS loop counter blocks use) of any range agrees too.
      const from = Math.floor(size / 3);
      expect(crc32Range(bytes, from, size)).toBe(CRC32.buf(bytes.subarray(from)) >>> 0);
    }
  });
});

describe("u64 helpers", () => {
  test("round-trip safe integers across the 32-bit boundary", () => {
    const view = new DataView(new ArrayBuffer(8));
    for (const n of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) {
      setU64(view, 0, n);
      expect(getU64(view, 0)).toBe(n);
      expect(view.getBigUint64(0, true)).toBe(BigInt(n));
    }
  });
});

describe("file header", () => {
  test("round-trips its layout fields, and its CRC is the crc-32 of the bytes before it", () => {
    const bytes = encodeHeader(spec, values);
    expect(bytes.length).toBe(headerBytes(spec));
    expect(new TextDecoder().decode(bytes.subarray(0, 8))).toBe("OFFHEAP\0");
    expect(decodeHeader(spec, bytes, "f")).toEqual(values);
    const stored = new DataView(bytes.buffer).getUint32(bytes.length - 4, true);
    expect(stored).toBe(CRC32.buf(bytes.subarray(0, bytes.length - 4)) >>> 0);
  });

  test("a flipped bit anywhere is ERR_CORRUPT or ERR_FORMAT, never a wrong value", () => {
    const good = encodeHeader(spec, values);
    for (let i = 0; i < good.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const bad = good.slice();
        bad[i]! ^= bit;
        const code = codeOf(() => decodeHeader(spec, bad, "f"));
        expect(["ERR_CORRUPT", "ERR_FORMAT"]).toContain(code);
        // Past the magic, damage is a checksum failure.
        if (i >= 8) expect(code).toBe("ERR_CORRUPT");
      }
    }
  });

  test("every truncation is ERR_CORRUPT (an empty file, with nothing to tell it is ours, is ERR_FORMAT)", () => {
    const good = encodeHeader(spec, values);
    for (let n = 0; n < good.length; n++) {
      const code = codeOf(() => decodeHeader(spec, good.subarray(0, n), "f"));
      expect({ n, code }).toEqual({ n, code: n === 0 ? "ERR_FORMAT" : "ERR_CORRUPT" });
    }
    expect(codeOf(() => decodeHeader(spec, new TextEncoder().encode("OFF"), "f"))).toBe("ERR_CORRUPT");
    expect(codeOf(() => decodeHeader(spec, new TextEncoder().encode("OFX"), "f"))).toBe("ERR_FORMAT");
  });

  test("a file of another kind or version is ERR_FORMAT and names what it is", () => {
    registerKind({ kind: "OTHR", name: "other thing", version: 1, fields: [] });
    const other = encodeHeader({ kind: "OTHR", name: "other thing", version: 1, fields: ["recordSize"] }, { recordSize: 1 });
    let message = "";
    try {
      decodeHeader(spec, other, "f");
    } catch (e) {
      expect((e as OffheapError).code).toBe("ERR_FORMAT");
      message = (e as OffheapError).message;
    }
    expect(message).toContain("other thing");
    const newer = encodeHeader({ ...spec, version: 4 }, values);
    expect(codeOf(() => decodeHeader(spec, newer, "f"))).toBe("ERR_FORMAT");
    expect(decodeAnyHeader(newer, "f")).toEqual({ kind: "TEST", version: 4, fields: [128, 2 ** 40 + 3, 4] });
  });

  test("a foreign file, read from disk, is ERR_FORMAT and the message shows what was found", () => {
    using dir = tempDir();
    using f = File.open(dir.file("x.json"), { create: true });
    f.write(new TextEncoder().encode('{"not": "ours"}'), 0);
    const head = new Uint8Array(64);
    const n = f.read(head, 0);
    let err: OffheapError | undefined;
    try {
      decodeHeader(spec, head.subarray(0, n), f.path);
    } catch (e) {
      err = e as OffheapError;
    }
    expect(err?.code).toBe("ERR_FORMAT");
    expect(err?.message).toContain("not an offheap file");
    expect(err?.path).toBe(f.path);
    expect(codeOf(() => decodeHeader(spec, new Uint8Array(0), "empty"))).toBe("ERR_FORMAT");
  });

  test("readHeader reads and checks the header at the start of a file", () => {
    using dir = tempDir();
    using f = File.open(dir.file("h"), { create: true });
    f.write(encodeHeader(spec, values), 0);
    expect(readHeader(spec, f)).toEqual(values);
    f.truncate(10);
    const err = thrown(() => readHeader(spec, f));
    expect([err.code, err.path]).toEqual(["ERR_CORRUPT", f.path]);
  });

  test("bad field values are refused when encoding", () => {
    expect(codeOf(() => encodeHeader(spec, { ...values, capacity: -1 }))).toBe("ERR_INVALID");
    expect(codeOf(() => encodeHeader(spec, { ...values, capacity: 1.5 }))).toBe("ERR_INVALID");
  });
});

describe("assertSameOptions", () => {
  test("passes for equal or omitted options, ERR_MISMATCH naming each difference otherwise", () => {
    const stored = { recordSize: 128, capacity: 1024, io: "mmap" };
    assertSameOptions("p", "ring", stored, { recordSize: 128, capacity: undefined });
    let err: OffheapError | undefined;
    try {
      assertSameOptions("p", "ring", stored, { recordSize: 64, capacity: 2048 });
    } catch (e) {
      err = e as OffheapError;
    }
    expect(err?.code).toBe("ERR_MISMATCH");
    expect(err?.message).toContain("recordSize: file has 128, given 64");
    expect(err?.message).toContain("capacity: file has 1024, given 2048");
  });
});

describe("CounterBlock", () => {
  const block = new CounterBlock(16, 3);

  test("never written reads as undefined; each write is read back with its sequence", () => {
    const bytes = new Uint8Array(16 + block.size);
    expect(block.read(bytes, "f")).toBeUndefined();
    for (let seq = 1; seq <= 5; seq++) {
      block.write(bytes, seq, [seq, seq * 10, 2 ** 45 + seq]);
      expect(block.read(bytes, "f")).toEqual({ seq, values: [seq, seq * 10, 2 ** 45 + seq] });
    }
  });

  test("a torn write of the newer copy leaves the previous values", () => {
    const bytes = new Uint8Array(16 + block.size);
    block.write(bytes, 1, [1, 2, 3]);
    const before = bytes.slice();
    block.write(bytes, 2, [4, 5, 6]);
    const [start, end] = block.copyRange(0);
    // Every prefix of the second write, as a crash part-way through would leave it. The
    // new values count only once their CRC (the last 4 bytes before padding) is whole.
    const complete = start + 8 + 3 * 8 + 4;
    for (let cut = start; cut <= end; cut++) {
      const torn = before.slice();
      torn.set(bytes.subarray(start, cut), start);
      const got = block.read(torn, "f");
      expect(got?.values).toEqual(cut >= complete ? [4, 5, 6] : [1, 2, 3]);
    }
  });

  test("both copies damaged is ERR_CORRUPT", () => {
    const bytes = new Uint8Array(16 + block.size);
    block.write(bytes, 1, [1, 2, 3]);
    block.write(bytes, 2, [4, 5, 6]);
    bytes[block.copyRange(0)[0] + 9]! ^= 1;
    expect(block.read(bytes, "f")?.values).toEqual([1, 2, 3]);
    bytes[block.copyRange(1)[0] + 9]! ^= 1;
    expect(codeOf(() => block.read(bytes, "f"))).toBe("ERR_CORRUPT");
  });
});

describe("OffheapError", () => {
  test("every documented code exists, and no other", () => {
    expect(Object.keys(ERROR_CODES).sort()).toEqual(
      [
        "ERR_CLOSED", "ERR_LOCKED", "ERR_CORRUPT", "ERR_FORMAT", "ERR_MISMATCH", "ERR_RANGE", "ERR_TOO_LARGE",
        "ERR_FULL", "ERR_READONLY", "ERR_INVALID", "ERR_LAPPED", "ERR_TIMEOUT", "ERR_SYSTEM", "ERR_UPSTREAM",
      ].sort(),
    );
  });

  test("carries code, details and cause", () => {
    const cause = new Error("inner");
    const e = new OffheapError("ERR_LAPPED", "reader overtaken", { missed: 12, path: "p", cause });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("OffheapError");
    expect([e.code, e.missed, e.path, e.cause]).toEqual(["ERR_LAPPED", 12, "p", cause]);
  });
});
