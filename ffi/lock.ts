/**
 * `Lock`: an advisory `flock` on a file, exclusive (one writer) or shared (readers).
 *
 * Only non-blocking calls are made on the JS thread: a blocking flock would freeze the
 * event loop. Waiting for a lock is an async retry with a deadline.
 */
import { OffheapError } from "./errors.ts";
import type { File } from "./file.ts";
import { lastErrno, libc } from "./libc.ts";
import { C, isWouldBlock } from "./platform.ts";
import { systemError } from "./system-error.ts";

/** Which kind of lock to take. */
export type LockMode = "exclusive" | "shared";

/** Options for {@link Lock.lock}. */
export interface LockWaitOptions {
  /** Give up with `ERR_TIMEOUT` after this many milliseconds. Default 0: try once. */
  timeoutMs?: number;
  /** Stop waiting when aborted (the abort reason is thrown). */
  signal?: AbortSignal;
}

const EINTR = 4;

/**
 * A `flock` on one open file. Locks belong to the open file description: a second
 * `File` on the same path, even in the same process, is locked out too; the kernel
 * releases the lock when the holder closes the file or dies.
 */
export class Lock {
  /** The locked file. */
  readonly file: File;
  /** Exclusive or shared. */
  readonly mode: LockMode;
  #held = false;

  constructor(file: File, mode: LockMode = "exclusive") {
    this.file = file;
    this.mode = mode;
  }

  /** Whether this handle holds the lock now. */
  get held(): boolean {
    return this.#held;
  }

  /**
   * Take the lock without waiting. Throws `ERR_LOCKED` when another holder has it.
   */
  tryLock(): void {
    if (!this.#attempt()) {
      throw new OffheapError(
        "ERR_LOCKED",
        `${this.file.path} is locked by another ${this.mode === "exclusive" ? "handle" : "writer"}; ` +
          "close it first, open readonly, or pass lockTimeout to wait",
        { path: this.file.path },
      );
    }
  }

  /**
   * Take the lock, retrying with growing pauses (1 ms up to 50 ms) until `timeoutMs` has
   * passed; then throws `ERR_TIMEOUT`. Never blocks the event loop.
   */
  async lock(options: LockWaitOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 0;
    const deadline = performance.now() + timeoutMs;
    let pause = 1;
    for (;;) {
      options.signal?.throwIfAborted();
      if (this.#attempt()) return;
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new OffheapError(
          "ERR_TIMEOUT",
          `waited ${timeoutMs} ms for the ${this.mode} lock on ${this.file.path}; another handle still holds it`,
          { path: this.file.path },
        );
      }
      await Bun.sleep(Math.min(pause, left));
      pause = Math.min(pause * 2, 50);
    }
  }

  /**
   * Take the lock synchronously, retrying for up to `timeoutMs` with short sleeps that
   * block this thread (for constructors that cannot be async). Prefer {@link lock}.
   */
  lockSync(timeoutMs: number): void {
    const deadline = performance.now() + timeoutMs;
    let pause = 1;
    while (!this.#attempt()) {
      const left = deadline - performance.now();
      if (left <= 0) {
        if (timeoutMs <= 0) this.tryLock();
        throw new OffheapError(
          "ERR_TIMEOUT",
          `waited ${timeoutMs} ms (lockTimeout) for the ${this.mode} lock on ${this.file.path}; another handle still holds it: ` +
            "close it, open readonly, or pass a longer lockTimeout",
          { path: this.file.path },
        );
      }
      Bun.sleepSync(Math.min(pause, left));
      pause = Math.min(pause * 2, 20);
    }
  }

  /** Release the lock. Idempotent; a closed file has already released it. */
  unlock(): void {
    if (!this.#held) return;
    this.#held = false;
    if (!this.file.isOpen) return;
    if (libc.flock(this.file.fd, C.LOCK_UN) !== 0) throw systemError("flock", this.file.path);
  }

  [Symbol.dispose](): void {
    this.unlock();
  }

  #attempt(): boolean {
    if (this.#held) return true;
    const op = (this.mode === "exclusive" ? C.LOCK_EX : C.LOCK_SH) | C.LOCK_NB;
    const fd = this.file.fd;
    for (;;) {
      if (libc.flock(fd, op) === 0) {
        this.#held = true;
        return true;
      }
      const errno = lastErrno();
      if (errno === EINTR) continue;
      if (isWouldBlock(errno)) return false;
      throw systemError("flock", this.file.path, errno);
    }
  }
}

/**
 * Whether some handle holds the exclusive (writer's) lock on `file`, probed with a shared
 * lock that can't be had while it does (and is released at once when it can).
 */
export function writerHolds(file: File): boolean {
  const probe = new Lock(file, "shared");
  try {
    probe.tryLock();
  } catch (e) {
    if (e instanceof OffheapError && e.code === "ERR_LOCKED") return true;
    throw e;
  }
  probe.unlock();
  return false;
}
