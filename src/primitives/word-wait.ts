/**
 * Waiting, from the JS thread, until a shared 32-bit word changes — the one way a ring's
 * followers wait for its head and a queue's followers wait for its change counter.
 *
 * The protocol, for both: a waiter counts itself in a shared waiters word (so the side
 * that changes the word makes the `futexWake` syscall only when somebody waits), then
 * checks the word, then futex-waits on it in a Worker with a timeout as a safety net, and
 * counts itself out. Counting in before the check is what makes it race-free: a change
 * made after the check sees the count and wakes. A waiter that cannot count itself (no
 * writable waiters word) is never woken, so it waits only a short poll interval instead.
 *
 * One FutexWaiter (one Worker) serves every waiter of one handle, and a waiter holds
 * nothing between its waits: a follow loop dropped without `return()` leaks nothing.
 */
import { FutexWaiter, type Mapping } from "../../ffi/index.ts";

/** Where waiters count themselves: `words[index]`, in a writable shared mapping. */
export interface WaiterCount {
  words: Int32Array;
  index: number;
}

/** How one handle waits on one word. */
export interface WordWaitOptions {
  /** The mapping that holds the word (it may be read-only). */
  mapping: Mapping;
  /** Byte offset of the word in `mapping`. */
  offset: number;
  /**
   * The waiters word to count in, or `null` when this handle cannot count itself (then it
   * polls every `pollMs`). Asked at every wait, so it may be opened on first use.
   */
  counter: () => WaiterCount | null;
  /** Longest wait when not counted in: nobody wakes an uncounted waiter. */
  pollMs: number;
}

/** The waiting side of one handle on one shared word. */
export class WordWait {
  readonly #options: WordWaitOptions;
  #waiter: FutexWaiter | undefined;
  /** Waits counted in the waiters word now (taken out at close if still there). */
  #counted = 0;
  #counter: WaiterCount | null = null;
  #waiting = 0;
  #closed = false;

  /** Waits of one handle on the word `options` names (nothing is opened until the first wait). */
  constructor(options: WordWaitOptions) {
    this.#options = options;
  }

  /**
   * Resolve when the word is no longer `expected` (or a wake came), after `timeoutMs`
   * (or the poll interval when not counted in), or when {@link close} is called; reject
   * with the signal's reason when `signal` aborts. `changed` says whether the caller's
   * value moved already (checked after counting in). Callers look again and loop.
   */
  async wait(expected: number, changed: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#closed) return;
    const counter = this.#options.counter();
    this.#waiting++;
    if (counter !== null) {
      Atomics.add(counter.words, counter.index, 1);
      this.#counter = counter;
      this.#counted++;
    }
    try {
      // Counted first, checked second: a change after this check sees the count and wakes.
      if (changed()) return;
      this.#waiter ??= new FutexWaiter();
      const wait = this.#waiter.wait(this.#options.mapping, this.#options.offset, expected, counter !== null ? timeoutMs : Math.min(timeoutMs, this.#options.pollMs));
      await (signal === undefined ? wait : abortable(wait, signal));
    } finally {
      this.#waiting--;
      if (counter !== null && !this.#closed) {
        Atomics.sub(counter.words, counter.index, 1);
        this.#counted--;
      }
    }
  }

  /** Waits in progress now. */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * End every wait (they resolve; their callers see the handle closed) and take out the
   * counts still in the waiters word. Call it before the waiters word's mapping closes.
   * Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter?.close();
    if (this.#counted !== 0 && this.#counter !== null) Atomics.sub(this.#counter.words, this.#counter.index, this.#counted);
    this.#counted = 0;
  }
}

/** `wait`, or a rejection with the signal's reason as soon as it aborts. */
function abortable(wait: Promise<unknown>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    wait.then(
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
