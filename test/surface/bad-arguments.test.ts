/**
 * The bad-argument sweep: every public function and method, called with bad values at
 * each argument position (see table.ts and values.ts), must fail with an `OffheapError`
 * that has a known code and a message naming the argument — never another error, a hang,
 * a file left behind or a change to the handle — and every method of a closed handle
 * must throw `ERR_CLOSED`. The table is compared with the real exports and prototypes, so
 * a new public member fails here until it is swept.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import * as api from "../../src/index.ts";
import { tempDir, type TempDir } from "../helpers/index.ts";
import { startRedis, type TestServer } from "../helpers/servers.ts";
import { coverage, staticNames, surfaceNames, sweep, type Ctx } from "./sweep.ts";
import { EXEMPT_CLASSES, EXPORTED_VALUES, subjects } from "./table.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

let dir: TempDir;
let redis: TestServer;
let cwd: string;
let ctx: Ctx;

beforeAll(async () => {
  redis = await startRedis();
  dir = tempDir("offheap-sweep-");
  // Relative paths (a number turned into "42", a name cut at a NUL) land here, where the
  // sweep sees them, instead of in the repository.
  cwd = process.cwd();
  process.chdir(dir.path);
  let n = 0;
  ctx = { dir, redisUrl: redis.url, fresh: (name) => dir.file(`${name}-${++n}`) };
});

afterAll(async () => {
  process.chdir(cwd);
  dir?.remove();
  await redis?.stop();
});

const table = subjects();

function isClass(v: unknown): boolean {
  return typeof v === "function" && /^class\b/.test(Function.prototype.toString.call(v));
}

describe("the sweep's table", () => {
  test("covers every runtime export of src/index.ts", () => {
    const functions = new Set(table.find((s) => s.name === "functions")!.members.map((m) => m.name));
    const classes = new Set(table.map((s) => s.cls).filter((c) => c !== undefined));
    const missing: string[] = [];
    for (const [name, value] of Object.entries(api)) {
      if (isClass(value)) {
        if (!classes.has(value as never) && !(name in EXEMPT_CLASSES)) missing.push(`class ${name}`);
      } else if (typeof value === "function") {
        if (!functions.has(name)) missing.push(`function ${name}`);
      } else if (!(name in EXPORTED_VALUES)) missing.push(`value ${name}`);
    }
    for (const name of functions) if (!(typeof name === "string" && typeof (api as Record<string, unknown>)[name] === "function")) missing.push(`the table's function ${String(name)} is not exported`);
    expect(missing).toEqual([]);
  });

  test("lists every public member of every class and handle, and nothing that is gone", async () => {
    const problems: string[] = [];
    for (const s of table) problems.push(...(await coverage(s, ctx)));
    expect(problems).toEqual([]);
  });

  test("the surface helpers see accessors, methods and statics", () => {
    expect(surfaceNames(api.RingBuffer.prototype)).toContain("next");
    expect(surfaceNames(api.RingBuffer.prototype)).toContain(Symbol.dispose);
    expect(staticNames(api.RingBuffer)).toEqual(["open"]);
  });
});

describe("bad arguments", () => {
  let total = 0;
  for (const subject of table) {
    test(subject.name, async () => {
      const { trials, failures } = await sweep(subject, ctx);
      total += trials;
      expect(failures).toEqual([]);
      expect(trials).toBeGreaterThan(0);
    });
  }
  test("the sweep ran a few thousand trials", () => {
    expect(total).toBeGreaterThan(2000);
  });
});
