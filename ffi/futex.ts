/**
 * Cross-process wait and wake on a 32-bit word inside a shared file mapping (Linux futex).
 *
 * `futexWait` blocks the calling thread, so the JS thread never calls it directly:
 * {@link FutexWaiter} runs it in a Worker and hands back a promise. Where futex is missing
 * (macOS), waiting degrades to a short sleep and callers re-check their condition.
 *
 * The futex is not process-private (no FUTEX_PRIVATE_FLAG): the kernel keys it by the file
 * page, so a producer in one process wakes consumers that mapped the same file elsewhere.
 */
import type { Pointer } from "bun:ffi";
import { OffheapError } from "./errors.ts";
import { lastErrno, libc } from "./libc.ts";
import type { Mapping } from "./mapping.ts";
import { C } from "./platform.ts";
import { systemError } from "./system-error.ts";
import { libcPrelude, workerUrl } from "./worker-source.ts";

/** Whether this platform has a real futex; without it waits are short sleeps. */
export const hasFutex = C.SYS_futex >= 0;

/** How a wait ended. */
export type WaitResult = "woken" | "changed" | "timeout";

const ETIMEDOUT = 110;
const EAGAIN = 11;
const EINTR = 4;

function wordAddress(mapping: Mapping, byteOffset: number): number {
  if (byteOffset % 4 !== 0) throw new OffheapError("ERR_INVALID", `futex word offset must be 4-byte aligned, got ${byteOffset}`);
  return mapping.addressOf(byteOffset);
}

/**
 * Block this thread while the word at `address` equals `expected`, for at most
 * `timeoutMs`. Only for Workers and ffi/ internals: it freezes the calling thread.
 */
export function futexWaitAddress(address: number, expected: number, timeoutMs: number): WaitResult {
  const timespec = new BigInt64Array(2);
  const ms = Math.max(0, Math.floor(timeoutMs));
  timespec[0] = BigInt(Math.floor(ms / 1000));
  timespec[1] = BigInt((ms % 1000) * 1_000_000);
  const rc = libc.syscall(C.SYS_futex, address as Pointer, C.FUTEX_WAIT, expected | 0, new Uint8Array(timespec.buffer), null, 0);
  if (rc === 0) return "woken";
  const errno = lastErrno();
  if (errno === EAGAIN) return "changed";
  if (errno === ETIMEDOUT) return "timeout";
  if (errno === EINTR) return "woken";
  throw systemError("futex", undefined, errno);
}

/**
 * Wake up to `count` threads (in any process) waiting on the word at `byteOffset` of
 * `mapping`. Returns how many were woken. A no-op returning 0 without futex support.
 */
export function futexWake(mapping: Mapping, byteOffset: number, count = 0x7fffffff): number {
  const address = wordAddress(mapping, byteOffset);
  if (!hasFutex) return 0;
  const rc = libc.syscall(C.SYS_futex, address as Pointer, C.FUTEX_WAKE, count, null, null, 0);
  if (rc < 0) throw systemError("futex");
  return rc;
}

/**
 * Synchronous wait on the word at `byteOffset` of `mapping`: blocks this thread.
 * Use it in a Worker, or use {@link FutexWaiter} from the JS thread.
 */
export function futexWait(mapping: Mapping, byteOffset: number, expected: number, timeoutMs: number): WaitResult {
  const address = wordAddress(mapping, byteOffset);
  if (!hasFutex) {
    Bun.sleepSync(Math.min(timeoutMs, 5));
    return "timeout";
  }
  return futexWaitAddress(address, expected, timeoutMs);
}

// The Worker sleeps in futex and posts how it woke.
const workerSource = `${libcPrelude("syscall: { args: [FFIType.i64, FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i64_fast },")}
const ts = new BigInt64Array(2);
const tsBytes = new Uint8Array(ts.buffer);
self.onmessage = (event) => {
  const { id, address, expected, timeoutMs } = event.data;
  const ms = Math.max(0, Math.floor(timeoutMs));
  ts[0] = BigInt(Math.floor(ms / 1000));
  ts[1] = BigInt((ms % 1000) * 1000000);
  const rc = lib.symbols.syscall(${C.SYS_futex}, address, ${C.FUTEX_WAIT}, expected | 0, tsBytes, null, 0);
  let result = "woken";
  if (rc !== 0) {
    const e = errno();
    result = e === ${EAGAIN} ? "changed" : e === ${ETIMEDOUT} ? "timeout" : e === ${EINTR} ? "woken" : "error:" + e;
  }
  postMessage({ id, result });
};
`;

/** One caller's wait, while it is pending. */
interface PendingWait {
  expected: number;
  deadline: number;
  resolve: (r: WaitResult) => void;
  reject: (e: Error) => void;
}

