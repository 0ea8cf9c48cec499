/**
 * The crash harness: run a child writer, SIGKILL it at a random moment, and return what
 * it had reported durable before it died.
 *
 * Protocol: the child prints `ready` once it has opened what it writes to, then one line
 * `ok <payload>` after each write it knows to be durable (after the call returned under
 * `sync: "always"`, or after `sync()`). Lines the child could not flush before the kill
 * are simply not reported: the harness under-reports, never over-reports.
 */
import { Child } from "./child.ts";

/** Options for {@link crashRun}. */
export interface CrashOptions {
  /** Path of the child script. */
  script: string;
  /** Arguments for the child. */
  args?: string[];
  /** Kill between `min` and `max` ms after the child printed `ready`. */
  killAfterMs: { min: number; max: number };
  /** Random source, for reproducible rounds. Default `Math.random`. */
  random?: () => number;
}

/** What a crash round observed. */
export interface CrashResult {
  /** Payloads of every `ok <payload>` line received before the kill, in order. */
  reported: string[];
  /** The delay after `ready` at which the kill was sent. */
  killedAfterMs: number;
  /** Whether the child was still running when killed (false: it finished on its own). */
  killedMidRun: boolean;
  /** The child's stderr, for failure messages. */
  stderr: string;
}

/** Run one crash round. */
export async function crashRun(options: CrashOptions): Promise<CrashResult> {
  const random = options.random ?? Math.random;
  const child = new Child(options.script, options.args ?? []);
  await child.waitForLine((l) => l === "ready");
  const { min, max } = options.killAfterMs;
  const delay = min + random() * (max - min);
  await Bun.sleep(delay);
  const killedMidRun = child.process.exitCode === null && child.process.signalCode === null;
  await child.kill("SIGKILL");
  const { stderr } = await child.exited();
  const reported = child.lines.filter((l) => l.startsWith("ok ")).map((l) => l.slice(3));
  return { reported, killedAfterMs: delay, killedMidRun, stderr };
}

/** A small deterministic PRNG (mulberry32) for reproducible random tests. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
