/**
 * offheap as a user installs it: `bun pm pack`, then the tarball installed into (a) a
 * fresh `bun init` app and (b) a plain `tsc` project (`moduleResolution: "bundler"`,
 * otherwise TypeScript's defaults). In both, a program using all five structures and the
 * metrics handler type-checks and runs; in (a) every README example type-checks too, and
 * `bun build --compile` of the program runs.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tempDir } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const work = tempDir("offheap-package-");
let tarball = "";

function run(cmd: string[], cwd: string): { code: number; out: string } {
  const p = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  return { code: p.exitCode ?? -1, out: `${p.stdout.toString()}${p.stderr.toString()}` };
}

function ok(cmd: string[], cwd: string): string {
  const r = run(cmd, cwd);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} failed (${r.code}):\n${r.out}`);
  return r.out;
}

/** A program over every structure, without top-level await (TypeScript's default target). */
const PROGRAM = `
import { ArenaCache, DurableQueue, MemoryStore, OffheapError, RecordStore, RingBuffer, TieredCache, metricsHandler, schema, t } from "offheap";

async function main(): Promise<void> {
  const ring = RingBuffer.open("events.ring", { recordSize: 64, capacity: 1024 });
  ring.append("tick");
  const queue = DurableQueue.open("jobs");
  queue.append("job 1");
  const Tick = schema({ symbol: t.string(8), price: t.f64 }, { name: "Tick", version: 1 });
  const ticks = RecordStore.open("ticks.records", Tick);
  ticks.append({ symbol: "ACME", price: 12.5 });
  const users = new ArenaCache<Uint8Array>({ maxBytes: 1 << 20 });
  users.set("user:1", new Uint8Array(16));
  users.get("user:1");
  const pages = new TieredCache({ tiers: [new MemoryStore({ maxBytes: 1 << 20 })] });
  await pages.set("/home", "welcome");
  const page = await pages.get("/home", async () => ({ body: "unused" }));
  const server = Bun.serve({ port: 0, fetch: metricsHandler({ events: ring, jobs: queue, ticks, users, pages }) });
  const metrics = await (await fetch(new URL("/metrics", server.url))).text();
  server.stop(true);
  let code = "none";
  try {
    RingBuffer.open("events.ring", { lockTimeout: 0 });
  } catch (e) {
    if (e instanceof OffheapError) code = e.code;
  }
  console.log(ring.get(0) !== undefined, queue.shift() !== undefined, ticks.get(0).symbol, users.size, page.status, await new Response(page.body).text(), metrics.includes("structure=\\"users\\""), code);
  ring.close();
  queue.close();
  ticks.close();
  users.close();
  await pages.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
`;
const EXPECTED = "true true ACME 1 hit welcome true ERR_LOCKED\n";

beforeAll(() => {
  const out = ok(["bun", "pm", "pack", "--destination", work.path], ROOT);
  const name = readdirSync(work.path).find((f) => f.endsWith(".tgz"));
  if (name === undefined) throw new Error(`bun pm pack made no tarball:\n${out}`);
  tarball = join(work.path, name);
}, 120_000);

afterAll(() => work.remove());

describe("the packed package", () => {
  test("the tarball holds the sources, the declarations and the built JS, and nothing else", () => {
    const list = ok(["tar", "tzf", tarball], work.path)
      .split("\n")
      .filter(Boolean)
      .map((f) => f.replace(/^package\//, ""));
    expect(list).toContain("dist/src/index.d.ts");
    expect(list).toContain("dist/index.js");
    expect(list).toContain("src/index.ts");
    expect(list).toContain("ffi/libc.ts");
    const unexpected = list.filter((f) => !/^(src|ffi)\/.+\.(ts|md)$/.test(f) && !/^dist\/(src|ffi)\/.+\.d\.ts$/.test(f) && !["dist/index.js", "package.json", "README.md"].includes(f));
    expect(unexpected).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { exports: Record<string, Record<string, string>> };
    expect(Object.keys(pkg.exports["."]!)).toEqual(["types", "bun", "default"]);
  });

  test("a fresh `bun init` app: installs, type-checks the program and every README example, runs, compiles", () => {
    const app = join(work.path, "bun-app");
    ok(["mkdir", "-p", app], work.path);
    ok(["bun", "init", "-y"], app);
    ok(["bun", "add", tarball], app);
    writeFileSync(join(app, "program.ts"), PROGRAM);
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const examples = [...readme.matchAll(/^```ts example\n([\s\S]*?)^```\n/gm)].map((m) => m[1]!);
    expect(examples.length).toBeGreaterThan(5);
    examples.forEach((code, i) => writeFileSync(join(app, `readme-${i}.ts`), code));
    expect(run(["bunx", "tsc", "--noEmit", "-p", "."], app)).toEqual({ code: 0, out: "" });
    expect(run(["bun", "program.ts"], app)).toEqual({ code: 0, out: EXPECTED });
    ok(["rm", "-rf", "events.ring", "jobs", "ticks.records"], app);
    ok(["bun", "build", "--compile", "program.ts", "--outfile", "program-bin"], app);
    expect(run([join(app, "program-bin")], app)).toEqual({ code: 0, out: EXPECTED });
  }, 180_000);

  test("a plain tsc project (moduleResolution bundler, otherwise default settings): type-checks and runs", () => {
    const app = join(work.path, "tsc-app");
    ok(["mkdir", "-p", app], work.path);
    const ts = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { devDependencies: Record<string, string> }).devDependencies.typescript!;
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module", dependencies: { offheap: `file:${tarball}` }, devDependencies: { typescript: ts } }, null, 2));
    writeFileSync(join(app, "tsconfig.json"), JSON.stringify({ compilerOptions: { module: "preserve", moduleResolution: "bundler", noEmit: true } }, null, 2));
    ok(["bun", "install"], app);
    writeFileSync(join(app, "program.ts"), PROGRAM);
    expect(run([join(app, "node_modules", ".bin", "tsc"), "-p", "."], app)).toEqual({ code: 0, out: "" });
    expect(run(["bun", "program.ts"], app)).toEqual({ code: 0, out: EXPECTED });
    // The built JavaScript (the `default` condition, for tools that don't read `bun`) works too.
    const built = join(app, "node_modules", "offheap", "dist", "index.js");
    const probe = `const m = await import(${JSON.stringify(built)}); const r = m.RingBuffer.open("built.ring", { recordSize: 16, capacity: 8 }); r.append("x"); console.log(r.next, typeof m.TieredCache); r.close();`;
    expect(run(["bun", "-e", probe], app)).toEqual({ code: 0, out: "1 function\n" });
  }, 180_000);
});