/**
 * Waits on one futex word from the JS thread without blocking it: the wait itself runs in
 * a Worker. Any number of waits on the word may be pending at once, so one waiter serves
 * every follower of a handle: the Worker sleeps on the word's current value, and when it
 * wakes (or the value moved) every pending wait resolves; one that only ran into the
 * Worker's timeout before its own deadline waits on. So followers cost no thread each,
 * and one dropped while waiting holds nothing beyond its entry here until it resolves.
 * The Worker does not keep the process alive unless a wait is pending.
 */
export class FutexWaiter {
  #worker: Worker | undefined;
  #mapping: Mapping | undefined;
  #offset = 0;
  #address = 0;
  #word: Int32Array | undefined;
  #pending: PendingWait[] = [];
  #inFlight = false;
  #nextId = 0;
  #closed = false;

  /** Waits pending now. */
  get pending(): number {
    return this.#pending.length;
  }

  /**
   * Resolve when the word at `byteOffset` of `mapping` is woken, differs from `expected`,
   * or after `timeoutMs` (keep it short, e.g. ≤ 1000, so that close is prompt). Every
   * pending wait of one waiter must be on the same word (`ERR_INVALID` otherwise).
   */
  wait(mapping: Mapping, byteOffset: number, expected: number, timeoutMs: number): Promise<WaitResult> {
    if (this.#closed) return Promise.reject(new OffheapError("ERR_CLOSED", "futex waiter is closed"));
    const address = wordAddress(mapping, byteOffset);
    if (this.#pending.length > 0 && (mapping !== this.#mapping || byteOffset !== this.#offset)) {
      return Promise.reject(new OffheapError("ERR_INVALID", "the waits of one FutexWaiter must all be on one word"));
    }
    if (!hasFutex) return Bun.sleep(Math.min(timeoutMs, 5)).then(() => "timeout" as const);
    if (mapping !== this.#mapping || byteOffset !== this.#offset || this.#word?.length !== 1) {
      this.#mapping = mapping;
      this.#offset = byteOffset;
      this.#address = address;
      // Plain loads only: the mapping may be read-only (see barrier.ts).
      this.#word = new Int32Array(mapping.buffer, byteOffset, 1);
    }
    if (this.#current() !== (expected | 0)) return Promise.resolve("changed");
    return new Promise<WaitResult>((resolve, reject) => {
      this.#pending.push({ expected: expected | 0, deadline: performance.now() + Math.max(0, timeoutMs), resolve, reject });
      this.#arm();
    });
  }

  /** Stop the Worker. Pending waits resolve as `"timeout"`. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const pending = this.#pending;
    this.#pending = [];
    this.#worker?.terminate();
    this.#worker = undefined;
    this.#mapping = undefined;
    this.#word = undefined;
    for (const p of pending) p.resolve("timeout");
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** The word's value now, or undefined once its mapping was closed (the view detached). */
  #current(): number | undefined {
    return this.#word?.[0];
  }

  /**
   * Settle the waits that are done (the value moved, or their deadline passed) and, if
   * any remain, send the Worker to sleep on the current value until the nearest deadline.
   */
  #arm(): void {
    if (this.#inFlight || this.#closed) return;
    const now = performance.now();
    const current = this.#current();
    let nearest = Infinity;
    const waiting: PendingWait[] = [];
    for (const p of this.#pending) {
      if (current === undefined || p.deadline <= now) p.resolve("timeout");
      else if (p.expected !== current) p.resolve("changed");
      else {
        waiting.push(p);
        if (p.deadline < nearest) nearest = p.deadline;
      }
    }
    this.#pending = waiting;
    if (waiting.length === 0) return;
    const worker = this.#ensureWorker();
    this.#inFlight = true;
    worker.ref();
    worker.postMessage({ id: ++this.#nextId, address: this.#address, expected: current, timeoutMs: nearest - now });
  }

  #onResult(result: string): void {
    this.#inFlight = false;
    this.#worker?.unref();
    if (result.startsWith("error:")) {
      const error = systemError("futex", undefined, Number(result.slice(6)));
      const pending = this.#pending;
      this.#pending = [];
      for (const p of pending) p.reject(error);
      return;
    }
    if (result !== "timeout") {
      // Woken, or the value moved: every waiter looks again (they loop on their condition).
      const pending = this.#pending;
      this.#pending = [];
      for (const p of pending) p.resolve(result as WaitResult);
      return;
    }
    this.#arm();
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(workerUrl(workerSource));
    worker.onmessage = (event: MessageEvent<{ id: number; result: string }>) => {
      if (this.#worker === worker && event.data.id === this.#nextId) this.#onResult(event.data.result);
    };
    worker.onerror = (event) => {
      if (this.#worker !== worker) return;
      this.#inFlight = false;
      const pending = this.#pending;
      this.#pending = [];
      for (const p of pending) p.reject(new OffheapError("ERR_SYSTEM", `futex worker failed: ${event.message}`));
    };
    worker.unref();
    this.#worker = worker;
    return worker;
  }
}
