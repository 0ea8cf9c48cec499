/**
 * A position in a queue and the items from it on: what a named reader keeps durable and
 * what `queue.follow(from)` walks without a name. Reads skip items deleted or truncated
 * before the cursor got there; following waits on the queue's change word (no polling
 * but for a `pollMs` backstop) and holds nothing between items.
 */
import { numberArg, optionsArg, signalArg } from "../primitives/arguments.ts";
import type { QueueItem, ReaderHost } from "./reader-host.ts";

/** Options of a follow loop. */
export interface FollowOptions {
  /** Ends the iteration: the loop throws the signal's reason (an `AbortError` by default). */
  signal?: AbortSignal;
  /** Longest single wait before looking again, in ms. Default 1000. */
  pollMs?: number;
}

/** Check a follow loop's options when `follow()` is called (not at its first `next()`): `ERR_INVALID` naming the option. */
export function checkFollowOptions(options: FollowOptions): void {
  optionsArg("options", options);
  signalArg("signal", options.signal);
  if (options.pollMs !== undefined) numberArg("pollMs", options.pollMs, { min: 1 });
}

/** A cursor over a queue. */
export class Cursor {
  /** The index read next. */
  position: number;
  readonly #host: ReaderHost;

  constructor(host: ReaderHost, position: number) {
    this.#host = host;
    this.position = position;
  }

  /** The next live item at or after {@link position}, advancing past it; undefined when caught up. */
  next(): QueueItem | undefined {
    const host = this.#host;
    host.changes();
    const end = host.next();
    let i = Math.max(this.position, host.first());
    for (; i < end; i++) {
      const data = host.get(i);
      if (data !== undefined) {
        this.position = i + 1;
        return { index: i, data };
      }
    }
    this.position = Math.max(this.position, Math.min(i, end));
    return undefined;
  }

  /**
   * Items as they arrive: what is there, then waits for more. Ends (done) when the queue
   * closes or `stopped` resolves; throws the signal's reason when `options.signal` aborts.
   */
  async *follow(options: FollowOptions, stopped: Promise<void> | undefined, isStopped: () => boolean): AsyncGenerator<QueueItem, void, undefined> {
    const signal = options.signal;
    const pollMs = options.pollMs ?? 1000;
    for (;;) {
      signal?.throwIfAborted();
      if (isStopped() || this.#host.isClosed()) return;
      const seen = this.#host.changes();
      const item = this.next();
      if (item !== undefined) {
        yield item;
        continue;
      }
      await this.#waitOrStop(seen, pollMs, signal, stopped);
    }
  }

  /** A change, a timeout, an abort of `signal`, or `stopped`, whichever is first. */
  #waitOrStop(seen: number, pollMs: number, signal: AbortSignal | undefined, stopped: Promise<void> | undefined): Promise<void> {
    const waits: Promise<void>[] = [this.#host.waitForChange(seen, pollMs)];
    if (stopped !== undefined) waits.push(stopped);
    if (signal === undefined) return Promise.race(waits);
    return new Promise<void>((resolve) => {
      const done = () => {
        signal.removeEventListener("abort", done);
        resolve();
      };
      signal.addEventListener("abort", done, { once: true });
      if (signal.aborted) done();
      Promise.race(waits).then(done, done);
    });
  }
}
