/**
 * The frame every mutating call runs in: take the lock, repair the shared state if a
 * previous holder died mid-call (the dirty word is set) or catch up with segments other
 * processes created or removed, run, then publish what changed and release the lock.
 *
 * An `exclusive` handle took the lock at open and holds it until close: nobody else
 * writes, so there is nothing to catch up with and the per-call flock pair is skipped;
 * the dirty word can only be its own, left by a call of its own that failed midway.
 *
 * A shared handle keeps the lock it took for the rest of the current synchronous run of
 * code and releases it in a microtask: a burst of calls (a loop of appends) pays one flock
 * pair instead of one per call, and the lock is free again whenever the event loop turns
 * (at every `await`). Another handle of the same queue in this thread takes it over at once
 * (see {@link releaseHeldLock}); one in another process or Worker counts itself in the
 * shared "wanted" word while it waits, and the holder then lets go after each call, as
 * every call did before. A waiter killed while counted in leaves the word set: holders then
 * release after every call, which is only slower. Crash safety is unchanged: the kernel drops a killed holder's
 * flock, and between calls the dirty word is clear.
 */
import type { Lock } from "../../ffi/index.ts";
import type { SegmentTable } from "./segment-table.ts";
import type { SharedState } from "./shared-state.ts";
import type { QueueWriter } from "./writer.ts";

/** What the frame works with. */
export interface MutationParts {
  lock: Lock;
  exclusive: boolean;
  lockTimeout: number;
  shared: SharedState;
  table: SegmentTable;
  writer: QueueWriter;
  /** Rebuild the shared state from the files (see recovery.ts). */
  recover: () => void;
}

/** The frame of this thread that holds a queue's lock past its call, by directory file. */
const holders = new Map<string, MutationFrame>();

/**
 * Make the handle of this thread that still holds the lock of the queue whose directory
 * file is `path` (past its last call, see the module comment) let it go, so that another
 * handle of the same queue here can take it without waiting for the microtask.
 */
export function releaseHeldLock(path: string): void {
  holders.get(path)?.release();
}

/**
 * Take the producer lock, counted among its waiters while it waits, so that a handle that
 * keeps it past its calls lets go after the next one. `ERR_TIMEOUT` past `timeout` ms.
 */
export function takeLock(lock: Lock, shared: SharedState, timeout: number): void {
  releaseHeldLock(shared.path);
  try {
    lock.tryLock();
    return;
  } catch {
    // held elsewhere: wait below, counted in
  }
  shared.wantLock(1);
  try {
    lock.lockSync(timeout);
  } finally {
    shared.wantLock(-1);
  }
}

/** One writable handle's lock discipline. */
export class MutationFrame {
  // Fields, not one parts object: enter and leave run on every call (a small append is
  // a few hundred ns), so each is one load away.
  readonly #lock: Lock;
  readonly #exclusive: boolean;
  readonly #lockTimeout: number;
  readonly #shared: SharedState;
  readonly #table: SegmentTable;
  readonly #writer: QueueWriter;
  readonly #recover: () => void;
  readonly #path: string;
  /** Whether this frame holds the lock past its call (a shared handle, until the microtask). */
  #held = false;
  readonly #releaseLater = (): void => this.release();

  /** The frame over `parts` (a writable handle's lock, state and segments). */
  constructor(parts: MutationParts) {
    this.#lock = parts.lock;
    this.#exclusive = parts.exclusive;
    this.#lockTimeout = parts.lockTimeout;
    this.#shared = parts.shared;
    this.#table = parts.table;
    this.#writer = parts.writer;
    this.#recover = parts.recover;
    this.#path = parts.shared.path;
  }

  /** Let go of a lock held past its call (idempotent; an exclusive handle keeps its own). */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    if (holders.get(this.#path) === this) holders.delete(this.#path);
    this.#lock.unlock();
  }

  /** Run `fn` inside the frame; the dirty word is cleared (and the change published) only when `fn` completes. */
  run<T>(fn: () => T): T {
    this.enter();
    let ok = false;
    try {
      const result = fn();
      ok = true;
      return result;
    } finally {
      this.leave(ok);
    }
  }

  /** Take the lock, then repair or catch up. Pair with {@link leave}. */
  enter(): void {
    // Small and without a try, so that JSC inlines it into each call: an exclusive
    // handle's whole frame is then one load and a compare.
    if (!this.#exclusive) this.#lockAndCatchUp();
    else if (this.#shared.dirty) this.#recover();
  }

  /** The per-call lock of a shared handle, then the repair or catch-up (the lock released again if they fail). */
  #lockAndCatchUp(): void {
    if (!this.#held) {
      this.#takeLock();
      this.#held = true;
      holders.set(this.#path, this);
      queueMicrotask(this.#releaseLater);
    }
    try {
      if (this.#shared.dirty) this.#recover();
      else if (this.#table.stale) this.#table.relist();
    } catch (e) {
      this.release();
      throw e;
    }
  }

  #takeLock(): void {
    takeLock(this.#lock, this.#shared, this.#lockTimeout);
  }

  /**
   * Publish (when `ok` and something changed). A shared handle's lock goes in the
   * microtask, or now when another handle waits for it.
   */
  leave(ok: boolean): void {
    this.#writer.endCall();
    if (ok) this.#shared.publish();
    if (this.#held && this.#shared.lockWanted) this.release();
  }

  /**
   * At close: raise the crash-safe floors to what the queue holds. Best effort: a lock
   * another process holds, or a failure, leaves the floors lower (still safe).
   */
  floorsAtClose(): void {
    const shared = this.#shared;
    const table = this.#table;
    if (!shared.isOpen) return;
    let locked = this.#exclusive || this.#held;
    try {
      if (!locked) {
        releaseHeldLock(shared.path);
        this.#lock.tryLock();
        locked = true;
      }
      if (shared.dirty) return; // a call died halfway: the next open recovers
      if (table.stale) table.relist();
      shared.raiseFloors(table.list);
    } catch {
      // not raised: the floors stay where they were
    } finally {
      if (locked && !this.#exclusive) {
        this.#held = false;
        if (holders.get(this.#path) === this) holders.delete(this.#path);
        this.#lock.unlock();
      }
    }
  }
}
