/**
 * Shared printing for the benchmarks, so every bench reads the same way:
 *  - `machine()`: the machine line (CPU, cores, memory, kernel, Bun, load);
 *  - `describeSides()`: one configuration line per side ("ours: …", "lmdb: …"), printed
 *    at the start and again above the ratio table;
 *  - `printRatios()`: a table of ratios between our structure and the peers measured in
 *    the same run;
 *  - `printBudgets()`: the closing `budgets:` block, one row per budget of the design
 *    doc the bench covers, with the measured value and "met" / "NOT met (by how much)".
 */
import { cpus, loadavg, release, totalmem } from "node:os";

/**
 * A one-line description of the machine, for the README's tables, with the 1-minute load
 * average: on a shared machine it says how much to trust the absolute numbers.
 */
export function machine(): string {
  const cpu = cpus()[0]?.model?.trim() ?? "unknown CPU";
  const load = loadavg()[0] ?? 0;
  return `${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${process.platform}-${process.arch} kernel ${release()}, Bun ${Bun.version}, load average ${load.toFixed(2)}`;
}

/** Average ns per iteration of every benchmark in a mitata result, by name. */
export function averages(result: { benchmarks: Array<{ runs: Array<{ name: string; stats?: { avg: number } }> }> }): Map<string, number> {
  const out = new Map<string, number>();
  for (const trial of result.benchmarks) {
    for (const run of trial.runs) if (run.stats) out.set(run.name, run.stats.avg);
  }
  return out;
}

/** Median ns per iteration (mitata's p50) of every benchmark in a mitata result, by name. */
export function medians(result: { benchmarks: Array<{ runs: Array<{ name: string; stats?: { p50: number } }> }> }): Map<string, number> {
  const out = new Map<string, number>();
  for (const trial of result.benchmarks) {
    for (const run of trial.runs) if (run.stats) out.set(run.name, run.stats.p50);
  }
  return out;
}

/** The median of some numbers (NaN for none). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  return [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
}

/** One comparison: our benchmark against a peer's doing the same work. */
export interface Comparison {
  ours: string;
  peer: string;
}

/** Format nanoseconds for a table cell. */
export function formatNs(ns: number): string {
  if (!Number.isFinite(ns)) return "failed";
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(1)} ns`;
}

let sideLines: string[] = [];

/**
 * The configuration of each side, one line each ("ours: RingBuffer default options, …"):
 * printed now, and again above every ratio table of this process.
 */
export function describeSides(sides: Record<string, string>): void {
  sideLines = Object.entries(sides).map(([side, text]) => `${side}: ${text}`);
  console.log(["configuration:", ...sideLines.map((l) => `  ${l}`)].join("\n"));
}

/** The lines `describeSides` was given, for benches that print their own tables. */
export function sidesBlock(): string[] {
  return sideLines.length === 0 ? [] : ["", ...sideLines];
}

/**
 * Print a markdown table: ours, peer, both times and how many times faster ours is
 * (peer time / our time; above 1 means ours is faster).
 */
export function printRatios(title: string, avg: Map<string, number>, comparisons: Comparison[]): void {
  const lines = [`\n### ${title}`, `machine: ${machine()}`, ...sidesBlock(), "", "| ours | time | peer | time | speed-up (peer / ours) |", "|---|---|---|---|---|"];
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

/** One budget of the design doc, as measured by a bench. */
export interface Budget {
  /** What is measured, with the sides compared ("ring append 128 B, lapped: lmdb-or-sqlite / ours"). */
  name: string;
  /** The measured value (NaN when it could not be measured: then `note` says why). */
  measured: number;
  /** `">="`: the measured value must be at least `target`; `"<="`: at most. */
  op: ">=" | "<=";
  target: number;
  /** Unit printed after both numbers: "×", " GB/s", " items/s", "%"… Default "×". */
  unit?: string;
  /** Digits after the point. Default 2. */
  digits?: number;
  /** Why a value is missing, or what else the row should say. */
  note?: string;
}

function formatValue(x: number, unit: string, digits: number): string {
  const n = Math.abs(x) >= 1e4 ? Math.round(x).toLocaleString("en-US") : x.toFixed(digits);
  return `${n}${unit}`;
}

/** "met", or "NOT met (by N%)": how far the measured value is from the target, relative to the target. */
export function verdict(b: Budget): string {
  if (!Number.isFinite(b.measured)) return `not measured${b.note ? ` (${b.note})` : ""}`;
  const met = b.op === ">=" ? b.measured >= b.target : b.measured <= b.target;
  if (met) return "met";
  if (b.target === 0) return `NOT met (by ${formatValue(Math.abs(b.measured), b.unit ?? "×", b.digits ?? 2)})`;
  const by = (Math.abs(b.measured - b.target) / b.target) * 100;
  return `NOT met (by ${by.toFixed(by < 10 ? 1 : 0)}%: ${b.op === ">=" ? "short" : "over"} by ${formatValue(Math.abs(b.measured - b.target), b.unit ?? "×", b.digits ?? 2)})`;
}

/**
 * The closing block of a bench: one row per budget it covers, in one format for all
 * benches. `budgets` empty: says that the contract sets no budget here (the figures are
 * reported beside the peers, with no target).
 */
export function printBudgets(budgets: Budget[], why = "the design doc sets no budget for this bench; its figures are reported beside the peers"): void {
  const lines = ["\nbudgets:"];
  if (budgets.length === 0) {
    lines.push(`  none: ${why}`);
  } else {
    lines.push("", "| budget | measured | target | |", "|---|---|---|---|");
    for (const b of budgets) {
      const unit = b.unit ?? "×";
      const digits = b.digits ?? 2;
      const measured = Number.isFinite(b.measured) ? formatValue(b.measured, unit, digits) : "–";
      const note = b.note && Number.isFinite(b.measured) ? ` (${b.note})` : "";
      lines.push(`| ${b.name}${note} | ${measured} | ${b.op === ">=" ? "≥" : "≤"} ${formatValue(b.target, unit, digits)} | ${verdict(b)} |`);
    }
  }
  console.log(lines.join("\n"));
}

/**
 * Print the cases a bench's budgets are judged on, measured in interleaved rounds (see
 * rounds.ts): each case's median ns per operation and how far its rounds spread.
 */
export function printRounds(title: string, result: Map<string, { ns: number; spread: number }>): void {
  const lines = [`\n### ${title}`, `machine: ${machine()}`, "", "| case | median per op | rounds max / min |", "|---|---|---|"];
  for (const [name, r] of result) lines.push(`| ${name} | ${formatNs(r.ns)} | ${r.spread.toFixed(2)} |`);
  console.log(lines.join("\n"));
}
