/**
 * Interleaved rounds: on a shared, noisy machine a benchmark run back to back with its peer
 * measures the neighbours' load as much as the code. Here every case runs a slice of
 * operations in turn, round after round (the order rotating), and each case's figure is its
 * median over the rounds, so a burst of load lands on all cases alike.
 */

/** A case runs `ops` operations and returns something derived from them (kept from dead-code elimination). */
export type Case = (ops: number) => number;

/** Options for {@link interleaved}. */
export interface RoundOptions {
  /** Rounds; the median of them is reported. Default 15. */
  rounds?: number;
  /** Operations per case per round. Default 100,000. */
  ops?: number;
  /** Unmeasured rounds first (JIT warm-up). Default 2. */
  warmup?: number;
}

/** The median and spread (max/min) of each case's samples. */
function summarize(samples: Map<string, number[]>): Map<string, { ns: number; spread: number }> {
  const out = new Map<string, { ns: number; spread: number }>();
  for (const [name, xs] of samples) {
    xs.sort((a, b) => a - b);
    out.set(name, { ns: xs[xs.length >> 1]!, spread: xs[xs.length - 1]! / xs[0]! });
  }
  return out;
}

/** The order of the cases in round `r` (rotating), and where each round's samples go. */
function plan(names: string[], options: RoundOptions) {
  const rounds = options.rounds ?? 15;
  const warmup = options.warmup ?? 2;
  const samples = new Map<string, number[]>(names.map((n) => [n, []]));
  const order = (r: number) => names.map((_, k) => names[(k + r) % names.length]!);
  const record = (r: number, name: string, ns: number) => {
    if (r >= warmup) samples.get(name)!.push(ns);
  };
  return { total: warmup + rounds, ops: options.ops ?? 100_000, order, record, samples };
}

/** Median ns per operation of each case, by name; also the spread (max/min of the rounds). */
export function interleaved(cases: Record<string, Case>, options: RoundOptions = {}): Map<string, { ns: number; spread: number }> {
  const p = plan(Object.keys(cases), options);
  let sink = 0;
  for (let r = 0; r < p.total; r++) {
    for (const name of p.order(r)) {
      const t0 = Bun.nanoseconds();
      sink += cases[name]!(p.ops);
      p.record(r, name, (Bun.nanoseconds() - t0) / p.ops);
    }
  }
  if (sink === 0.5) console.log(sink); // never true; keeps `sink` alive
  return summarize(p.samples);
}

/** {@link interleaved} for cases that await (a case runs `ops` operations one after another). */
export async function interleavedAsync(cases: Record<string, (ops: number) => Promise<number>>, options: RoundOptions = {}): Promise<Map<string, { ns: number; spread: number }>> {
  const p = plan(Object.keys(cases), options);
  let sink = 0;
  for (let r = 0; r < p.total; r++) {
    for (const name of p.order(r)) {
      const t0 = Bun.nanoseconds();
      sink += await cases[name]!(p.ops);
      p.record(r, name, (Bun.nanoseconds() - t0) / p.ops);
    }
  }
  if (sink === 0.5) console.log(sink); // never true; keeps `sink` alive
  return summarize(p.samples);
}
