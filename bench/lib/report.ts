/**
 * Shared printing for the benchmarks: the machine line and a table of ratios between our
 * structure and the peers measured in the same mitata run.
 */
import { cpus, loadavg, totalmem } from "node:os";

/**
 * A one-line description of the machine, for the README's tables, with the 1-minute load
 * average: on a shared machine it says how much to trust the absolute numbers.
 */
export function machine(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const load = loadavg()[0] ?? 0;
  return `${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${process.platform}-${process.arch}, Bun ${Bun.version}, load average ${load.toFixed(2)}`;
}

/** Average ns per iteration of every benchmark in a mitata result, by name. */
export function averages(result: { benchmarks: Array<{ runs: Array<{ name: string; stats?: { avg: number } }> }> }): Map<string, number> {
  const out = new Map<string, number>();
  for (const trial of result.benchmarks) {
    for (const run of trial.runs) if (run.stats) out.set(run.name, run.stats.avg);
  }
  return out;
}

/** One comparison: our benchmark against a peer's doing the same work. */
export interface Comparison {
  ours: string;
  peer: string;
}

/** Format nanoseconds for a table cell. */
export function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(1)} ns`;
}

/**
 * Print a markdown table: ours, peer, both times and how many times faster ours is
 * (peer time / our time; above 1 means ours is faster).
 */
export function printRatios(title: string, avg: Map<string, number>, comparisons: Comparison[]): void {
  const lines = [`\n### ${title}`, `machine: ${machine()}`, "", "| ours | time | peer | time | speed-up (peer / ours) |", "|---|---|---|---|---|"];
  for (const { ours, peer } of comparisons) {
    const a = avg.get(ours);
    const b = avg.get(peer);
    if (a === undefined || b === undefined) {
      lines.push(`| ${ours} | ${a === undefined ? "failed" : formatNs(a)} | ${peer} | ${b === undefined ? "failed" : formatNs(b)} | – |`);
      continue;
    }
    lines.push(`| ${ours} | ${formatNs(a)} | ${peer} | ${formatNs(b)} | ${(b / a).toFixed(2)}× |`);
  }
  console.log(lines.join("\n"));
}
