// ArenaCache.open(path): one cache in a file, shared by every process that opens it.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { ArenaCache, codecs } from "../../src/arena/index.ts";
import { READY_OFFSET } from "../../src/arena/file.ts";
import { RingBuffer } from "../../src/ring/index.ts";
import { codeOf, flipByte, ROOT, runScript, tempDir, writeScript, Child } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

describe("ArenaCache.open", () => {
  test("a second handle on the path sees the first one's entries, TTLs and counters", () => {
    using dir = tempDir();
    const path = dir.file("cache");
    let now = 1000;
    using a = ArenaCache.open<string>(path, { maxBytes: 1 << 20, codec: codecs.string, clock: () => now });
    a.set("k", "v");
    a.set("short", "lived", { ttl: 50 });
    using b = ArenaCache.open<string>(path, { codec: codecs.string, clock: () => now });
    expect(b.get("k")).toBe("v");
    expect(b.get("short")).toBe("lived");
    now += 50;
    expect(b.get("short")).toBeUndefined();
    expect(a.has("short")).toBe(false);
    expect(b.delete("k")).toBe(true);
    expect(a.get("k")).toBeUndefined();
    // Counters live in the file: both handles see the same numbers.
    expect(a.stats()).toMatchObject({ hits: 2, misses: 2, sets: 2, entries: 0 });
    expect(b.stats().hits).toBe(2);
    expect(b.maxBytes).toBe(1 << 20);
    expect(b.path).toBe(path);
  });

  test("the codec is per handle: each process reads the bytes its own way", () => {
    using dir = tempDir();
    const path = dir.file("cache");
    using text = ArenaCache.open<string>(path, { maxBytes: 1 << 20, codec: codecs.string });
    using raw = ArenaCache.open(path);
    text.set("k", "hé");
    expect([...raw.get("k")!]).toEqual([0x68, 0xc3, 0xa9]);
  });

  test("reopened later, the entries are still there; omitted options are the file's", () => {
    using dir = tempDir();
    const path = dir.file("cache");
    {
      using c = ArenaCache.open<string>(path, { maxBytes: 1 << 20, ttl: 60_000, policy: "sieve", stripes: 2, codec: codecs.string });
      for (let i = 0; i < 100; i++) c.set(`k${i}`, `v${i}`);
    }
    using c = ArenaCache.open<string>(path, { codec: codecs.string, maxBytes: 1 << 20, policy: "sieve" });
    expect(c.policy).toBe("sieve");
    expect(c.stats().stripes).toBe(2);
    expect(c.size).toBe(100);
    for (let i = 0; i < 100; i++) expect(c.get(`k${i}`)).toBe(`v${i}`);
  });

  test("options that differ are ERR_MISMATCH and the file is left byte for byte as it was", () => {
    using dir = tempDir();
    const path = dir.file("cache");
    {
      using c = ArenaCache.open(path, { maxBytes: 1 << 20, stripes: 4, maxEntries: 1000, ttl: 500 });
      c.set("k", new Uint8Array([1]));
    }
    const before = readFileSync(path);
    for (const o of [{ maxBytes: 2 << 20 }, { stripes: 2 }, { policy: "lru" as const }, { ttl: 501 }, { maxEntries: 2000 }, { slabBytes: 4096 }]) {
      const e = (() => {
        try {
          ArenaCache.open(path, o);
        } catch (err) {
          return err as Error & { code?: string };
        }
        return undefined;
      })();
      expect(e?.code).toBe("ERR_MISMATCH");
      expect(e?.message).toContain(Object.keys(o)[0]!);
    }
    expect(readFileSync(path).equals(before)).toBe(true);
    // The values the file was made with match, however they are spelled.
    using again = ArenaCache.open(path, { maxBytes: 1 << 20, stripes: 4, maxEntries: 1000, ttl: 500 });
    expect(again.get("k")).toEqual(new Uint8Array([1]));
  });

  test("a foreign file is ERR_FORMAT, a damaged header or size ERR_CORRUPT; nothing is changed", () => {
    using dir = tempDir();
    const foreign = dir.file("foreign");
    writeFileSync(foreign, "hello, not a cache".repeat(400));
    const ringPath = dir.file("ring");
    RingBuffer.open(ringPath, { recordSize: 64, capacity: 16 }).close();
    for (const p of [foreign, ringPath]) {
      const before = readFileSync(p);
      expect(codeOf(() => ArenaCache.open(p, { maxBytes: 1 << 20 }))).toBe("ERR_FORMAT");
      expect(readFileSync(p).equals(before)).toBe(true);
    }
    const path = dir.file("cache");
    ArenaCache.open(path, { maxBytes: 1 << 20 }).close();
    flipByte(path, 30);
    const damaged = readFileSync(path);
    expect(codeOf(() => ArenaCache.open(path))).toBe("ERR_CORRUPT");
    expect(readFileSync(path).equals(damaged)).toBe(true);
    flipByte(path, 30);
    writeFileSync(path, readFileSync(path).subarray(0, statSync(path).size - 4096));
    expect(codeOf(() => ArenaCache.open(path))).toBe("ERR_CORRUPT");
  });

  test("a missing or empty path without maxBytes is ERR_INVALID and creates nothing; bad arguments are ERR_INVALID", () => {
    using dir = tempDir();
    const path = dir.file("nope");
    expect(codeOf(() => ArenaCache.open(path))).toBe("ERR_INVALID");
    expect(existsSync(path)).toBe(false);
    const empty = dir.file("empty");
    writeFileSync(empty, "");
    expect(codeOf(() => ArenaCache.open(empty))).toBe("ERR_INVALID");
    expect(statSync(empty).size).toBe(0);
    // An empty file is a place to create one.
    ArenaCache.open(empty, { maxBytes: 1 << 16 }).close();
    expect(statSync(empty).size).toBeGreaterThan(0);
    for (const [p, o] of [
      [42, {}],
      ["", {}],
      ["a\0b", {}],
      [path, null],
      [path, { maxBytes: -1 }],
      [path, { maxBytes: 1 << 20, policy: "fifo" }],
      [path, { maxBytes: 1 << 20, lockTimeout: -1 }],
      [path, { maxBytes: 1 << 20, loadLease: 0 }],
      [path, { stripes: 0 }],
      [path, { policy: "fifo" }],
      [path, { ttl: Number.NaN }],
    ] as const) {
      expect(codeOf(() => ArenaCache.open(p as never, o as never))).toBe("ERR_INVALID");
    }
    expect(existsSync(path)).toBe(false);
    expect(codeOf(() => ArenaCache.open(dir.path, { maxBytes: 1 << 16 }))).toBe("ERR_SYSTEM");
  });

  test("a file whose creator died before it was ready is initialized again by the next opener", () => {
    using dir = tempDir();
    const path = dir.file("cache");
    {
      using c = ArenaCache.open(path, { maxBytes: 1 << 16 });
      c.set("k", new Uint8Array([1]));
    }
    // What a creator killed mid-way leaves: a valid header, no ready word, garbage after.
    const bytes = readFileSync(path);
    bytes.fill(0, READY_OFFSET, READY_OFFSET + 4);
    bytes.fill(0xee, 8192);
    writeFileSync(path, bytes);
    using c = ArenaCache.open(path);
    expect(c.size).toBe(0);
    expect(c.get("k")).toBeUndefined();
    c.set("j", new Uint8Array([2]));
    expect([...c.get("j")!]).toEqual([2]);
  });

  test("handle() is for Worker-shared caches only; every call after close is ERR_CLOSED", () => {
    using dir = tempDir();
    const c = ArenaCache.open(dir.file("cache"), { maxBytes: 1 << 16 });
    expect(codeOf(() => c.handle())).toBe("ERR_INVALID");
    c.close();
    c.close();
    expect(codeOf(() => c.get("k"))).toBe("ERR_CLOSED");
    expect(codeOf(() => c.stats())).toBe("ERR_CLOSED");
  });

  test("a full file system is ERR_SYSTEM (ENOSPC) from open, never a SIGBUS later; the path is left as it was", async () => {
    if (process.getuid?.() !== 0) throw new Error("this test mounts a 2 MiB tmpfs and needs root");
    using dir = tempDir();
    const mnt = dir.file("small");
    mkdirSync(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt]);
    try {
      const path = `${mnt}/cache`;
      const script = writeScript(
        dir.path,
        "full",
        `import { ArenaCache } from "${ROOT}/src/arena/index.ts";
         try { ArenaCache.open(${JSON.stringify(path)}, { maxBytes: 8 << 20 }); console.log("opened"); }
         catch (e) { console.log(e.code, e.errno); }`,
      );
      const r = await runScript(script);
      expect({ code: r.exitCode, signal: r.signalCode, out: r.stdout }).toEqual({ code: 0, signal: null, out: ["ERR_SYSTEM ENOSPC"] });
      expect(existsSync(path)).toBe(false);
      // One that fits works there.
      using c = ArenaCache.open(path, { maxBytes: 256 << 10 });
      c.set("k", new Uint8Array(100));
      expect(c.get("k")?.length).toBe(100);
    } finally {
      execFileSync("umount", [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });

  test("processes share one cache: what one child sets, another reads, and the counters add up", async () => {
    using dir = tempDir();
    const path = dir.file("cache");
    using c = ArenaCache.open<string>(path, { maxBytes: 1 << 20, codec: codecs.string });
    const script = writeScript(
      dir.path,
      "peer",
      `import { ArenaCache, codecs } from "${ROOT}/src/arena/index.ts";
       const c = ArenaCache.open(process.argv[2], { codec: codecs.string });
       const mode = process.argv[3];
       if (mode === "write") for (let i = 0; i < 1000; i++) c.set("k" + i, "from " + process.pid + " " + i);
       let hits = 0;
       for (let i = 0; i < 1000; i++) if (c.get("k" + i)?.endsWith(" " + i)) hits++;
       console.log(hits);
       c.close();`,
    );
    const w = await runScript(script, [path, "write"]);
    expect(w.stdout).toEqual(["1000"]);
    const r = await runScript(script, [path, "read"]);
    expect(r.stdout).toEqual(["1000"]);
    expect(c.get("k7")).toMatch(/^from \d+ 7$/);
    expect(c.stats()).toMatchObject({ sets: 1000, hits: 2001 });
  });

  test("several processes creating one path at once all end up on the same cache", async () => {
    using dir = tempDir();
    const path = dir.file("cache");
    const script = writeScript(
      dir.path,
      "racer",
      `import { ArenaCache, codecs } from "${ROOT}/src/arena/index.ts";
       const c = ArenaCache.open(process.argv[2], { maxBytes: 4 << 20, codec: codecs.string });
       c.set("from-" + process.argv[3], "x");
       console.log("set");
       await new Promise((r) => process.stdin.once("data", r));
       const seen = [];
       for (let i = 0; i < 4; i++) if (c.get("from-" + i) === "x") seen.push(i);
       console.log("seen " + seen.join(","));
       c.close();
       process.exit(0);`,
    );
    const kids = [0, 1, 2, 3].map((i) => new Child(script, [path, String(i)]));
    for (const k of kids) await k.waitForLine((l) => l === "set");
    for (const k of kids) k.send("go");
    for (const k of kids) expect(await k.waitForLine((l) => l.startsWith("seen"))).toBe("seen 0,1,2,3");
    for (const k of kids) await k.exited();
  });
});
