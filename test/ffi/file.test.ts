import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { statSync, writeFileSync } from "node:fs";
import { File } from "../../ffi/index.ts";
import { tempDir, thrown } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);


describe("File", () => {
  test("write then read back at offsets, and size follows", () => {
    using dir = tempDir();
    using f = File.open(dir.file("a"), { create: true });
    const data = new TextEncoder().encode("hello, offheap");
    f.write(data, 100);
    expect(f.size).toBe(100 + data.length);
    const back = new Uint8Array(data.length);
    expect(f.read(back, 100)).toBe(data.length);
    expect(new TextDecoder().decode(back)).toBe("hello, offheap");
    // The gap before offset 100 reads as zeros.
    const gap = new Uint8Array(100).fill(7);
    expect(f.read(gap, 0)).toBe(100);
    expect(gap.every((b) => b === 0)).toBe(true);
  });

  test("a read past the end returns the bytes that exist", () => {
    using dir = tempDir();
    writeFileSync(dir.file("a"), "12345");
    using f = File.open(dir.file("a"), { readonly: true });
    const buf = new Uint8Array(10);
    expect(f.read(buf, 3)).toBe(2);
    expect(new TextDecoder().decode(buf.subarray(0, 2))).toBe("45");
    expect(f.read(buf, 50)).toBe(0);
  });

  test("large reads and writes move every byte", () => {
    using dir = tempDir();
    using f = File.open(dir.file("big"), { create: true });
    const data = new Uint8Array(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
    f.write(data, 4096);
    const back = new Uint8Array(data.length);
    expect(f.read(back, 4096)).toBe(data.length);
    expect(Buffer.compare(back, data)).toBe(0);
  });

  test("truncate grows with zeros and shrinks; sync and datasync succeed", () => {
    using dir = tempDir();
    using f = File.open(dir.file("a"), { create: true });
    f.truncate(10_000);
    expect(f.size).toBe(10_000);
    f.truncate(10);
    expect(f.size).toBe(10);
    f.sync();
    f.datasync();
    expect(thrown(() => f.truncate(-1)).code).toBe("ERR_INVALID");
  });

  test("startWriteback starts writing a range back; the data reads the same; a bad range is ERR_SYSTEM", () => {
    using dir = tempDir();
    using f = File.open(dir.file("a"), { create: true });
    const data = new Uint8Array(1 << 20).fill(9);
    f.write(data, 0);
    f.startWriteback(0, data.length);
    f.datasync();
    const back = new Uint8Array(data.length);
    expect(f.read(back, 0)).toBe(data.length);
    expect(Buffer.compare(back, data)).toBe(0);
    if (process.platform === "linux") expect(thrown(() => f.startWriteback(-4096, 10)).errno).toBe("EINVAL");
  });

  test("ENOENT for a missing file, with errno, syscall and path", () => {
    using dir = tempDir();
    const err = thrown(() => File.open(dir.file("missing")));
    expect(err.code).toBe("ERR_SYSTEM");
    expect(err.errno).toBe("ENOENT");
    expect(err.syscall).toBe("open");
    expect(err.path).toBe(dir.file("missing"));
    expect(err.message).toContain("ENOENT");
  });

  test("EISDIR for a directory, read-write and read-only", () => {
    using dir = tempDir();
    expect(thrown(() => File.open(dir.path)).errno).toBe("EISDIR");
    expect(thrown(() => File.open(dir.path, { readonly: true })).errno).toBe("EISDIR");
  });

  test("EEXIST for an exclusive create of an existing file", () => {
    using dir = tempDir();
    writeFileSync(dir.file("a"), "x");
    const err = thrown(() => File.open(dir.file("a"), { create: true, exclusive: true }));
    expect(err.errno).toBe("EEXIST");
  });

  test("the mode argument is applied to created files", () => {
    using dir = tempDir();
    using f = File.open(dir.file("a"), { create: true, mode: 0o600 });
    expect(statSync(dir.file("a")).mode & 0o777).toBe(0o600 & ~process.umask());
    expect(f.isOpen).toBe(true);
  });

  test("writes through a read-only file are ERR_READONLY", () => {
    using dir = tempDir();
    writeFileSync(dir.file("a"), "x");
    using f = File.open(dir.file("a"), { readonly: true });
    expect(thrown(() => f.write(new Uint8Array(1), 0)).code).toBe("ERR_READONLY");
    expect(thrown(() => f.truncate(0)).code).toBe("ERR_READONLY");
  });

  test("every call after close is ERR_CLOSED; close is idempotent", () => {
    using dir = tempDir();
    const f = File.open(dir.file("a"), { create: true });
    f.close();
    f.close();
    expect(f.isOpen).toBe(false);
    for (const call of [
      () => f.read(new Uint8Array(1), 0),
      () => f.write(new Uint8Array(1), 0),
      () => f.size,
      () => f.sync(),
      () => f.datasync(),
      () => f.truncate(1),
      () => f.startWriteback(0, 1),
    ]) {
      expect(thrown(call).code).toBe("ERR_CLOSED");
    }
  });
});
