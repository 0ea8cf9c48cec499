/**
 * allocate(): space for a range is reserved before a mapping writes it, so a full disk is
 * ENOSPC from the call that asked, never SIGBUS from a store. Needs root (a tiny tmpfs);
 * CI runs as root.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { File, allocate, writeZeros } from "../../ffi/index.ts";
import { ROOT, runScript, tempDir, thrown, tinyFilesystem, writeScript } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

describe("allocate", () => {
  test("reserves blocks for the range and grows the file; existing bytes stay", () => {
    using fs = tinyFilesystem();
    using f = File.open(fs.file("a"), { create: true });
    f.write(new TextEncoder().encode("keep"), 0);
    allocate(f, 0, 256 << 10);
    expect(f.size).toBe(256 << 10);
    // Blocks are counted in 512-byte units: all of the range is allocated, not a hole.
    expect(statSync(fs.file("a")).blocks * 512).toBeGreaterThanOrEqual(256 << 10);
    const back = new Uint8Array(4);
    f.read(back, 0);
    expect(new TextDecoder().decode(back)).toBe("keep");
  });

  test("on a full disk: ERR_SYSTEM ENOSPC, and the file keeps its size", () => {
    using fs = tinyFilesystem();
    using f = File.open(fs.file("a"), { create: true });
    allocate(f, 0, 64 << 10);
    fs.fill();
    const e = thrown(() => allocate(f, 64 << 10, 64 << 10));
    expect([e.code, e.errno, e.syscall]).toEqual(["ERR_SYSTEM", "ENOSPC", "fallocate"]);
    expect(f.size).toBe(64 << 10);
    fs.free();
    allocate(f, 64 << 10, 64 << 10);
    expect(f.size).toBe(128 << 10);
  });

  test("the zero-writing fallback fills the range and, on a full disk, cuts the file back", () => {
    using fs = tinyFilesystem();
    using f = File.open(fs.file("a"), { create: true });
    writeZeros(f, 0, (1 << 20) + 123);
    expect(f.size).toBe((1 << 20) + 123);
    expect(statSync(fs.file("a")).blocks * 512).toBeGreaterThanOrEqual((1 << 20) + 123);
    fs.fill();
    const e = thrown(() => writeZeros(f, f.size, 1 << 20));
    expect([e.code, e.errno]).toEqual(["ERR_SYSTEM", "ENOSPC"]);
    expect(f.size).toBe((1 << 20) + 123);
  });

  test("keepData fills the holes of a file with data, keeping every byte (a file made before allocation)", () => {
    using fs = tinyFilesystem();
    using f = File.open(fs.file("old"), { create: true });
    f.truncate(256 << 10); // holes, as older versions made their files
    f.write(new TextEncoder().encode("head"), 0);
    f.write(new TextEncoder().encode("tail"), 200 << 10);
    expect(statSync(fs.file("old")).blocks * 512).toBeLessThan(256 << 10);
    allocate(f, 0, 256 << 10, { keepData: true });
    expect(statSync(fs.file("old")).blocks * 512).toBeGreaterThanOrEqual(256 << 10);
    const back = new Uint8Array(4);
    f.read(back, 200 << 10);
    expect(new TextDecoder().decode(back)).toBe("tail");
    f.read(back, 0);
    expect(new TextDecoder().decode(back)).toBe("head");
    // Allocated already: on a full disk it needs nothing and succeeds.
    fs.fill();
    allocate(f, 0, 256 << 10, { keepData: true });
  });

  test("bad arguments and read-only files are refused", () => {
    using dir = tempDir();
    using f = File.open(dir.file("a"), { create: true });
    expect(thrown(() => allocate(f, -1, 10)).code).toBe("ERR_INVALID");
    expect(thrown(() => allocate(f, 0, 1.5)).code).toBe("ERR_INVALID");
    using ro = File.open(dir.file("a"), { readonly: true });
    expect(thrown(() => allocate(ro, 0, 10)).code).toBe("ERR_READONLY");
  });

  test("stores through a mapping of an allocated range on a full disk succeed; a sparse range gets SIGBUS", async () => {
    using fs = tinyFilesystem();
    using dir = tempDir();
    // The child fills the disk itself, then stores into every page of the mapping.
    const script = writeScript(
      dir.path,
      "store",
      `import { File, Mapping, allocate } from "${ROOT}/ffi/index.ts";
      import { openSync, writeSync } from "node:fs";
      const [path, mode] = process.argv.slice(2);
      const f = File.open(path, { create: true });
      if (mode === "allocated") allocate(f, 0, 256 << 10); else f.truncate(256 << 10);
      const fd = openSync(path + ".filler", "a");
      try { for (;;) writeSync(fd, new Uint8Array(4096)); } catch {}
      const m = Mapping.file(f);
      for (let i = 0; i < m.length; i += 4096) m.bytes[i] = 1;
      m.sync();
      console.log("stored");`,
    );
    const allocated = await runScript(script, [join(fs.path, "allocated"), "allocated"]);
    expect({ code: allocated.exitCode, signal: allocated.signalCode, out: allocated.stdout }).toEqual({ code: 0, signal: null, out: ["stored"] });
    // The control: the same stores into holes of a sparse file are what kills a process.
    const sparse = await runScript(script, [join(fs.path, "sparse"), "sparse"]);
    expect(sparse.signalCode).toBe("SIGBUS");
  });
});
