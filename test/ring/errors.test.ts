/**
 * Every error code the ring raises, each triggered and checked: code, and a message that
 * says what was expected and what was found.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { RingBuffer } from "../../src/ring/index.ts";
import { OffheapError } from "../../src/errors.ts";
import { encodeHeader, type HeaderSpec } from "../../src/primitives/header.ts";
import { Child, ROOT, codeOf, tempDir, thrown, writeScript } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);



describe("RingBuffer errors", () => {
  test("ERR_TOO_LARGE: a record longer than recordSize, in append, appendMany and write", () => {
    using dir = tempDir();
    using ring = RingBuffer.open(dir.file("r"), { recordSize: 4, capacity: 4 });
    const e = thrown(() => ring.append("12345"));
    expect(e.code).toBe("ERR_TOO_LARGE");
    expect(e.message).toContain("at most 4 bytes");
    expect(e.message).toContain("got 5");
    expect(codeOf(() => ring.appendMany(["ok", "too long"]))).toBe("ERR_TOO_LARGE");
    expect(ring.next).toBe(0); // nothing of the failed batch was written
    expect(codeOf(() => ring.write(0, new Uint8Array(5)))).toBe("ERR_TOO_LARGE");
    expect(ring.append("1234")).toBeNumber();
  });

  test("ERR_TOO_LARGE: a single shard larger than one mapping can hold; no file is created", () => {
    using dir = tempDir();
    const e = thrown(() => RingBuffer.open(dir.file("huge"), { recordSize: 4096, capacity: 2_000_000, shards: 1 }));
    expect(e.code).toBe("ERR_TOO_LARGE");
    expect(existsSync(dir.file("huge"))).toBe(false);
  });

  test("ERR_RANGE: negative ids, writes before first, a target too small", () => {
    using dir = tempDir();
    using ring = RingBuffer.open(dir.file("r"), { recordSize: 8, capacity: 2 });
    ring.appendMany(["a", "b", "c"]);
    expect(codeOf(() => ring.get(-1))).toBe("ERR_RANGE");
    const e = thrown(() => ring.write(0, "x"));
    expect(e.code).toBe("ERR_RANGE");
    expect(e.message).toContain("ids 1 to 2");
    expect(codeOf(() => ring.getInto(1, new Uint8Array(0)))).toBe("ERR_RANGE");
    expect(codeOf(() => ring.write(Number.MAX_SAFE_INTEGER, "x"))).toBe("ERR_RANGE");
  });

  test("ERR_MISMATCH: other options on reopen, and the files stay byte-for-byte unchanged", () => {
    using dir = tempDir();
    const path = dir.file("r");
    {
      using ring = RingBuffer.open(path, { recordSize: 16, capacity: 8, shards: 2 });
      ring.appendMany(["a", "b", "c"]);
    }
    const before = [readFileSync(path), readFileSync(`${path}.1`)];
    for (const options of [{ recordSize: 32 }, { capacity: 9 }, { shards: 1 }, { recordSize: 16, capacity: 4 }]) {
      const e = thrown(() => RingBuffer.open(path, options));
      expect(e.code).toBe("ERR_MISMATCH");
      expect(e.message).toContain("file has");
      expect(codeOf(() => RingBuffer.open(path, { ...options, readonly: true }))).toBe("ERR_MISMATCH");
    }
    expect(readFileSync(path).equals(before[0]!)).toBe(true);
    expect(readFileSync(`${path}.1`).equals(before[1]!)).toBe(true);
    using ring = RingBuffer.open(path, { recordSize: 16, capacity: 8, shards: 2 });
    expect(ring.next).toBe(3);
  });

  test("ERR_LOCKED: a second writer; ERR_TIMEOUT after lockTimeout; the lock frees on close", () => {
    using dir = tempDir();
    const path = dir.file("r");
    const ring = RingBuffer.open(path, { recordSize: 8, capacity: 4 });
    const e = thrown(() => RingBuffer.open(path, { lockTimeout: 0 }));
    expect(e.code).toBe("ERR_LOCKED");
    expect(e.message).toContain("readonly");
    expect(e.message).toContain("lockTimeout");
    expect(codeOf(() => RingBuffer.open(path, { lockTimeout: 30 }))).toBe("ERR_TIMEOUT");
    using reader = RingBuffer.open(path, { readonly: true });
    ring.close();
    using second = RingBuffer.open(path, { lockTimeout: 1000 });
    expect(second.next).toBe(0);
  });

  test("ERR_LOCKED across processes; the lock is released when the holder is killed", async () => {
    using dir = tempDir();
    const path = dir.file("r");
    RingBuffer.open(path, { recordSize: 8, capacity: 4 }).close();
    const script = writeScript(
      dir.path,
      "holder.ts",
      `import { RingBuffer } from "${ROOT}/src/ring/index.ts";
       const ring = RingBuffer.open(${JSON.stringify(path)});
       ring.append("held");
       console.log("ready");
       setInterval(() => {}, 1000);`,
    );
    const holder = new Child(script);
    try {
      await holder.waitForLine((l) => l === "ready");
      expect(codeOf(() => RingBuffer.open(path, { lockTimeout: 0 }))).toBe("ERR_LOCKED");
      using reader = RingBuffer.open(path, { readonly: true });
      expect(new TextDecoder().decode(reader.get(0))).toBe("held");
    } finally {
      await holder.kill();
    }
    using ring = RingBuffer.open(path, { lockTimeout: 5000 });
    expect(ring.append("mine")).toBe(1);
  });

  test("by default an open waits for a writer that is closing (a restart), instead of failing", async () => {
    using dir = tempDir();
    const path = dir.file("r");
    RingBuffer.open(path, { recordSize: 8, capacity: 4 }).close();
    const script = writeScript(
      dir.path,
      "closing.ts",
      `import { RingBuffer } from "${ROOT}/src/ring/index.ts";
       const ring = RingBuffer.open(${JSON.stringify(path)});
       ring.append("old");
       console.log("ready");
       setTimeout(() => ring.close(), 300);`,
    );
    const holder = new Child(script);
    try {
      await holder.waitForLine((l) => l === "ready");
      using ring = RingBuffer.open(path);
      expect(ring.append("new")).toBe(1);
    } finally {
      await holder.kill();
    }
  });

  test("ERR_READONLY: writes through a read-only handle", () => {
    using dir = tempDir();
    const path = dir.file("r");
    RingBuffer.open(path, { recordSize: 8, capacity: 4 }).close();
    using reader = RingBuffer.open(path, { readonly: true });
    for (const fn of [() => reader.append("a"), () => reader.appendMany(["a"]), () => reader.write(0, "a"), () => reader.delete(0)]) {
      expect(codeOf(fn)).toBe("ERR_READONLY");
    }
    expect(reader.get(0)).toBeUndefined();
  });

  test("ERR_CLOSED: every call after close", async () => {
    using dir = tempDir();
    const ring = RingBuffer.open(dir.file("r"), { recordSize: 8, capacity: 4 });
    ring.append("a");
    ring.close();
    const calls: Array<() => unknown> = [
      () => ring.append("a"),
      () => ring.appendMany(["a"]),
      () => ring.write(0, "a"),
      () => ring.get(0),
      () => ring.getInto(0, new Uint8Array(8)),
      () => ring.delete(0),
      () => ring.first,
      () => ring.next,
      () => ring.size,
      () => ring.range().next(),
      () => ring.follow(),
      () => ring.sync(),
      () => ring.stats(),
    ];
    for (const call of calls) expect(codeOf(call)).toBe("ERR_CLOSED");
    ring.close();
    ring[Symbol.dispose]();
  });

  test("ERR_CORRUPT: a flipped payload byte; the neighbours still read", () => {
    using dir = tempDir();
    const path = dir.file("r");
    RingBuffer.open(path, { recordSize: 16, capacity: 4 }).close();
    {
      using ring = RingBuffer.open(path);
      ring.appendMany(["zero", "one", "two"]);
    }
    const bytes = readFileSync(path);
    bytes[4096 + 24 + 16 + 1]! ^= 0x40; // slot 1 (24-byte slots), second payload byte
    writeFileSync(path, bytes);
    for (const io of ["mmap", "pread"] as const) {
      using ring = RingBuffer.open(path, { readonly: true, io });
      const e = thrown(() => ring.get(1));
      expect(e.code).toBe("ERR_CORRUPT");
      expect(e.message).toContain("CRC");
      expect(codeOf(() => ring.getInto(1, new Uint8Array(16)))).toBe("ERR_CORRUPT");
      expect(new TextDecoder().decode(ring.get(0))).toBe("zero");
      expect(new TextDecoder().decode(ring.get(2))).toBe("two");
    }
  });

  test("ERR_FORMAT: not an offheap file, another kind, another version", () => {
    using dir = tempDir();
    const plain = dir.file("plain");
    writeFileSync(plain, "hello, this is not a ring at all".repeat(200));
    expect(codeOf(() => RingBuffer.open(plain))).toBe("ERR_FORMAT");
    expect(codeOf(() => RingBuffer.open(plain, { readonly: true }))).toBe("ERR_FORMAT");
    const other: HeaderSpec<"a"> = { kind: "QUEX", name: "something else", version: 1, fields: ["a"] };
    const foreign = dir.file("foreign");
    writeFileSync(foreign, Buffer.concat([encodeHeader(other, { a: 1 }), Buffer.alloc(8192)]));
    const e = thrown(() => RingBuffer.open(foreign));
    expect(e.code).toBe("ERR_FORMAT");
    expect(e.message).toContain("not a ring buffer");
    const path = dir.file("v");
    RingBuffer.open(path, { recordSize: 8, capacity: 2 }).close();
    const bytes = readFileSync(path);
    const spec: HeaderSpec<string> = {
      kind: "RING",
      name: "ring buffer",
      version: 99,
      fields: ["recordSize", "capacity", "shards", "shardIndex", "slotBytes", "slotsPerShard", "dataOffset", "ringId"],
    };
    const header = encodeHeader(spec, { recordSize: 8, capacity: 2, shards: 1, shardIndex: 0, slotBytes: 24, slotsPerShard: 2, dataOffset: 4096, ringId: 1 });
    bytes.set(header, 0);
    writeFileSync(path, bytes);
    expect(thrown(() => RingBuffer.open(path)).message).toContain("version 99");
  });

  test("ERR_INVALID: bad options and arguments; no file is created", () => {
    using dir = tempDir();
    const path = dir.file("r");
    expect(codeOf(() => RingBuffer.open(path))).toBe("ERR_INVALID");
    expect(codeOf(() => RingBuffer.open(path, { recordSize: 0, capacity: 4 }))).toBe("ERR_INVALID");
    expect(codeOf(() => RingBuffer.open(path, { recordSize: 8, capacity: 1.5 }))).toBe("ERR_INVALID");
    RingBuffer.open(path, { recordSize: 8, capacity: 4, shards: 4 }).close();
    expect(codeOf(() => RingBuffer.open(dir.file("s"), { recordSize: 8, capacity: 4, shards: 3 }))).toBe("ERR_INVALID");
    expect(codeOf(() => RingBuffer.open(dir.file("t"), { recordSize: 8, capacity: 4, io: "aio" as never }))).toBe("ERR_INVALID");
    expect(codeOf(() => RingBuffer.open(dir.file("t"), { recordSize: 8, capacity: 4, sync: "sometimes" as never }))).toBe("ERR_INVALID");
    expect(codeOf(() => RingBuffer.open(dir.file("t"), { recordSize: 8, capacity: 4, prefetch: -1 }))).toBe("ERR_INVALID");
    expect(existsSync(dir.file("t"))).toBe(false);
    expect(existsSync(dir.file("s"))).toBe(false);
  });

  test("ERR_INVALID: non-integer ids and bad follow options", () => {
    using dir = tempDir();
    using ring = RingBuffer.open(dir.file("r"), { recordSize: 8, capacity: 4 });
    expect(codeOf(() => ring.get(1.5))).toBe("ERR_INVALID");
    expect(codeOf(() => ring.get(Number.NaN))).toBe("ERR_INVALID");
    expect(codeOf(() => ring.follow(0, { onLap: "ignore" as never }))).toBe("ERR_INVALID");
    expect(codeOf(() => ring.append(42 as never))).toBe("ERR_INVALID");
  });

  test("ERR_SYSTEM: a read-only open of a missing file names errno and path", () => {
    using dir = tempDir();
    const e = thrown(() => RingBuffer.open(dir.file("missing"), { readonly: true }));
    expect(e.code).toBe("ERR_SYSTEM");
    expect(e.errno).toBe("ENOENT");
    expect(e.path).toBe(dir.file("missing"));
  });

  test("ERR_LAPPED: a follower overtaken by the writer, with how many it missed", async () => {
    using dir = tempDir();
    using ring = RingBuffer.open(dir.file("r"), { recordSize: 8, capacity: 4 });
    for (let i = 0; i < 10; i++) ring.append(`x${i}`);
    let caught: unknown;
    try {
      for await (const _ of ring.follow(0)) break;
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(OffheapError);
    expect((caught as OffheapError).code).toBe("ERR_LAPPED");
    expect((caught as OffheapError).missed).toBe(6);
  });
});
