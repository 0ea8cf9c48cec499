/**
 * Read-ahead for sequential reads (`prefetch` option): after a read of `id` that follows
 * the one before, ask the slot store for the next records before they are read. In mmap
 * mode that is an madvise on the caller's path; in pread mode a read off the caller's
 * path (at most one pending, cancelled by close).
 */
import type { SlotStore } from "./store.ts";

/** One handle's read-ahead state. */
export class ReadAhead {
  readonly #store: SlotStore;
  readonly #count: number;
  readonly #deferred: boolean;
  #lastRead = -2;
  #prefetchedTo = 0;
  #timer: ReturnType<typeof setImmediate> | undefined;
  #closed = false;

  /** `count`: records asked for at a time; `deferred`: ask off the caller's path (pread). */
  constructor(store: SlotStore, count: number, deferred: boolean) {
    this.#store = store;
    this.#count = count;
    this.#deferred = deferred;
  }

  /** Called after each read of `id`; true when it asked for more records (a prefetch to count). */
  after(id: number): boolean {
    const sequential = id === this.#lastRead + 1;
    this.#lastRead = id;
    if (!sequential || id < this.#prefetchedTo - (this.#count >> 1)) return false;
    const start = Math.max(id + 1, this.#prefetchedTo);
    const count = this.#count;
    this.#prefetchedTo = start + count;
    if (!this.#deferred) {
      this.#store.prefetch(start, count);
      return true;
    }
    if (this.#timer !== undefined) return true;
    this.#timer = setImmediate(() => {
      this.#timer = undefined;
      if (!this.#closed) this.#store.prefetch(start, count);
    });
    return true;
  }

  /** Cancel a pending read-ahead (before the store closes). */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearImmediate(this.#timer);
    this.#timer = undefined;
  }
}
