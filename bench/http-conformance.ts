/**
 * The HTTP caching conformance suite behind cache-tests.fyi (github.com/http-tests/cache-tests,
 * BSD-3), run against `Bun.serve({ fetch: cache.handler(origin) })` with default options,
 * and scored beside the suite's published results for other caches.
 *
 *   git clone https://github.com/http-tests/cache-tests && (cd cache-tests && npm install)
 *   bun run conformance ./cache-tests            # or: bun bench/http-conformance.ts DIR [--json OUT]
 *
 * Nothing of the suite is kept in this repository: it is read from the checkout given.
 * A "required" test is one the suite marks as a conformance requirement; "unsafe reuse"
 * counts failed tests whose assertion is that a response was served from the cache when
 * it must not have been.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "../test/helpers/servers.ts";
import { MemoryStore, TieredCache } from "../src/index.ts";
import { describeSides, machine, printBudgets } from "./lib/report.ts";

const { positionals, values } = parseArgs({ allowPositionals: true, options: { json: { type: "string" } } });
const dir = positionals[0] ? resolve(positionals[0]) : "";
if (!dir || !existsSync(join(dir, "tests", "index.mjs")) || !existsSync(join(dir, "node_modules"))) {
  console.error("usage: bun bench/http-conformance.ts CACHE_TESTS_DIR [--json OUT]\n  (a checkout of github.com/http-tests/cache-tests with `npm install` done in it)");
  process.exit(2);
}


describeSides({
  ours: "Bun.serve({ fetch: cache.handler(origin) }), TieredCache({ tiers: [new MemoryStore()] }) default options",
  peers: "the suite's published results (results/*.json in the checkout) for the reverse proxies and CDNs",
  work: `the suite's test engine (node test-engine/cli.mjs) against our proxy in front of its own server; suite checkout ${dir}`,
});
const originPort = await freePort();
const origin = Bun.spawn(["node", "test-engine/server/server.mjs"], {
  cwd: dir,
  env: { ...process.env, npm_config_protocol: "http", npm_config_port: String(originPort), npm_config_pidfile: join(dir, ".server.pid") },
  stdout: "ignore",
  stderr: "inherit",
});
for (let i = 0; ; i++) {
  const up = await fetch(`http://127.0.0.1:${originPort}/`).then(() => true, () => false);
  if (up) break;
  if (i > 100) throw new Error("the suite's server did not start");
  await Bun.sleep(50);
}

const cache = new TieredCache({ tiers: [new MemoryStore()] });
const proxy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: cache.handler(`http://127.0.0.1:${originPort}`) });

console.error(`running the suite against http://127.0.0.1:${proxy.port} (about a minute: the tests pause to let responses go stale)`);
const cli = Bun.spawn(["node", "--no-warnings", "test-engine/cli.mjs"], {
  cwd: dir,
  env: { ...process.env, npm_config_base: `http://127.0.0.1:${proxy.port}`, npm_config_id: "", npm_package_config_id: "" },
  stdout: "pipe",
  stderr: "inherit",
});
const out = await new Response(cli.stdout).text();
await cli.exited;
proxy.stop(true);
await cache.close();
origin.kill();
const ours = JSON.parse(out) as Record<string, unknown>;
if (values.json) writeFileSync(values.json, JSON.stringify(ours, null, 2));

type Suite = { id: string; tests: { id: string; kind?: string }[] };
const tests = (await import(join(dir, "tests", "index.mjs"))).default as Suite[];
const { determineTestResult, resultTypes } = (await import(join(dir, "test-engine", "lib", "results.mjs"))) as {
  determineTestResult(suites: Suite[], id: string, results: Record<string, unknown>): unknown;
  resultTypes: Record<string, unknown>;
};
const published = (await import(join(dir, "results", "index.mjs"))).default as { file: string; name: string; type: string; version: string }[];

interface Score {
  name: string;
  version: string;
  required: number;
  requiredFailed: number;
  optimal: number;
  unsafeReuse: number;
}

function score(name: string, version: string, results: Record<string, unknown>): Score {
  const s: Score = { name, version, required: 0, requiredFailed: 0, optimal: 0, unsafeReuse: 0 };
  for (const suite of tests) {
    for (const t of suite.tests) {
      const kind = t.kind ?? "required";
      const r = determineTestResult(tests, t.id, results);
      if (kind === "required" && r === resultTypes.pass) s.required++;
      if (kind === "optimal" && r === resultTypes.pass) s.optimal++;
      if (r === resultTypes.fail) {
        s.requiredFailed++;
        const detail = results[t.id];
        if (Array.isArray(detail) && /comes from cache/.test(String(detail[1]))) s.unsafeReuse++;
      }
    }
  }
  return s;
}

const requiredTotal = tests.reduce((n, s) => n + s.tests.filter((t) => (t.kind ?? "required") === "required").length, 0);
const optimalTotal = tests.reduce((n, s) => n + s.tests.filter((t) => t.kind === "optimal").length, 0);
const rows: Score[] = [score("offheap", `handler (Bun ${Bun.version})`, ours)];
for (const p of published) {
  if (p.type !== "rev-proxy" && p.type !== "cdn") continue;
  const results = (await import(join(dir, "results", p.file), { with: { type: "json" } })).default as Record<string, unknown>;
  rows.push(score(p.name, p.version, results));
}
rows.sort((a, b) => b.required - a.required);

console.log(`| cache | version | required passed (of ${requiredTotal}) | failed (any kind) | unsafe reuse | optimal passed (of ${optimalTotal}) |`);
console.log("|---|---|---|---|---|---|");
for (const r of rows) console.log(`| ${r.name === "offheap" ? "**offheap**" : r.name} | ${r.version} | ${r.required} | ${r.requiredFailed} | ${r.unsafeReuse} | ${r.optimal} |`);
const failed = tests.flatMap((s) => s.tests.filter((t) => (t.kind ?? "required") === "required" && determineTestResult(tests, t.id, ours) !== resultTypes.pass).map((t) => `${t.id}: ${JSON.stringify(ours[t.id] ?? "not run")}`));
console.log(`\nrequired tests offheap did not pass:\n${failed.map((f) => `- ${f}`).join("\n")}`);

const oursScore = rows.find((r) => r.name === "offheap")!;
const ats = rows.find((r) => /^ATS$|traffic ?server/i.test(r.name));
const atsRequired = ats?.required ?? 132;
console.log(`\nmachine: ${machine()}`);
printBudgets([
  { name: `HTTP proxy conformance: required cache-tests passed, more than Apache Traffic Server's ${atsRequired}${ats === undefined ? " (the contract's figure: ATS's results not found in the checkout)" : ` (${ats.name} ${ats.version}, published)`}`, measured: oursScore.required, op: ">=", target: atsRequired + 1, unit: "", digits: 0 },
  { name: "HTTP proxy conformance: failed tests that served from the cache what it must not (unsafe reuse)", measured: oursScore.unsafeReuse, op: "<=", target: 0, unit: "", digits: 0 },
]);
