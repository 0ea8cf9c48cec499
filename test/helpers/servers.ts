/**
 * Real servers for tests: a `redis-server` and an S3-compatible server (`s3rver`), each
 * started on 127.0.0.1 on a free port with its data in a temp dir, and stopped after.
 *
 * When a server cannot start, the functions throw an Error that says why (binary missing,
 * startup output), so the test fails loudly instead of being skipped.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ROOT } from "./child.ts";

/** A server process the test owns. `stop()` kills it and removes its data dir. */
export interface TestServer {
  /** Port it listens on, on 127.0.0.1. */
  readonly port: number;
  /** Connection URL (`redis://…` or `http://…`). */
  readonly url: string;
  /** Kill the server, wait for exit and remove its data. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A running S3-compatible server with a bucket made for the test. */
export interface TestS3Server extends TestServer {
  /** Name of the bucket created at startup. */
  readonly bucket: string;
  /** Credentials the server accepts. */
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** Ask the OS for a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error("could not obtain a free port"))));
    });
  });
}

function which(binary: string): string | null {
  return Bun.which(binary) ?? null;
}

async function readAll(stream: ReadableStream<Uint8Array> | null | undefined, into: { text: string }): Promise<void> {
  if (!stream) return;
  const decoder = new TextDecoder();
  for await (const chunk of stream) into.text += decoder.decode(chunk, { stream: true });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, proc: Subprocess): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) return false;
    if (await check().catch(() => false)) return true;
    await Bun.sleep(50);
  }
  return false;
}

function makeStop(proc: Subprocess, dataDir: string): () => Promise<void> {
  let stopped: Promise<void> | undefined;
  return () =>
    (stopped ??= (async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
        await proc.exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    })());
}

/**
 * Start `redis-server` on a free port (no persistence, data in a temp dir). Throws when
 * the binary is missing or the server does not answer PING within `timeoutMs`.
 */
export async function startRedis(timeoutMs = 15_000, fixedPort?: number): Promise<TestServer> {
  const bin = which("redis-server");
  if (bin === null) {
    throw new Error(
      "redis-server is not installed, so the Redis tier cannot be tested. Install it: apt-get install -y redis-server (.ci/run does this)",
    );
  }
  const dataDir = mkdtempSync(join(tmpdir(), "offheap-redis-"));
  const port = fixedPort ?? (await freePort());
  const proc = Bun.spawn(
    [bin, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dataDir, "--protected-mode", "no"],
    { stdout: "pipe", stderr: "pipe", stdin: "ignore" },
  );
  const out = { text: "" };
  void readAll(proc.stdout, out);
  void readAll(proc.stderr, out);
  const stop = makeStop(proc, dataDir);
  const url = `redis://127.0.0.1:${port}`;
  const ok = await waitFor(async () => {
    const client = new Bun.RedisClient(url, { autoReconnect: false, connectionTimeout: 1_000 });
    try {
      return (await client.send("PING", [])) === "PONG";
    } finally {
      client.close();
    }
  }, timeoutMs, proc);
  if (!ok) {
    await stop();
    throw new Error(`redis-server did not start on 127.0.0.1:${port} within ${timeoutMs} ms (exit ${proc.exitCode}); output:\n${out.text.slice(-2000)}`);
  }
  return { port, url, stop, [Symbol.asyncDispose]: stop };
}

const S3RVER_SCRIPT = `
const S3rver = require(process.argv[2]);
const s = new S3rver({
  address: "127.0.0.1", port: Number(process.argv[4]), silent: true, directory: process.argv[3],
  configureBuckets: [{ name: process.argv[5] }], allowMismatchedSignatures: true, vhostBuckets: false,
});
s.run().then(() => console.log("ready"), (e) => { console.error("s3rver failed: " + (e && e.stack || e)); process.exit(1); });
process.on("SIGTERM", () => s.close().then(() => process.exit(0), () => process.exit(0)));
`;

/**
 * Start `s3rver` (the npm devDependency) on a free port with a bucket, data in a temp dir.
 * It runs under `node` when available (s3rver is a Node program), else under bun.
 * Throws when it cannot start, with its output.
 */
export async function startS3(bucket = "offheap-test", timeoutMs = 20_000): Promise<TestS3Server> {
  const modulePath = join(ROOT, "node_modules", "s3rver");
  if (!existsSync(modulePath)) {
    throw new Error(`s3rver is not installed at ${modulePath}; run bun install (it is a devDependency)`);
  }
  const runtime = which("node") ?? process.execPath;
  const dataDir = mkdtempSync(join(tmpdir(), "offheap-s3-"));
  const script = join(dataDir, "run-s3rver.cjs");
  writeFileSync(script, S3RVER_SCRIPT);
  const storage = join(dataDir, "data");
  const port = await freePort();
  const proc = Bun.spawn([runtime, script, modulePath, storage, String(port), bucket], {
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  const out = { text: "" };
  void readAll(proc.stdout, out);
  void readAll(proc.stderr, out);
  const stop = makeStop(proc, dataDir);
  const url = `http://127.0.0.1:${port}`;
  const ok = await waitFor(async () => out.text.includes("ready"), timeoutMs, proc);
  if (!ok) {
    await stop();
    throw new Error(`s3rver did not start on 127.0.0.1:${port} within ${timeoutMs} ms under ${runtime} (exit ${proc.exitCode}); output:\n${out.text.slice(-2000)}`);
  }
  return { port, url, bucket, accessKeyId: "S3RVER", secretAccessKey: "S3RVER", stop, [Symbol.asyncDispose]: stop };
}
