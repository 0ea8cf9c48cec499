/**
 * How a follower sleeps until the ring's head moves: it registers in the waiters counter
 * of shard 0's header page (so the writer knows to `futexWake`), re-checks the head, then
 * waits on the head's futex word in a Worker with a short timeout as a safety net.
 *
 * A read-only handle registers through its own small writable mapping of the header page;
 * without write permission it cannot register and polls with short waits instead.
 *
 * One FutexWaiter (one Worker) serves every follower of the handle, and a follower holds
 * nothing between its waits: a `follow` iterator dropped without `return()` leaks nothing.
 */
import { File, FutexWaiter, Mapping } from "../../ffi/index.ts";
import { HEAD_FUTEX_OFFSET, futexValue } from "./head.ts";
import { DATA_OFFSET, WAITERS_OFFSET } from "./layout.ts";

/** Int32 index of the waiters counter in the header page. */
export const WAITERS_INDEX = WAITERS_OFFSET / 4;
/** Futex wait per round when registered (the writer wakes us) / when only polling. */
const WAIT_MS = 250;
const POLL_MS = 10;

/** The waiting side of one ring handle. */
export class HeadWaits {
  readonly #path: string;
  readonly #headMap: Mapping;
  readonly #loadNext: () => number;
  #words: Int32Array | null | undefined;
  #file: File | undefined;
  #map: Mapping | undefined;
  #registered = 0;
  #waiting = 0;
  #waiter: FutexWaiter | undefined;
  #closed = false;

  /**
   * `writable`: the writer's own writable header words (it registers there), or undefined
   * for a read-only handle. `loadNext` reads the current head.
   */
  constructor(path: string, headMap: Mapping, writable: Int32Array | undefined, loadNext: () => number) {
    this.#path = path;
    this.#headMap = headMap;
    this.#words = writable;
    this.#loadNext = loadNext;
  }

  /**
   * Resolve when the head has moved past `seen`, after a short timeout, or when the handle
   * closes; reject with the signal's reason on abort. Callers re-check and loop.
   */
  async waitPast(seen: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.#closed) return;
    const words = this.#registration();
    const waiter = (this.#waiter ??= new FutexWaiter());
    this.#waiting++;
    if (words) {
      Atomics.add(words, WAITERS_INDEX, 1);
      this.#registered++;
    }
    try {
      // Registered first, checked second: an append after this check sees us and wakes us.
      if (this.#loadNext() !== seen) return;
      const wait = waiter.wait(this.#headMap, HEAD_FUTEX_OFFSET, futexValue(seen), words ? WAIT_MS : POLL_MS);
      if (signal === undefined) {
        await wait;
        return;
      }
      await new Promise<void>((resolve, reject) => {
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
    } finally {
      this.#waiting--;
      if (words && !this.#closed) {
        Atomics.sub(words, WAITERS_INDEX, 1);
        this.#registered--;
      }
    }
  }

  /** Followers waiting now. */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Unregister whatever is still registered, end every wait (they resolve, and their
   * followers see the handle closed), release the writable mapping. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter?.close();
    if (this.#registered > 0 && this.#words) Atomics.sub(this.#words, WAITERS_INDEX, this.#registered);
    this.#registered = 0;
    this.#map?.close();
    this.#file?.close();
  }

  #registration(): Int32Array | null {
    if (this.#words !== undefined) return this.#words;
    try {
      this.#file = File.open(this.#path);
      this.#map = Mapping.file(this.#file, { length: DATA_OFFSET });
      this.#words = new Int32Array(this.#map.buffer);
    } catch {
      this.#map?.close();
      this.#file?.close();
      this.#map = undefined;
      this.#file = undefined;
      this.#words = null;
    }
    return this.#words;
  }
}
