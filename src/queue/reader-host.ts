/**
 * The types a queue's cursors and named readers share with the queue: what a reader
 * needs from its queue, and what it returns. A file of its own so that the queue, the
 * cursor and the reader all import it and none of them imports another for a type.
 */

/** What a reader needs from its queue (kept internal to the queue folder). */
export interface ReaderHost {
  dir: string;
  prefix: string;
  /** Whether the queue handle is read-only (then the reader's file is only made when it can be). */
  readonly: boolean;
  check(): void;
  isClosed(): boolean;
  changes(): number;
  first(): number;
  next(): number;
  get(index: number): Uint8Array | undefined;
  /**
   * Wait (on the handle's one futex waiter) until the change counter moves from `seen`,
   * or `pollMs` passed, or the queue closes. Followers are counted in only meanwhile.
   */
  waitForChange(seen: number, pollMs: number): Promise<void>;
}

/** One item a reader returns. */
export interface QueueItem {
  /** The item's index in the queue (0, 1, 2, … in append order; never reused). */
  index: number;
  /** The item's bytes (a copy: it stays valid after the queue moves on). */
  data: Uint8Array;
}
