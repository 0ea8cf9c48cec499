import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { File, Mapping, MAX_MAPPING_BYTES } from "../../ffi/index.ts";
import { ROOT, codeOf, runScript, tempDir, writeScript } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);


describe("Mapping of a file", () => {
  test("writes through the mapping reach the file, and file writes show in the mapping", () => {
    using dir = tempDir();
    using f = File.open(dir.file("m"), { create: true });
    f.truncate(8192);
    using m = Mapping.file(f);
    expect(m.length).toBe(8192);
    m.bytes.set([1, 2, 3], 5000);
    m.sync();
    const back = new Uint8Array(3);
    f.read(back, 5000);
    expect([...back]).toEqual([1, 2, 3]);
    f.write(new Uint8Array([9]), 10);
    expect(m.bytes[10]).toBe(9);
  });

  test("a second mapping of the same file (as another process would have) sees the same bytes", () => {
    using dir = tempDir();
    using f = File.open(dir.file("m"), { create: true });
    f.truncate(4096);
    using writer = Mapping.file(f);
    using readFile = File.open(dir.file("m"), { readonly: true });
    using reader = Mapping.file(readFile);
    writer.bytes[100] = 77;
    expect(reader.bytes[100]).toBe(77);
    expect(reader.readonly).toBe(true);
  });

  test("an offset range maps just that range", () => {
    using dir = tempDir();
    using f = File.open(dir.file("m"), { create: true });
    f.truncate(3 * 4096);
    f.write(new Uint8Array([42]), 4096 + 1);
    using m = Mapping.file(f, { offset: 4096, length: 4096 });
    expect(m.bytes[1]).toBe(42);
    expect(codeOf(() => Mapping.file(f, { offset: 100 }))).toBe("ERR_INVALID");
  });

  test("a range past the end of the file is refused with ERR_RANGE (no SIGBUS later)", () => {
    using dir = tempDir();
    using f = File.open(dir.file("m"), { create: true });
    f.truncate(4096);
    expect(codeOf(() => Mapping.file(f, { length: 8192 }))).toBe("ERR_RANGE");
    using m = Mapping.file(f);
    expect(codeOf(() => m.grow(8192))).toBe("ERR_RANGE");
    expect(m.length).toBe(4096);
  });

  test("an empty file cannot be mapped, and says so", () => {
    using dir = tempDir();
    using f = File.open(dir.file("m"), { create: true });
    expect(codeOf(() => Mapping.file(f))).toBe("ERR_INVALID");
  });

  test("more than 4 GiB is ERR_TOO_LARGE", () => {
    expect(codeOf(() => Mapping.anonymous(MAX_MAPPING_BYTES + 1))).toBe("ERR_TOO_LARGE");
    using dir = tempDir();
    using f = File.open(dir.file("m"), { create: true });
    f.truncate(MAX_MAPPING_BYTES + 4096); // sparse: costs no disk
    expect(codeOf(() => Mapping.file(f))).toBe("ERR_TOO_LARGE");
  });

  test("grow keeps the data and the new range is usable", () => {
    using dir = tempDir();
    using f = File.open(dir.file("m"), { create: true });
    f.truncate(4096);
    using m = Mapping.file(f);
    m.bytes[7] = 7;
    f.truncate(4 * 4096);
    m.grow(4 * 4096);
    expect(m.bytes[7]).toBe(7);
    m.bytes[3 * 4096 + 1] = 5;
    m.sync(3 * 4096, 100);
    const back = new Uint8Array(1);
    f.read(back, 3 * 4096 + 1);
    expect(back[0]).toBe(5);
  });

  test("sync (both modes) and every advice succeed on valid ranges", () => {
    using dir = tempDir();
    using f = File.open(dir.file("m"), { create: true });
    f.truncate(16384);
    using m = Mapping.file(f);
    m.bytes.fill(1);
    m.sync(100, 5000, { async: true });
    m.sync();
    for (const advice of ["normal", "random", "sequential", "willneed", "dontneed"] as const) m.advise(advice, 4096, 4096);
    expect(m.bytes[5000]).toBe(1); // dontneed on a shared file mapping keeps the data
    expect(codeOf(() => m.sync(0, 20000))).toBe("ERR_RANGE");
    expect(codeOf(() => m.advise("bogus" as never))).toBe("ERR_INVALID");
  });

  test("every call after close is ERR_CLOSED; close is idempotent", () => {
    using dir = tempDir();
    using f = File.open(dir.file("m"), { create: true });
    f.truncate(4096);
    const m = Mapping.file(f);
    m.close();
    m.close();
    expect(m.isOpen).toBe(false);
    for (const call of [() => m.bytes, () => m.buffer, () => m.sync(), () => m.advise("normal"), () => m.grow(8192)]) {
      expect(codeOf(call)).toBe("ERR_CLOSED");
    }
  });
});

describe("anonymous Mapping", () => {
  test("is zeroed, writable, and keeps its contents across grow", () => {
    using m = Mapping.anonymous(4096);
    expect(m.bytes.every((b) => b === 0)).toBe(true);
    m.bytes[4095] = 200;
    m.grow(3 * 4096);
    expect(m.bytes[4095]).toBe(200);
    expect(m.bytes.length).toBe(3 * 4096);
    m.sync(); // no file: nothing to write back, and no error
  });
});

describe("views handed out before close or grow", () => {
  // Run in a child: if a view could touch unmapped memory, the child would die with
  // SIGSEGV, and the exit code tells.
  test("read as empty and never crash the process", async () => {
    using dir = tempDir();
    const script = writeScript(
      dir.path,
      "views",
      `
      import { File, Mapping } from "${ROOT}/ffi/index.ts";
      const f = File.open(${JSON.stringify(dir.file("v"))}, { create: true });
      f.truncate(4096);
      const m = Mapping.file(f);
      const u8 = m.bytes, f64 = new Float64Array(m.buffer), dv = new DataView(m.buffer);
      u8[0] = 1;
      f.truncate(8192);
      m.grow(8192);
      const afterGrow = [u8.length, u8[0], f64[0], m.bytes[0]];
      let dvThrew = false;
      try { dv.getUint8(0); } catch { dvThrew = true; }
      const live = m.bytes;
      const anon = Mapping.anonymous(4096);
      const anonView = anon.bytes;
      m.close();
      anon.close();
      Bun.gc(true);
      const afterClose = [live.length, live[0], anonView.length, anonView[10]];
      console.log(JSON.stringify({ afterGrow, dvThrew, afterClose }));
      `,
    );
    const { exitCode, signalCode, stdout, stderr } = await runScript(script);
    expect({ exitCode, signalCode, stderr }).toEqual({ exitCode: 0, signalCode: null, stderr: "" });
    expect(JSON.parse(stdout[0]!)).toEqual({
      afterGrow: [0, null, null, 1],
      dvThrew: true,
      afterClose: [0, null, 0, null],
    });
  });
});
