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
import { OffheapError } from "../src/errors.ts";
import { lastErrno, libc } from "./libc.ts";
import type { Mapping } from "./mapping.ts";
import { C } from "./platform.ts";
import { systemError } from "./system-error.ts";

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

// The Worker's source is inline so that it also runs inside `bun build --compile`
// binaries, where a worker file path would not exist.
const workerSource = `
import { dlopen, FFIType, read } from "bun:ffi";
const names = ${JSON.stringify(C.libcNames)};
let lib;
for (const name of names) {
  try {
    lib = dlopen(name, {
      syscall: { args: [FFIType.i64, FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i64_fast },
      ${JSON.stringify(C.errnoSymbol)}: { args: [], returns: FFIType.ptr },
    });
    break;
  } catch {}
}
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
    const errno = read.i32(lib.symbols[${JSON.stringify(C.errnoSymbol)}](), 0);
    result = errno === ${EAGAIN} ? "changed" : errno === ${ETIMEDOUT} ? "timeout" : errno === ${EINTR} ? "woken" : "error:" + errno;
  }
  postMessage({ id, result });
};
`;

let workerUrl: string | undefined;

/**
 * Waits on futex words from the JS thread without blocking it: each wait runs in a
 * dedicated Worker. One waiter serves one wait at a time; make one per follower.
 * The Worker does not keep the process alive.
 */
export class FutexWaiter {
  #worker: Worker | undefined;
  #pending: { id: number; resolve: (r: WaitResult) => void; reject: (e: Error) => void } | undefined;
  #nextId = 0;
  #closed = false;

  /**
   * Resolve when the word at `byteOffset` of `mapping` is woken, differs from `expected`,
   * or after `timeoutMs` (keep it short, e.g. ≤ 1000, so that close is prompt).
   */
  wait(mapping: Mapping, byteOffset: number, expected: number, timeoutMs: number): Promise<WaitResult> {
    if (this.#closed) return Promise.reject(new OffheapError("ERR_CLOSED", "futex waiter is closed"));
    if (this.#pending) return Promise.reject(new OffheapError("ERR_INVALID", "a FutexWaiter serves one wait at a time"));
    const address = wordAddress(mapping, byteOffset);
    if (!hasFutex) return Bun.sleep(Math.min(timeoutMs, 5)).then(() => "timeout" as const);
    const worker = this.#ensureWorker();
    const id = ++this.#nextId;
    return new Promise<WaitResult>((resolve, reject) => {
      this.#pending = { id, resolve, reject };
      worker.ref();
      worker.postMessage({ id, address, expected: expected | 0, timeoutMs });
    });
  }

  /** Stop the Worker. A wait in progress resolves as `"timeout"`. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const pending = this.#pending;
    this.#pending = undefined;
    this.#worker?.terminate();
    this.#worker = undefined;
    pending?.resolve("timeout");
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    workerUrl ??= URL.createObjectURL(new Blob([workerSource], { type: "application/javascript" }));
    const worker = new Worker(workerUrl);
    worker.onmessage = (event: MessageEvent<{ id: number; result: string }>) => {
      const pending = this.#pending;
      if (!pending || pending.id !== event.data.id) return;
      this.#pending = undefined;
      worker.unref();
      const result = event.data.result;
      if (result.startsWith("error:")) {
        pending.reject(systemError("futex", undefined, Number(result.slice(6))));
      } else {
        pending.resolve(result as WaitResult);
      }
    };
    worker.onerror = (event) => {
      const pending = this.#pending;
      this.#pending = undefined;
      pending?.reject(new OffheapError("ERR_SYSTEM", `futex worker failed: ${event.message}`));
    };
    worker.unref();
    this.#worker = worker;
    return worker;
  }
}
