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
  readonly #parts: MutationParts;

  constructor(parts: MutationParts) {
    this.#parts = parts;
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
    const { lock, exclusive, shared, table } = this.#parts;
    if (exclusive) {
      if (shared.dirty) this.#parts.recover();
      return;
    }
    lock.lockSync(this.#parts.lockTimeout);
    try {
      if (shared.dirty) this.#parts.recover();
      else if (table.stale) table.relist();
    } catch (e) {
      lock.unlock();
      throw e;
    }
  }

  /** Publish (when `ok` and something changed) and release the lock. */
  leave(ok: boolean): void {
    const parts = this.#parts;
    parts.writer.endCall();
    if (ok) parts.shared.publish();
    if (!parts.exclusive) parts.lock.unlock();
  }

  /**
   * At close: raise the crash-safe floors to what the queue holds. Best effort: a lock
   * another process holds, or a failure, leaves the floors lower (still safe).
   */
  floorsAtClose(): void {
    const { lock, exclusive, shared, table } = this.#parts;
    if (!shared.isOpen) return;
    let locked = exclusive;
    try {
      if (!locked) {
        lock.tryLock();
        locked = true;
      }
      if (shared.dirty) return; // a call died halfway: the next open recovers
      if (table.stale) table.relist();
      shared.raiseFloors(table.list);
    } catch {
      // not raised: the floors stay where they were
    } finally {
      if (locked && !exclusive) lock.unlock();
    }
  }
}
