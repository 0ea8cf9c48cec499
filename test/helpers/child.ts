/**
 * Child `bun` processes for cross-process tests: run a script, talk to it line by line
 * over stdin/stdout, and kill it.
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

/** The repository root, for imports inside child scripts (`${ROOT}/src/index.ts`). */
export const ROOT = resolve(import.meta.dir, "../..");

/** Write `source` as a script into `dir` and return its path. */
export function writeScript(dir: string, name: string, source: string): string {
  const path = join(dir, name.endsWith(".ts") ? name : `${name}.ts`);
  writeFileSync(path, source);
  return path;
}

/** A running child process whose stdout is read as lines. */
export class Child {
  readonly process: Subprocess<"pipe", "pipe", "pipe">;
  /** Every stdout line received so far. */
  readonly lines: string[] = [];
  #stderr = "";
  #waiters: Array<{ test: (line: string) => boolean; resolve: (line: string) => void }> = [];
  #done: Promise<void>;

  constructor(scriptPath: string, args: string[] = [], env: Record<string, string> = {}) {
    this.process = Bun.spawn([process.execPath, scriptPath, ...args], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ...env },
    });
    this.#done = Promise.all([this.#readLines(), this.#readStderr()]).then(() => {});
  }

  /** Send one line to the child's stdin. */
  send(line: string): void {
    this.process.stdin.write(`${line}\n`);
    this.process.stdin.flush();
  }

  /** Resolve with the first line (already received or future) that passes `test`. */
  waitForLine(test: (line: string) => boolean, timeoutMs = 30_000): Promise<string> {
    const seen = this.lines.find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`child printed no matching line in ${timeoutMs} ms; stderr: ${this.#stderr.slice(-2000)}`)),
        timeoutMs,
      );
      this.#waiters.push({
        test,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
      this.#done.then(() => {
        clearTimeout(timer);
        reject(new Error(`child exited (code ${this.process.exitCode}, signal ${this.process.signalCode}) before a matching line; stderr: ${this.#stderr.slice(-2000)}`));
      });
    });
  }

  /** Kill the child (SIGKILL by default) and wait until it is gone. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    this.process.kill(signal);
    await this.exited();
  }

  /** Wait for exit and for all output to be read. */
  async exited(): Promise<{ exitCode: number | null; signalCode: string | null; stdout: string[]; stderr: string }> {
    await this.process.exited;
    await this.#done;
    return { exitCode: this.process.exitCode, signalCode: this.process.signalCode === null ? null : String(this.process.signalCode), stdout: this.lines, stderr: this.#stderr };
  }

  /** What the child wrote to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  async #readLines(): Promise<void> {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of this.process.stdout) {
      rest += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        this.lines.push(line);
        this.#waiters = this.#waiters.filter((w) => {
          if (!w.test(line)) return true;
          w.resolve(line);
          return false;
        });
      }
    }
    if (rest.length > 0) this.lines.push(rest);
  }

  async #readStderr(): Promise<void> {
    this.#stderr = await new Response(this.process.stderr).text();
  }
}

/** Run a script to completion and return its exit status and output. */
export async function runScript(scriptPath: string, args: string[] = [], env: Record<string, string> = {}) {
  const child = new Child(scriptPath, args, env);
  child.process.stdin.end();
  return child.exited();
}

/**
 * Run a script as another (unprivileged) user with `runuser`, for tests of files that user
 * may not read: root reads everything, so such a test must drop to another user. Needs
 * root (CI is): throws, saying so, rather than passing without running. The script and
 * everything it opens must be reachable by that user.
 */
export async function runScriptAs(user: string, scriptPath: string, args: string[] = []) {
  if (process.getuid?.() !== 0) {
    throw new Error(`this test runs a child as ${user} with runuser and must run as root (CI does); it cannot run as uid ${process.getuid?.()}`);
  }
  const proc = Bun.spawn(["runuser", "-u", user, "--", process.execPath, scriptPath, ...args], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  return { exitCode: proc.exitCode, signalCode: proc.signalCode, stdout: stdout.split("\n").filter((l) => l !== ""), stderr };
}
