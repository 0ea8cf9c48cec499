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

/** Median ns per operation of each case, by name; also the spread (max/min of the rounds). */
export function interleaved(cases: Record<string, Case>, options: RoundOptions = {}): Map<string, { ns: number; spread: number }> {
  const rounds = options.rounds ?? 15;
  const ops = options.ops ?? 100_000;
  const names = Object.keys(cases);
  const samples = new Map<string, number[]>(names.map((n) => [n, []]));
  let sink = 0;
  const warmup = options.warmup ?? 2;
  for (let r = 0; r < warmup + rounds; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + r) % names.length]!;
      const t0 = Bun.nanoseconds();
      sink += cases[name]!(ops);
      const ns = (Bun.nanoseconds() - t0) / ops;
      if (r >= warmup) samples.get(name)!.push(ns);
    }
  }
  const out = new Map<string, { ns: number; spread: number }>();
  for (const [name, xs] of samples) {
    xs.sort((a, b) => a - b);
    out.set(name, { ns: xs[xs.length >> 1]!, spread: xs[xs.length - 1]! / xs[0]! });
  }
  if (sink === 0.5) console.log(sink); // never true; keeps `sink` alive
  return out;
}
