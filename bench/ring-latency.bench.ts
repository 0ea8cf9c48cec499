/**
 * How long a record takes from `append` in one process to a `follow`er in another, beside
 * the floor a user would compare it with: a Unix-domain socket between the same two
 * processes. Both are measured as ping-pong, so no clock is compared across processes: the
 * parent appends to ring "ping" (or writes to the socket), a child that follows "ping"
 * appends the record to ring "pong" (or writes it back), and the parent, following
 * "pong", takes the round trip. One-way latency is half of it. The parent waits 1 ms
 * between rounds, so every round finds the follower asleep and measures its wake-up.
 *
 * Run: bun bench/ring-latency.bench.ts [--rounds N] (default 3000).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { RingBuffer } from "../src/ring/index.ts";
import { describeSides, machine, printBudgets, sidesBlock } from "./lib/report.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "3000" } } });
const ROUNDS = Number(values.rounds);
const WARMUP = 200;
const ROOT = join(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "offheap-bench-latency-"));
describeSides({
  ours: "RingBuffer default options (mmap, sync none), 64 B records, 16,384 slots; the child follow()s ring ping and appends to ring pong, the parent follow()s pong",
  "Unix socket": "Bun.listen / Bun.connect on a Unix-domain socket; the child writes each 64 B message back from its data handler",
  work: `ping-pong between two Bun processes, ${ROUNDS} timed rounds (after ${WARMUP} warm-up) per run, two runs each, interleaved; 1 ms pause before each round (the other side asleep); one way = half the round trip`,
});

function percentiles(samples: number[]): { p50: number; p99: number; p999: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999) };
}

async function waitForLine(proc: ReturnType<typeof Bun.spawn>, line: string): Promise<void> {
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!text.includes(line)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`child exited before "${line}"`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
}

async function ringRoundTrips(run: number): Promise<number[]> {
  const ping = join(work, `ping-${run}.ring`);
  const pong = join(work, `pong-${run}.ring`);
  using out = RingBuffer.open(ping, { recordSize: 64, capacity: 1 << 14 });
  RingBuffer.open(pong, { recordSize: 64, capacity: 1 << 14 }).close();
  const echo = join(work, "echo-ring.ts");
  writeFileSync(
    echo,
    `import { RingBuffer } from ${JSON.stringify(join(ROOT, "src/ring/index.ts"))};
     const ping = RingBuffer.open(${JSON.stringify(ping)}, { readonly: true });
     const pong = RingBuffer.open(${JSON.stringify(pong)});
     console.log("ready");
     for await (const { data } of ping.follow(0)) pong.append(data);`,
  );
  const child = Bun.spawn([process.execPath, echo], { stdout: "pipe", stderr: "inherit" });
  try {
    await waitForLine(child, "ready");
    using back = RingBuffer.open(pong, { readonly: true });
    const replies = back.follow(0);
    const record = new Uint8Array(64);
    const samples: number[] = [];
    for (let i = 0; i < ROUNDS + WARMUP; i++) {
      await Bun.sleep(1);
      const t0 = performance.now();
      out.append(record);
      await replies.next();
      if (i >= WARMUP) samples.push((performance.now() - t0) * 1000);
    }
    await replies.return?.();
    return samples;
  } finally {
    child.kill();
    await child.exited;
  }
}

async function socketRoundTrips(run: number): Promise<number[]> {
  const path = join(work, `echo-${run}.sock`);
  const echo = join(work, "echo-socket.ts");
  writeFileSync(
    echo,
    `Bun.listen({ unix: ${JSON.stringify(path)}, socket: { data(s, d) { s.write(d); } } });
     console.log("ready");`,
  );
  const child = Bun.spawn([process.execPath, echo], { stdout: "pipe", stderr: "inherit" });
  try {
    await waitForLine(child, "ready");
    let reply: (() => void) | undefined;
    const socket = await Bun.connect({ unix: path, socket: { data() { reply?.(); } } });
    const message = new Uint8Array(64);
    const samples: number[] = [];
    for (let i = 0; i < ROUNDS + WARMUP; i++) {
      await Bun.sleep(1);
      const back = new Promise<void>((r) => (reply = r));
      const t0 = performance.now();
      socket.write(message);
      await back;
      if (i >= WARMUP) samples.push((performance.now() - t0) * 1000);
    }
    socket.end();
    return samples;
  } finally {
    child.kill();
    await child.exited;
  }
}

const results: Array<[string, number[]]> = [];
// Interleaved: ring, socket, ring, socket, so that load on a shared machine hits both.
for (let round = 0; round < 2; round++) {
  results.push(["ring append → follow (other process)", await ringRoundTrips(round)]);
  results.push(["Unix socket write → data (other process)", await socketRoundTrips(round)]);
}
rmSync(work, { recursive: true, force: true });

const merged = new Map<string, number[]>();
for (const [name, s] of results) merged.set(name, [...(merged.get(name) ?? []), ...s]);
const fmt = (us: number) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`);
const lines = [`\n### Cross-process latency, one way (half a round trip), ${ROUNDS * 2} rounds each`, `machine: ${machine()}`, ...sidesBlock(), "", "| path | p50 | p99 | p99.9 |", "|---|---|---|---|"];
const stats = new Map<string, ReturnType<typeof percentiles>>();
for (const [name, s] of merged) {
  const p = percentiles(s.map((x) => x / 2));
  stats.set(name, p);
  lines.push(`| ${name} | ${fmt(p.p50)} | ${fmt(p.p99)} | ${fmt(p.p999)} |`);
}
console.log(lines.join("\n"));
const ring = stats.get("ring append → follow (other process)")!;
const sock = stats.get("Unix socket write → data (other process)")!;
console.log(`\nring / socket: p50 ${(ring.p50 / sock.p50).toFixed(2)}×, p99 ${(ring.p99 / sock.p99).toFixed(2)}× (below 1: the ring wakes its follower faster than a socket delivers)`);
printBudgets([], "the design doc sets no budget for cross-process latency; it is reported beside a Unix-socket ping-pong");
