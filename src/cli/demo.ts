/**
 * `offheap demo`: every structure at work across processes. One producer and several
 * consumer processes on a RingBuffer and on a DurableQueue, a RecordStore written by one
 * process and read by others, an ArenaCache in one file shared by several processes, and a
 * TieredCache as a caching HTTP proxy in front of a local origin; a live progress line,
 * then a table of throughput and latency per structure.
 *
 * Each role is this same program started again (`offheap demo-role …`), so the demo also
 * runs from a compiled binary. Roles print one JSON line of counters every 200 ms and a
 * final line with latency percentiles.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Progress, table } from "./output.ts";
import { ROLES, type RoleReport } from "./demo-roles.ts";

/** Options of the demo. */
export interface DemoOptions {
  seconds: number;
  dir: string | undefined;
  consumers: number;
}

/** Processes sharing the demo's one ArenaCache file. */
const ARENA_PROCESSES = 2;

/** The command line that starts this program again, compiled or not. */
function selfCommand(): string[] {
  const compiled = import.meta.path.startsWith("/$bunfs/") || import.meta.path.startsWith("B:/~BUN/");
  return compiled ? [process.execPath] : [process.execPath, fileURLToPath(new URL("../cli.ts", import.meta.url))];
}

interface Running {
  role: string;
  structure: string;
  proc: ReturnType<typeof Bun.spawn>;
  last: RoleReport | undefined;
  stderr: string;
}

/** Run the demo; returns the exit code. */
export async function demo(options: DemoOptions): Promise<number> {
  const keep = options.dir !== undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "offheap-demo-"));
  mkdirSync(dir, { recursive: true });
  const seconds = Math.max(1, options.seconds);
  const consumers = Math.max(1, Math.min(options.consumers, 8));
  console.log(`offheap demo: ${seconds} s in ${dir}, ${consumers} consumer processes per structure`);

  // Producers first: they create the files the consumers open.
  const deadline = Date.now() + seconds * 1000 + 1500;
  const plan = [
    ...["ring", "queue", "records", "arena"].map((s) => ({ role: `${s}-setup`, structure: s })),
  ];
  for (const { role } of plan) await runToEnd([...selfCommand(), "demo-role", role, dir]);

  const running: Running[] = [];
  const start = (role: string, structure: string, ...args: string[]) => {
    const proc = Bun.spawn([...selfCommand(), "demo-role", role, dir, String(deadline), ...args], { stdout: "pipe", stderr: "pipe" });
    const entry: Running = { role, structure, proc, last: undefined, stderr: "" };
    running.push(entry);
    void readReports(entry);
    void new Response(proc.stderr as ReadableStream).text().then((t) => (entry.stderr = t));
  };
  for (const structure of ["ring", "queue", "records"]) {
    for (let i = 0; i < consumers; i++) start(`${structure}-consumer`, structure, String(i));
  }
  await Bun.sleep(300); // let consumers open and start following before the producers run
  for (const structure of ["ring", "queue", "records"]) start(`${structure}-producer`, structure);
  for (let i = 0; i < ARENA_PROCESSES; i++) start("arena", "arena", String(i));
  start("tiered", "tiered");

  const progress = new Progress();
  const timer = setInterval(() => {
    const parts = ["ring", "queue", "records", "arena", "tiered"].map((s) => {
      const ops = running.filter((r) => r.structure === s && !r.role.endsWith("producer")).reduce((n, r) => n + (r.last?.ops ?? 0), 0);
      return `${s} ${ops.toLocaleString("en-US")}`;
    });
    progress.update(`${Math.max(0, (deadline - Date.now()) / 1000).toFixed(0)} s left · ops read: ${parts.join(" · ")}`);
  }, 200);
  const codes = await Promise.all(running.map((r) => r.proc.exited));
  clearInterval(timer);
  progress.done();

  const failed = running.filter((r, i) => codes[i] !== 0);
  for (const r of failed) console.error(`offheap demo: ${r.role} exited with ${r.proc.exitCode}: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);

  const order = ["ring", "queue", "records", "arena", "tiered"];
  const sorted = [...running].sort(
    (a, b) => order.indexOf(a.structure) - order.indexOf(b.structure) || Number(b.role.endsWith("producer")) - Number(a.role.endsWith("producer")),
  );
  const rows = sorted.map((r) => {
    const rep = r.last;
    return [
      r.structure,
      r.role.replace(`${r.structure}-`, ""),
      rep ? Math.round(rep.ops / Math.max(rep.seconds, 0.001)).toLocaleString("en-US") : "-",
      rep?.p50 === undefined ? "-" : formatMicros(rep.p50),
      rep?.p99 === undefined ? "-" : formatMicros(rep.p99),
      rep?.note ?? "",
    ];
  });
  console.log(table(["structure", "process", "ops/s", "p50", "p99", "notes"], rows));
  if (keep) console.log(`files kept in ${dir} (try: offheap inspect ${join(dir, "ring")})`);
  else rmSync(dir, { recursive: true, force: true });
  return failed.length === 0 ? 0 : 1;
}

async function readReports(entry: Running): Promise<void> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of entry.proc.stdout as ReadableStream<Uint8Array>) {
    rest += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = rest.indexOf("\n")) >= 0) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      try {
        entry.last = JSON.parse(line) as RoleReport;
      } catch {
        // not a report line: ignore
      }
    }
  }
}

async function runToEnd(cmd: string[]): Promise<void> {
  const proc = Bun.spawn(cmd, { stdout: "ignore", stderr: "pipe" });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${cmd.slice(-2).join(" ")} failed: ${(await new Response(proc.stderr).text()).trim()}`);
}

function formatMicros(us: number): string {
  if (us >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  if (us >= 1) return `${us.toFixed(1)} µs`;
  return `${Math.round(us * 1000)} ns`;
}

/** `offheap demo-role ROLE DIR [DEADLINE] [ARGS…]`: one process of the demo. */
export async function demoRole(args: string[]): Promise<number> {
  const [role, dir, deadline, ...rest] = args;
  const run = role === undefined ? undefined : ROLES[role];
  if (!run || dir === undefined) throw new Error(`unknown demo role ${JSON.stringify(role)}`);
  await run(dir, Number(deadline ?? 0), rest);
  return 0;
}
