import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import CRC32 from "crc-32";
import { bytes, Child, crashRun, expectCode, pattern, ROOT, seededRandom, tempDir, text, writeScript } from "../helpers/index.ts";
import { encodeHeader } from "../../src/primitives/header.ts";
import { FileStore } from "../../src/tiered/index.ts";
import { describeFileStore, verifyFileStore } from "../../src/tiered/stores/file-inspect.ts";
import { keyHash } from "../../src/tiered/stores/key-hash.ts";
import { put, storeContract } from "../contracts/store.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const dirs: Array<ReturnType<typeof tempDir>> = [];
function fresh(): string {
  const d = tempDir("offheap-filestore-");
  dirs.push(d);
  return d.path;
}

function entryPath(dir: string, key: string): string {
  const name = keyHash(key).name;
  return join(dir, name.slice(0, 2), name.slice(2));
}

describe("FileStore", () => {
  storeContract(() => FileStore.open(fresh(), { sync: "none" }), { test });

  test("entries survive close and reopen; layout is <2 hex>/<30 hex> with the key inside", async () => {
    const dir = fresh();
    const long = `/very/long/${"k".repeat(3000)}`;
    {
      using store = FileStore.open(dir);
      await put(store, "a", "alpha", { etag: '"1"' });
      await put(store, long, "long key");
    }
    const subdirs = readdirSync(dir).filter((f) => /^[0-9a-f]{2}$/.test(f));
    expect(subdirs.length).toBeGreaterThan(0);
    for (const sub of subdirs) for (const f of readdirSync(join(dir, sub))) expect(f).toMatch(/^[0-9a-f]{30}$/);
    const raw = readFileSync(entryPath(dir, "a"));
    expect(raw.subarray(0, 8).toString("latin1")).toBe("OFFHEAP\0");
    expect(raw.subarray(8, 12).toString("latin1")).toBe("TFEN");
    expect(raw.includes(Buffer.from("a"))).toBe(true);
    // The trailer's CRC agrees with an independent CRC-32 of the body.
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const storedCrc = view.getUint32(raw.length - 8, true);
    expect(storedCrc).toBe(CRC32.buf(new TextEncoder().encode("alpha")) >>> 0);

    using again = FileStore.open(dir);
    expect(again.size).toBe(2);
    expect(await text(again.get("a")!.body)).toBe("alpha");
    expect(again.get("a")!.meta.etag).toBe('"1"');
    expect(await text(again.get(long)!.body)).toBe("long key");
  });

  test("leftover temp files are swept on open", () => {
    const dir = fresh();
    FileStore.open(dir).close();
    writeFileSync(join(dir, "tmp", "0123456789abcdef.tmp"), "half a write");
    writeFileSync(join(dir, "tmp", "not-ours.txt"), "keep");
    using store = FileStore.open(dir);
    expect(store.stats().sweptTemps).toBe(1);
    expect(existsSync(join(dir, "tmp", "0123456789abcdef.tmp"))).toBe(false);
    expect(existsSync(join(dir, "tmp", "not-ours.txt"))).toBe(true);
  });

  test("the stored key is checked on read: another key's file under this name is a miss", async () => {
    const dir = fresh();
    {
      using store = FileStore.open(dir, { sync: "none" });
      await put(store, "victim", "victim body");
      await put(store, "intruder", "intruder body");
    }
    // Make the intruder's file sit where the victim's belongs, as a hash collision would.
    renameSync(entryPath(dir, "intruder"), entryPath(dir, "victim"));
    using store = FileStore.open(dir, { sync: "none" });
    expect(store.get("victim")).toBeUndefined();
    expect(store.stat("victim")).toBeUndefined();
  });

  test("capacity in bytes: the policy evicts, recently read entries stay (lru)", async () => {
    const dir = fresh();
    using store = FileStore.open(dir, { maxBytes: 12_000, policy: "lru", sync: "none" });
    await put(store, "keep", pattern(900));
    for (let i = 0; i < 30; i++) {
      await put(store, `k${i}`, pattern(900, i + 5));
      await bytes(store.get("keep")!.body);
    }
    expect(store.bytes).toBeLessThanOrEqual(12_000);
    expect(store.stats().evictions).toBeGreaterThan(0);
    expect(store.get("keep")).toBeDefined();
    expect(store.get("k0")).toBeUndefined();
    expect(await bytes(store.get("k29")!.body)).toEqual(pattern(900, 34));
    const onDisk = readdirSync(dir).filter((f) => /^[0-9a-f]{2}$/.test(f)).flatMap((s) => readdirSync(join(dir, s)));
    expect(onDisk.length).toBe(store.size);
  });

  test("maxEntries bounds the count; reopen with a smaller maxBytes evicts down to it", async () => {
    const dir = fresh();
    {
      using store = FileStore.open(dir, { maxEntries: 4, sync: "none" });
      for (let i = 0; i < 10; i++) await put(store, `k${i}`, pattern(1000, i + 1));
      expect(store.size).toBe(4);
    }
    using small = FileStore.open(dir, { maxBytes: 2500, sync: "none" });
    expect(small.size).toBeLessThanOrEqual(2);
    expect(small.bytes).toBeLessThanOrEqual(2500);
  });

  test("an entry larger than maxBytes: ERR_TOO_LARGE from write, temp file removed", async () => {
    const dir = fresh();
    using store = FileStore.open(dir, { maxBytes: 1000, sync: "none" });
    const w = store.writer("big", { cachedAt: 1 });
    await expectCode(() => w.write(new Uint8Array(2000)), "ERR_TOO_LARGE");
    expect(readdirSync(join(dir, "tmp"))).toEqual([]);
    expect(store.get("big")).toBeUndefined();
    expect(store.stats().tooLarge).toBe(1);
  });

  test("a second handle on the directory: ERR_LOCKED; after close it opens", () => {
    const dir = fresh();
    const first = FileStore.open(dir);
    expect(() => FileStore.open(dir, { lockTimeout: 0 })).toThrow(expect.objectContaining({ code: "ERR_LOCKED" }));
    first.close();
    FileStore.open(dir).close();
  });

  test("not a file store: ERR_FORMAT; damaged header: ERR_CORRUPT; both leave the file as it was", () => {
    const dir = fresh();
    writeFileSync(join(dir, "offheap-filestore"), "hello, not ours");
    expect(() => FileStore.open(dir)).toThrow(expect.objectContaining({ code: "ERR_FORMAT" }));
    expect(readFileSync(join(dir, "offheap-filestore"), "utf8")).toBe("hello, not ours");

    const other = fresh();
    writeFileSync(join(other, "offheap-filestore"), encodeHeader({ kind: "RING", name: "ring buffer", version: 1, fields: ["x"] }, { x: 1 }));
    expect(() => FileStore.open(other)).toThrow(expect.objectContaining({ code: "ERR_FORMAT" }));

    const damaged = fresh();
    FileStore.open(damaged).close();
    const h = readFileSync(join(damaged, "offheap-filestore"));
    h[h.length - 1] = h[h.length - 1]! ^ 0xff;
    writeFileSync(join(damaged, "offheap-filestore"), h);
    expect(() => FileStore.open(damaged)).toThrow(expect.objectContaining({ code: "ERR_CORRUPT" }));
    expect(readFileSync(join(damaged, "offheap-filestore"))).toEqual(h);
  });

  test("a corrupt small entry reads as a miss and is removed", async () => {
    const dir = fresh();
    using store = FileStore.open(dir, { sync: "none" });
    await put(store, "k", pattern(5000));
    const path = entryPath(dir, "k");
    const raw = readFileSync(path);
    raw[raw.length - 100] = raw[raw.length - 100]! ^ 0x55;
    writeFileSync(path, raw);
    expect(store.get("k")).toBeUndefined();
    expect(store.stats().corrupt).toBe(1);
    expect(existsSync(path)).toBe(false);
    // touch never relabels a damaged body as fresh: it drops the entry.
    await put(store, "c", pattern(5000), { etag: '"c"' });
    const cpath = entryPath(dir, "c");
    const craw = readFileSync(cpath);
    craw[craw.length - 200] = craw[craw.length - 200]! ^ 0x01;
    writeFileSync(cpath, craw);
    expect(store.touch("c", { etag: '"c"', cachedAt: 5 })).toBe(false);
    expect(existsSync(cpath)).toBe(false);
    // A truncated entry too.
    await put(store, "t", pattern(5000));
    writeFileSync(entryPath(dir, "t"), readFileSync(entryPath(dir, "t")).subarray(0, 30));
    expect(store.get("t")).toBeUndefined();
  });

  test("a corrupt large entry errors its stream with ERR_CORRUPT at the end", async () => {
    const dir = fresh();
    using store = FileStore.open(dir, { sync: "none" });
    await put(store, "big", pattern(600_000));
    const path = entryPath(dir, "big");
    const raw = readFileSync(path);
    raw[300_000] = raw[300_000]! ^ 0x01;
    writeFileSync(path, raw);
    const e = store.get("big")!;
    await expectCode(() => bytes(e.body), "ERR_CORRUPT");
    expect(store.get("big")).toBeUndefined();
  });

  test("no lock while a body is read: replace and delete proceed, the reader keeps its version", async () => {
    const dir = fresh();
    using store = FileStore.open(dir, { sync: "none" });
    const v1 = pattern(1_000_000, 1);
    await put(store, "k", v1);
    const e = store.get("k")!;
    const reader = e.body.getReader();
    const first = await reader.read();
    await put(store, "k", pattern(1_000_000, 2));
    expect(store.delete("k")).toBe(true);
    expect(store.get("k")).toBeUndefined();
    const parts = [first.value!];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
    }
    expect(Buffer.concat(parts).equals(Buffer.from(v1))).toBe(true);
  });

  test("readonly handles read what a writer in another process publishes; their writes are ERR_READONLY", async () => {
    const dir = fresh();
    FileStore.open(dir).close();
    const script = writeScript(
      fresh(),
      "writer.ts",
      `import { FileStore } from "${ROOT}/src/tiered/index.ts";
const store = FileStore.open(process.argv[2], { sync: "none" });
console.log("ready");
for await (const line of console) {
  const [op, key, body] = line.split(" ");
  if (op === "put") { const w = store.writer(key, { cachedAt: 1, etag: '"' + body + '"' }); w.write(new TextEncoder().encode(body)); await w.commit(); }
  if (op === "del") store.delete(key);
  console.log("done " + line);
}
`,
    );
    const child = new Child(script, [dir]);
    try {
      await child.waitForLine((l) => l === "ready");
      using reader = FileStore.open(dir, { readonly: true });
      expect(() => FileStore.open(dir, { lockTimeout: 0 })).toThrow(expect.objectContaining({ code: "ERR_LOCKED" }));
      expect(reader.get("k")).toBeUndefined();
      child.send("put k first");
      await child.waitForLine((l) => l === "done put k first");
      expect(await text(reader.get("k")!.body)).toBe("first");
      child.send("put k second");
      await child.waitForLine((l) => l === "done put k second");
      expect(reader.stat("k")!.etag).toBe('"second"');
      expect(await text(reader.get("k")!.body)).toBe("second");
      child.send("del k x");
      await child.waitForLine((l) => l === "done del k x");
      expect(reader.get("k")).toBeUndefined();
      await expectCode(() => reader.writer("k", { cachedAt: 1 }), "ERR_READONLY");
      await expectCode(() => reader.delete("k"), "ERR_READONLY");
      await expectCode(() => reader.touch("k", { cachedAt: 1 }), "ERR_READONLY");
      expect(() => FileStore.open(fresh(), { readonly: true })).toThrow(expect.objectContaining({ code: "ERR_SYSTEM" }));
    } finally {
      await child.kill();
    }
  });

  test("inspect: describeFileStore and verifyFileStore find the bad entry and never throw for it", async () => {
    const dir = fresh();
    {
      using store = FileStore.open(dir, { sync: "none" });
      for (let i = 0; i < 5; i++) await put(store, `k${i}`, pattern(2000, i + 1));
    }
    const d = describeFileStore(dir);
    expect(d.kind).toBe("TFST");
    expect(d.version).toBe(1);
    expect(d.counts.entries).toBe(5);
    expect(d.counts.bytes).toBeGreaterThan(10_000);
    expect(verifyFileStore(dir)).toEqual({ checked: 5, bad: [] });
    const path = entryPath(dir, "k3");
    const raw = readFileSync(path);
    raw[200] = raw[200]! ^ 0xff;
    writeFileSync(path, raw);
    const progress: number[] = [];
    const v = verifyFileStore(dir, (done) => progress.push(done));
    expect(v.checked).toBe(5);
    expect(v.bad.length).toBe(1);
    expect(v.bad[0]!.reason).toContain("checksum");
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    const notStore = fresh();
    writeFileSync(join(notStore, "offheap-filestore"), "nope");
    expect(() => describeFileStore(notStore)).toThrow(expect.objectContaining({ code: "ERR_FORMAT" }));
    expect(() => verifyFileStore(join(notStore, "offheap-filestore"))).toThrow(expect.objectContaining({ code: "ERR_FORMAT" }));
    expect(describeFileStore(join(dir, "offheap-filestore")).counts.entries).toBe(5);
    writeFileSync(join(notStore, "other-file"), "x");
    expect(() => describeFileStore(join(notStore, "other-file"))).toThrow(expect.objectContaining({ code: "ERR_FORMAT" }));
    expect(() => describeFileStore(join(notStore, "missing"))).toThrow(expect.objectContaining({ code: "ERR_SYSTEM" }));
  });

  test("crash safety: SIGKILL mid-writes, reopen: every reported entry is whole, no temp file left", async () => {
    const random = seededRandom(7);
    for (let round = 0; round < 3; round++) {
      const dir = fresh();
      const script = writeScript(
        dir,
        "writer.ts",
        `import { FileStore } from "${ROOT}/src/tiered/index.ts";
const store = FileStore.open(process.argv[2], { maxBytes: 1 << 30 });
console.log("ready");
for (let i = 0; ; i++) {
  const w = store.writer("key" + i, { cachedAt: i, etag: '"' + i + '"' });
  const body = new Uint8Array(20000 + (i % 7) * 3000).fill(i & 0xff);
  for (let off = 0; off < body.length; off += 4096) w.write(body.subarray(off, off + 4096));
  await w.commit();
  console.log("ok " + i);
}
`,
      );
      const data = join(dir, "store");
      mkdirSync(data);
      const r = await crashRun({ script, args: [data], killAfterMs: { min: 50, max: 400 }, random });
      expect(r.stderr).not.toContain("error");
      using store = FileStore.open(data);
      expect(readdirSync(join(data, "tmp"))).toEqual([]);
      for (const id of r.reported) {
        const i = Number(id);
        const e = store.get(`key${i}`);
        expect(e).toBeDefined();
        expect(e!.meta.etag).toBe(`"${i}"`);
        const b = await bytes(e!.body);
        expect(b.length).toBe(20000 + (i % 7) * 3000);
        expect(b.every((x) => x === (i & 0xff))).toBe(true);
      }
      store.close();
      expect(verifyFileStore(data).bad).toEqual([]);
    }
  });
});

afterAll(() => {
  for (const d of dirs) d.remove();
});
