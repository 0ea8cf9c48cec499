/**
 * The frame every mutating call runs in: take the lock, repair the shared state if a
 * previous holder died mid-call (the dirty word is set) or catch up with segments other
 * processes created or removed, run, then publish what changed and release the lock.
 *
 * An `exclusive` handle took the lock at open and holds it until close: nobody else
 * writes, so there is nothing to catch up with and the per-call flock pair is skipped;
 * the dirty word can only be its own, left by a call of its own that failed midway.
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

  /** The frame over `parts` (a writable handle's lock, state and segments). */
  constructor(parts: MutationParts) {
    this.#lock = parts.lock;
    this.#exclusive = parts.exclusive;
    this.#lockTimeout = parts.lockTimeout;
    this.#shared = parts.shared;
    this.#table = parts.table;
    this.#writer = parts.writer;
    this.#recover = parts.recover;
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
    const lock = this.#lock;
    lock.lockSync(this.#lockTimeout);
    try {
      if (this.#shared.dirty) this.#recover();
      else if (this.#table.stale) this.#table.relist();
    } catch (e) {
      lock.unlock();
      throw e;
    }
  }

  /** Publish (when `ok` and something changed) and release the lock. */
  leave(ok: boolean): void {
    this.#writer.endCall();
    if (ok) this.#shared.publish();
    if (!this.#exclusive) this.#lock.unlock();
  }

  /**
   * At close: raise the crash-safe floors to what the queue holds. Best effort: a lock
   * another process holds, or a failure, leaves the floors lower (still safe).
   */
  floorsAtClose(): void {
    const shared = this.#shared;
    const table = this.#table;
    if (!shared.isOpen) return;
    let locked = this.#exclusive;
    try {
      if (!locked) {
        this.#lock.tryLock();
        locked = true;
      }
      if (shared.dirty) return; // a call died halfway: the next open recovers
      if (table.stale) table.relist();
      shared.raiseFloors(table.list);
    } catch {
      // not raised: the floors stay where they were
    } finally {
      if (locked && !this.#exclusive) this.#lock.unlock();
    }
  }
}
