/**
 * How a ring's follower sleeps until the head moves: a {@link WordWait} on the head's
 * futex word, counted in the waiters word of shard 0's header page (so the writer knows
 * to `futexWake`), with a short timeout as a safety net.
 *
 * What is the ring's own here is where it counts in: a writable handle in its own header
 * words; a read-only handle through a small writable mapping of the header page made on
 * first wait; without write permission it cannot count in and polls with short waits.
 */
import { File, Mapping } from "../../ffi/index.ts";
import { WordWait, type WaiterCount } from "../primitives/word-wait.ts";
import { HEAD_FUTEX_OFFSET, futexValue } from "./head.ts";
import { DATA_OFFSET, WAITERS_OFFSET } from "./layout.ts";

/** Int32 index of the waiters counter in the header page. */
export const WAITERS_INDEX = WAITERS_OFFSET / 4;
/** Futex wait per round when counted in (the writer wakes us) / when only polling. */
const WAIT_MS = 250;
const POLL_MS = 10;

/** The waiting side of one ring handle. */
export class HeadWaits {
  readonly #path: string;
  readonly #loadNext: () => number;
  readonly #wait: WordWait;
  /** The waiters word: the writer's own, one opened on first use, or `null` when that failed. */
  #counter: WaiterCount | null | undefined;
  #file: File | undefined;
  #map: Mapping | undefined;
  #closed = false;

  /**
   * `writable`: the writer's own writable header words (it counts in there), or undefined
   * for a read-only handle. `loadNext` reads the current head.
   */
  constructor(path: string, headMap: Mapping, writable: Int32Array | undefined, loadNext: () => number) {
    this.#path = path;
    this.#loadNext = loadNext;
    this.#counter = writable === undefined ? undefined : { words: writable, index: WAITERS_INDEX };
    this.#wait = new WordWait({ mapping: headMap, offset: HEAD_FUTEX_OFFSET, counter: () => this.#registration(), pollMs: POLL_MS });
  }

  /**
   * Resolve when the head has moved past `seen`, after a short timeout, or when the handle
   * closes; reject with the signal's reason on abort. Callers re-check and loop.
   */
  waitPast(seen: number, signal: AbortSignal | undefined): Promise<void> {
    return this.#wait.wait(futexValue(seen), () => this.#loadNext() !== seen, WAIT_MS, signal);
  }

  /** Followers waiting now. */
  get waiting(): number {
    return this.#wait.waiting;
  }

  /**
   * Take out whatever is still counted in, end every wait (they resolve, and their
   * followers see the handle closed), release the writable mapping. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wait.close();
    this.#map?.close();
    this.#file?.close();
  }

  #registration(): WaiterCount | null {
    if (this.#counter !== undefined) return this.#counter;
    try {
      this.#file = File.open(this.#path);
      this.#map = Mapping.file(this.#file, { length: DATA_OFFSET });
      this.#counter = { words: new Int32Array(this.#map.buffer), index: WAITERS_INDEX };
    } catch {
      this.#map?.close();
      this.#file?.close();
      this.#map = undefined;
      this.#file = undefined;
      this.#counter = null;
    }
    return this.#counter;
  }
}
