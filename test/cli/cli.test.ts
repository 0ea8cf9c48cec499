// The offheap CLI, run as a real process on files the tests make.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ArenaCache, codecs } from "../../src/arena/index.ts";
import { DurableQueue } from "../../src/queue/index.ts";
import { RecordStore, schema, t } from "../../src/records/index.ts";
import { RingBuffer } from "../../src/ring/index.ts";
import { FileStore } from "../../src/tiered/index.ts";
import { Child, ROOT, tempDir, type TempDir } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const CLI = join(ROOT, "src/cli.ts");

function cli(...args: string[]) {
  const r = Bun.spawnSync([process.execPath, CLI, ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

let dir: TempDir;
let ringPath: string;
let queueDir: string;
let recordsPath: string;
let storeDir: string;

beforeAll(async () => {
  dir = tempDir();
  ringPath = dir.file("events.ring");
  using ring = RingBuffer.open(ringPath, { recordSize: 32, capacity: 16 });
  for (const word of ["alpha", "beta", "gamma"]) ring.append(word);
  queueDir = dir.file("jobs");
  using queue = DurableQueue.open(queueDir);
  queue.appendMany(["one", "two", "three"].map((s) => new TextEncoder().encode(s)));
  recordsPath = dir.file("ticks.rec");
  using store = RecordStore.open(recordsPath, schema({ price: t.f64, n: t.u32 }, { name: "T", version: 1 }), { capacity: 4 });
  store.append({ price: 1.5, n: 1 });
  store.append({ price: 2.5, n: 2 });
  storeDir = dir.file("http-cache");
  const files = FileStore.open(storeDir, { maxBytes: 1 << 20 });
  await files.close();
});

afterAll(() => dir.remove());

describe("inspect", () => {
  test("a ring: kind, options and counts, as text and as JSON", () => {
    const text = cli("inspect", ringPath);
    expect(text.code).toBe(0);
    expect(text.out).toContain("ring buffer (kind RING, format version 2)");
    expect(text.out).toMatch(/recordSize\s+32/);
    const json = JSON.parse(cli("inspect", ringPath, "--json").out);
    expect(json).toMatchObject({ path: ringPath, kind: "RING", version: 2, options: { recordSize: 32, capacity: 16 } });
    expect(json.counts.next).toBe(3);
  });

  test("a queue directory, a record store and a file store", () => {
    const q = JSON.parse(cli("inspect", queueDir, "--json").out);
    expect(q).toMatchObject({ kind: "QDIR", counts: { length: 3, first: 0, next: 3 } });
    const r = JSON.parse(cli("inspect", recordsPath, "--json").out);
    expect(r.kind).toBe("RECS");
    expect(r.counts.records).toBe(2);
    const f = cli("inspect", storeDir, "--json");
    expect(f.code).toBe(0);
    expect(JSON.parse(f.out).kind).toBe("TFST");
  });

  test("a shared ArenaCache file: its options and what it holds", () => {
    const path = dir.file("shared.arena");
    using cache = ArenaCache.open<string>(path, { maxBytes: 1 << 20, policy: "lru", codec: codecs.string });
    cache.set("user:1", "Ada");
    cache.get("user:1");
    const r = cli("inspect", path, "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ kind: "ARNA", options: { maxBytes: 1 << 20, policy: "lru" }, counts: { entries: 1, hits: 1, sets: 1 } });
    expect(cache.get("user:1")).toBe("Ada");
  });

  test("a missing file, a file that isn't ours and a corrupt header: one line, exit 2", () => {
    const missing = cli("inspect", dir.file("nope"));
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("does not exist");
    writeFileSync(dir.file("notes.txt"), "just some text, not ours");
    const foreign = cli("inspect", dir.file("notes.txt"));
    expect(foreign.code).toBe(2);
    expect(foreign.err).toContain("not an offheap file");
    const bytes = readFileSync(ringPath);
    bytes[20]! ^= 0xff;
    writeFileSync(dir.file("bad-header.ring"), bytes);
    const corrupt = cli("inspect", dir.file("bad-header.ring"));
    expect(corrupt.code).toBe(2);
    expect(corrupt.err).toContain("ERR_CORRUPT");
    for (const r of [missing, foreign, corrupt]) {
      expect(r.err.trim().split("\n")).toHaveLength(1);
      expect(r.err).not.toContain("    at ");
    }
    expect(cli("inspect", dir.file("nope"), "--verbose").err).toContain("    at ");
  });
});

describe("verify", () => {
  test("exit 0 on intact files", () => {
    for (const path of [ringPath, queueDir, recordsPath]) {
      const r = cli("verify", path);
      expect({ path, code: r.code }).toEqual({ path, code: 0 });
      expect(r.out).toContain("0 bad");
    }
  });

  test("exit 1 and the bad record's id when a payload byte is flipped", () => {
    const copy = dir.file("flipped.ring");
    const bytes = readFileSync(ringPath);
    // Find "beta" (record 1) and damage it.
    const at = bytes.indexOf(Buffer.from("beta"));
    expect(at).toBeGreaterThan(0);
    bytes[at]! ^= 0x01;
    writeFileSync(copy, bytes);
    const r = cli("verify", copy);
    expect(r.code).toBe(1);
    expect(r.out).toContain("bad record 1");
    expect(JSON.parse(cli("verify", copy, "--json").out).bad.map((b: { id: number }) => b.id)).toEqual([1]);
  });

  test("exit 1 for a file cut short anywhere, emptied, or a queue that lost its directory file", () => {
    for (const original of [ringPath, recordsPath]) {
      const bytes = readFileSync(original);
      for (const cut of [0, 3, 40, 200, bytes.length - 1]) {
        const copy = dir.file(`cut-${cut}-${original.split("/").pop()}`);
        writeFileSync(copy, bytes.subarray(0, cut));
        const r = cli("verify", copy);
        expect({ copy, cut, code: r.code }).toEqual({ copy, cut, code: 1 });
        expect(r.out).toContain("unreadable");
        const json = cli("verify", copy, "--json");
        expect(json.code).toBe(1);
        expect(JSON.parse(json.out).bad[0].id).toBe(-1);
      }
    }
    const lost = dir.file("lost-queue");
    using q = DurableQueue.open(lost);
    q.append("kept");
    q.close();
    rmSync(join(lost, "queue.qdir"));
    const r = cli("verify", lost);
    expect(r.code).toBe(1);
    expect(r.out).toContain("queue.qdir");
    // Not ours at all is not corruption: it is the wrong path.
    writeFileSync(dir.file("plain.txt"), "hello, this is a text file");
    expect(cli("verify", dir.file("plain.txt")).code).toBe(2);
  });
});

describe("usage", () => {
  test("--version prints the package's version", () => {
    const r = cli("--version");
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
    expect(cli("-V").out).toBe(r.out);
  });

  test("two paths, unknown flags, flags of another command, no command: exit 2 with a message", () => {
    const cases = [
      ["inspect", ringPath, recordsPath],
      ["verify", ringPath, "--bogus"],
      ["inspect", ringPath, "--follow"],
      ["tail", ringPath, "--seconds", "3"],
      ["demo", ringPath],
      ["tail", ringPath, "--from", "-1"],
      ["tail", ringPath, "--from", "1.5"],
      ["tail", ringPath, "--from"],
      [],
    ];
    for (const args of cases) {
      const r = cli(...args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.err).toStartWith("offheap: ");
      expect(r.err.trim().split("\n")).toHaveLength(1);
      expect(r.out).toBe("");
    }
  });

  test("with --json, errors are one JSON object on stdout with a code", () => {
    const missing = cli("inspect", dir.file("nope"), "--json");
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.out)).toEqual({ error: { code: "ERR_SYSTEM", message: expect.stringContaining("does not exist"), path: dir.file("nope"), exit: 2 } });
    const usage = cli("verify", ringPath, recordsPath, "--json");
    expect(JSON.parse(usage.out).error).toMatchObject({ code: "ERR_USAGE", exit: 2 });
    expect(usage.err).toBe("");
  });

  test("a queue's index, data or reader file: each command points at the queue's directory", () => {
    using q = DurableQueue.open(queueDir, { readonly: true });
    const parts = readdirSync(queueDir).filter((n) => !n.endsWith(".qdir"));
    expect(parts.length).toBeGreaterThanOrEqual(3);
    for (const name of parts) {
      for (const command of ["inspect", "verify", "tail"]) {
        const r = cli(command, join(queueDir, name));
        expect({ name, command, code: r.code }).toEqual({ name, command, code: 2 });
        expect(r.err).toContain(`name the queue's directory (${queueDir})`);
      }
    }
  });
});

describe("tail", () => {
  test("prints ring and queue records in each format", () => {
    expect(cli("tail", ringPath).out).toBe("0\talpha\n1\tbeta\n2\tgamma\n");
    expect(cli("tail", ringPath, "--from", "2", "--format", "hex").out).toBe(`2\t${Buffer.from("gamma").toString("hex")}\n`);
    expect(cli("tail", queueDir, "--format", "json").out.trim().split("\n").map((l) => JSON.parse(l))).toEqual([
      { id: 0, utf8: "one" },
      { id: 1, utf8: "two" },
      { id: 2, utf8: "three" },
    ]);
  });

  test("any bytes: one line per record as text, and JSON gives the exact bytes back", () => {
    const path = dir.file("binary.ring");
    const records = [
      Uint8Array.of(0, 1, 2, 0xff, 0xfe, 0x0a, 0x5c),
      new TextEncoder().encode("two\nlines\tand a tab, a backslash \\ and é€😀"),
      Uint8Array.of(0xe2, 0x82), // a cut UTF-8 sequence
      Uint8Array.of(0xed, 0xa0, 0x80), // an encoded surrogate
      Uint8Array.of(0xc2, 0x85, 0x1b, 0x5b, 0x32, 0x4a), // a C1 control and an escape sequence
      new Uint8Array(0),
    ];
    using ring = RingBuffer.open(path, { recordSize: 128, capacity: 16 });
    ring.appendMany(records);
    const text = cli("tail", path).out;
    expect(text).toBe(
      [
        "0\t\\x00\\x01\\x02\\xff\\xfe\\n\\\\",
        "1\ttwo\\nlines\\tand a tab, a backslash \\\\ and é€😀",
        "2\t\\xe2\\x82",
        "3\t\\xed\\xa0\\x80",
        "4\t\\xc2\\x85\\x1b[2J",
        "5\t",
        "",
      ].join("\n"),
    );
    const lines = cli("tail", path, "--format", "json").out.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(records.length);
    lines.forEach((line, i) => {
      const bytes = "utf8" in line ? new TextEncoder().encode(line.utf8) : new Uint8Array(Buffer.from(line.base64, "base64"));
      expect({ id: line.id, bytes: [...bytes] }).toEqual({ id: i, bytes: [...records[i]!] });
    });
    expect(lines[1]).toHaveProperty("utf8");
    expect(lines[0]).toHaveProperty("base64");
  });

  test("a queue with any prefix, named by its directory or its .qdir file", () => {
    const shared = dir.file("shared-dir");
    using a = DurableQueue.open(shared, { prefix: "orders" });
    a.append("order-1");
    expect(cli("tail", shared).out).toBe("0\torder-1\n");
    using b = DurableQueue.open(shared, { prefix: "emails" });
    b.append("mail-1");
    expect(cli("tail", shared).code).toBe(2); // two queues: which one?
    expect(cli("tail", join(shared, "emails.qdir")).out).toBe("0\tmail-1\n");
  });

  test("--follow prints records appended after it started", async () => {
    const child = new Child(CLI, ["tail", ringPath, "--follow", "--from", "3"]);
    using ring = RingBuffer.open(ringPath);
    await Bun.sleep(300);
    ring.append("delta");
    await child.waitForLine((l) => l === "3\tdelta");
    await child.kill("SIGTERM");
  });

  test("bad arguments: exit 2 with a message", () => {
    expect(cli("tail", ringPath, "--format", "xml")).toMatchObject({ code: 2 });
    expect(cli("tail", recordsPath).err).toContain("tail does not apply");
    expect(cli("frobnicate").code).toBe(2);
    expect(cli("inspect").err).toContain("needs a PATH");
    expect(cli("demo", "--seconds", "soon").code).toBe(2);
    expect(cli("--help").code).toBe(0);
  });
});

describe("demo", () => {
  test("--seconds 2 runs every structure across processes and prints its table", () => {
    using work = tempDir();
    const r = cli("demo", "--seconds", "2", "--dir", work.path, "--consumers", "2");
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: "" });
    for (const structure of ["ring", "queue", "records", "arena", "tiered"]) expect(r.out).toMatch(new RegExp(`^${structure}\\s+`, "m"));
    expect(r.out).toContain("0 torn reads");
    // Two processes on one cache file: each reports the same shared cache.
    const arenaRows = r.out.split("\n").filter((l) => l.startsWith("arena "));
    expect(arenaRows).toHaveLength(2);
    const shared = arenaRows.map((l) => /in the one cache file all share \((\d+) entries/.exec(l)?.[1]);
    expect(shared[0]).toBeDefined();
    expect(JSON.parse(cli("inspect", work.file("cache.arena"), "--json").out).kind).toBe("ARNA");
    expect(r.out).toContain(`files kept in ${work.path}`);
    // The files it left are ours and intact.
    expect(cli("verify", work.file("ring")).code).toBe(0);
    expect(cli("verify", work.file("queue")).code).toBe(0);
  }, 60_000); // a 2-second demo across processes: past the default 5 s on a loaded machine
});

describe("compiled binary", () => {
  test("bun run build's binary gives the same results as bun src/cli.ts", () => {
    using out = tempDir();
    const binary = out.file("offheap");
    const build = Bun.spawnSync([process.execPath, "build", "--compile", CLI, "--outfile", binary], { stdout: "pipe", stderr: "pipe" });
    expect({ code: build.exitCode, err: build.stderr.toString() }).toEqual({ code: 0, err: "" });
    const run = (...args: string[]) => {
      const r = Bun.spawnSync([binary, ...args], { stdout: "pipe", stderr: "pipe" });
      return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
    };
    for (const args of [["inspect", ringPath, "--json"], ["verify", ringPath], ["verify", queueDir], ["inspect", recordsPath]]) {
      expect(run(...args)).toEqual(cli(...args));
    }
    expect(run("inspect", dir.file("notes.txt")).code).toBe(2);
    using work = tempDir();
    const demo = run("demo", "--seconds", "2", "--dir", work.path, "--consumers", "1");
    expect({ code: demo.code, err: demo.err }).toEqual({ code: 0, err: "" });
    expect(demo.out).toContain("0 torn reads");
    expect(run("inspect", work.file("ring"), "--json").out).toEqual(cli("inspect", work.file("ring"), "--json").out);
  }, 60_000); // a compile and a 2-second demo: over the default 5 s on a loaded machine
});
