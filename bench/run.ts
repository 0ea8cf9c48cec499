/**
 * `bun run bench`: runs every `bench/*.bench.ts` in turn (or those named on the command
 * line, e.g. `bun run bench ring queue`), each in its own process so one peer's memory
 * does not weigh on the next; then, given a checkout of the HTTP caching test suite
 * (`--cache-tests DIR` or `CACHE_TESTS=DIR`), the conformance run (bench/http-conformance.ts).
 *
 * It prints the machine first (CPU model, cores, memory, kernel, Bun, the temp dir's
 * file system), each bench's output and wall time, and at the end every bench's `budgets:`
 * rows gathered in one table, with the total time: everything the README's benchmark
 * section needs, from one run. Colours are off unless stdout is a terminal.
 */
import { Glob } from "bun";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { "cache-tests": { type: "string" } } });
const cacheTests = values["cache-tests"] ?? process.env.CACHE_TESTS;
const wanted = positionals;
const files = [...new Glob("*.bench.ts").scanSync({ cwd: import.meta.dir })]
  .sort()
  .filter((f) => wanted.length === 0 || wanted.includes(basename(f, ".bench.ts")));
if (wanted.includes("conformance") || wanted.includes("http-conformance")) files.push("http-conformance.ts");
else if (wanted.length === 0) files.push("http-conformance.ts");

function fileSystem(dir: string): string {
  const df = Bun.spawnSync(["df", "-T", dir], { stdout: "pipe", stderr: "ignore" });
  const line = df.stdout.toString().trim().split("\n")[1]?.split(/\s+/);
  return line === undefined ? "unknown" : `${line[1]} on ${line[0]}`;
}

/** The CPU as /proc/cpuinfo and lscpu tell it (family / model / MHz, a hypervisor if any), where they exist. */
function cpuDetails(): string {
  const parts: string[] = [];
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.+)$`, "m").exec(info)?.[1]?.trim();
    if (field("cpu family")) parts.push(`family ${field("cpu family")} model ${field("model")}`);
    if (field("cpu MHz")) parts.push(`${Math.round(Number(field("cpu MHz")))} MHz`);
  } catch {}
  const lscpu = Bun.which("lscpu") === null ? "" : Bun.spawnSync(["lscpu"], { stdout: "pipe", stderr: "ignore" }).stdout.toString();
  const hypervisor = /^Hypervisor vendor:\s*(.+)$/m.exec(lscpu)?.[1]?.trim();
  if (hypervisor) parts.push(`a ${hypervisor} VM`);
  return parts.length === 0 ? "" : ` (${parts.join(", ")})`;
}

const cpu = (cpus()[0]?.model?.trim() ?? "unknown CPU") + cpuDetails();
console.log(
  [
    "## offheap benchmarks",
    "",
    `machine: ${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, ${process.platform}-${process.arch}, kernel ${release()}`,
    `runtime: Bun ${Bun.version} (${Bun.revision.slice(0, 9)})`,
    `temp dir: ${tmpdir()} (${fileSystem(tmpdir())}), load average at start ${loadavg().map((x) => x.toFixed(2)).join(" ")}`,
    `started: ${new Date().toISOString()}; benches: ${files.map((f) => basename(f, ".ts")).join(", ")}`,
  ].join("\n"),
);

const env = { ...process.env, ...(process.stdout.isTTY ? {} : { NO_COLOR: "1" }) };
const budgetRows: string[] = [];
const times: Array<[string, number, number | null]> = [];
let failed = 0;
const started = performance.now();

/** Run one file, echoing its output, and keep the rows of its `budgets:` block. */
async function runOne(file: string, args: string[]): Promise<number | null> {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, file), ...args], { stdout: "pipe", stderr: "inherit", env });
  let inBudgets = false;
  let pending = "";
  const decoder = new TextDecoder();
  const take = (line: string) => {
    if (line === "budgets:") inBudgets = true;
    else if (inBudgets && line.startsWith("| ") && !line.startsWith("| budget |")) budgetRows.push(`| ${basename(file, ".ts")} ${line}`);
    else if (inBudgets && line.startsWith("  none:")) budgetRows.push(`| ${basename(file, ".ts")} | (no budget: ${line.slice(8)}) | | | |`);
  };
  for await (const chunk of proc.stdout) {
    process.stdout.write(chunk);
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const l of lines) take(l);
  }
  if (pending) take(pending);
  return await proc.exited;
}

for (const file of files) {
  console.log(`\n=== bench/${file} ===`);
  let args: string[] = [];
  if (file === "http-conformance.ts") {
    if (cacheTests === undefined) {
      const why = "no checkout of the HTTP caching test suite given: `bun run bench --cache-tests DIR` or CACHE_TESTS=DIR (see bench/http-conformance.ts)";
      console.log(`skipped: ${why}`);
      budgetRows.push(`| http-conformance | HTTP proxy conformance: not run (${why}) | – | | not measured |`);
      continue;
    }
    args = [cacheTests];
  }
  const t0 = performance.now();
  const code = await runOne(file, args);
  const seconds = (performance.now() - t0) / 1000;
  times.push([file, seconds, code]);
  console.log(`\nbench/${file}: ${seconds.toFixed(1)} s${code === 0 ? "" : `, exited with ${code}`}`);
  if (code !== 0) failed++;
}

const total = (performance.now() - started) / 1000;
console.log(
  [
    "\n## Budgets, every bench of this run",
    "",
    "| bench | budget | measured | target | |",
    "|---|---|---|---|---|",
    ...budgetRows,
    "",
    "## Run times",
    "",
    ...times.map(([f, s, code]) => `- bench/${f}: ${s.toFixed(1)} s${code === 0 ? "" : ` (exited with ${code})`}`),
    `- total: ${(total / 60).toFixed(1)} min (${total.toFixed(0)} s); load average at the end ${loadavg().map((x) => x.toFixed(2)).join(" ")}`,
  ].join("\n"),
);
process.exit(failed === 0 ? 0 : 1);
