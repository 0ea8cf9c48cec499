/**
 * Filling stores while a body streams to its reader. The reader drives the copy: each chunk
 * is written to every store before the reader gets it, and the stores publish only after
 * the source ended and was read to the end. A reader that cancels halfway aborts every
 * store writer, so a partial body is never published.
 */
import { asBytes } from "./body.ts";
import type { Store, StoreWriter } from "./types.ts";

/** A writer with the store it writes to, so a failure can be pinned on that store. */
export interface TierWriter {
  readonly store: Store;
  readonly writer: StoreWriter;
}

/** How a fill ended. */
export type FillOutcome = "published" | "abandoned" | "failed";

/** What a fill reports when it ends. */
export interface FillReport {
  outcome: FillOutcome;
  /** The source's error, for `failed`. */
  error?: unknown;
  /** Stores that published the entry. */
  committed: number;
  /** The first error a store raised (write or commit), if any. */
  storeError?: unknown;
}

/** Callbacks of a fill. */
export interface FillHooks {
  /**
   * Run `commitAll` (which commits every store writer) unless a `delete` or `set` since
   * the fill began means it must not publish; resolves to whether it ran. The cache orders
   * it against deletes and sets of the key (see `Fence` in `fence.ts`).
   */
  publish(commitAll: () => Promise<void>): Promise<boolean>;
  /** Called exactly once when the fill ends. */
  done(report: FillReport): void;
  /**
   * Called for each store error, with the writer that failed (the fill goes on without
   * it). The cache removes the key from that store then, so an older copy there cannot
   * shadow the new one in the stores below.
   */
  onStoreError?(error: unknown, writer: TierWriter | undefined): void;
}

/**
 * A group of store writers fed the same chunks. A store that fails a write is aborted and
 * dropped; the others go on.
 */
export class FanOut {
  #writers: TierWriter[];
  #hooks: FillHooks;
  #ended = false;
  #finishing = false;
  #committed = 0;
  #storeError: unknown = undefined;

  constructor(writers: TierWriter[], hooks: FillHooks) {
    this.#writers = writers;
    this.#hooks = hooks;
  }

  /** Give `chunk` to every live writer; resolves when all took it. */
  async write(chunk: Uint8Array): Promise<void> {
    const writers = this.#writers;
    for (let i = 0; i < writers.length; i++) {
      const w = writers[i]!;
      try {
        const p = w.writer.write(chunk);
        if (p !== undefined) await p;
      } catch (e) {
        this.#drop(w, e);
        i--;
      }
    }
  }

  /** Publish in every live writer (or abort them all when superseded) and report. */
  async finish(): Promise<void> {
    if (this.#ended || this.#finishing) return;
    this.#finishing = true;
    let ran = false;
    await this.#hooks.publish(async () => {
      if (this.#ended) return; // aborted while the cache ordered this publish
      ran = true;
      this.#ended = true;
      const writers = this.#writers;
      this.#writers = [];
      await Promise.all(
        writers.map((w) =>
          w.writer.commit().then(
            () => void this.#committed++,
            (e) => this.#noteError(e, w),
          ),
        ),
      );
    });
    this.#finishing = false;
    if (ran) this.#hooks.done({ outcome: "published", committed: this.#committed, storeError: this.#storeError });
    else if (!this.#ended) await this.abort("abandoned"); // superseded
  }

  /** Abort every writer and report `outcome`. Idempotent. */
  async abort(outcome: "abandoned" | "failed", error?: unknown): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    const writers = this.#writers;
    this.#writers = [];
    await Promise.all(writers.map((w) => w.writer.abort().catch((e) => this.#noteError(e, undefined))));
    this.#hooks.done({ outcome, error, committed: 0, storeError: this.#storeError });
  }

  #drop(w: TierWriter, e: unknown): void {
    const at = this.#writers.indexOf(w);
    if (at >= 0) this.#writers.splice(at, 1);
    this.#noteError(e, w);
    w.writer.abort().catch(() => {});
  }

  #noteError(e: unknown, w: TierWriter | undefined): void {
    if (this.#storeError === undefined) this.#storeError = e;
    this.#hooks.onStoreError?.(e, w);
  }
}

/**
 * One fill shared by several readers: the leader that caused an origin fetch and the
 * callers that asked for the same key meanwhile. Chunks are pulled from the source only
 * when some reader wants the next one, written to the stores, and kept until every
 * reader has taken them. Readers may join while no chunk has been dropped yet (so each
 * reader sees the whole body). The fill publishes once the source ended; when every reader
 * cancelled before that, it is abandoned and nothing is published.
 */
export class SharedFill {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #fan: FanOut;
  readonly #chunks: Uint8Array[] = [];
  #base = 0;
  readonly #readers = new Set<{ pos: number }>();
  /** Readers whose next chunk is the oldest kept one; when none are left it can go. */
  #atBase = 0;
  #ended = false;
  #failed = false;
  #error: unknown = undefined;
  #pulling: Promise<void> | undefined;

  constructor(source: ReadableStream<Uint8Array>, writers: TierWriter[], hooks: FillHooks) {
    this.#reader = source.getReader() as unknown as ReadableStreamDefaultReader<Uint8Array>;
    this.#fan = new FanOut(writers, hooks);
  }

  /** Whether a new reader can still get the whole body. */
  get joinable(): boolean {
    return this.#base === 0 && !this.#failed;
  }

  /** A new reader's stream from the first byte. Check {@link joinable} first. */
  subscribe(): ReadableStream<Uint8Array> {
    const me = { pos: this.#base };
    this.#readers.add(me);
    this.#atBase++;
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          for (;;) {
            const at = me.pos - this.#base;
            if (at < this.#chunks.length) {
              const chunk = this.#chunks[at]!;
              me.pos++;
              if (at === 0 && --this.#atBase === 0) this.#advance();
              controller.enqueue(chunk);
              return;
            }
            if (this.#failed) {
              this.#leave(me, false);
              controller.error(this.#error);
              return;
            }
            if (this.#ended) {
              this.#leave(me, false);
              controller.close();
              return;
            }
            await (this.#pulling ??= this.#pullOnce().finally(() => (this.#pulling = undefined)));
          }
        },
        cancel: () => this.#leave(me, true),
      },
      { highWaterMark: 0 },
    );
  }

  async #pullOnce(): Promise<void> {
    let next: { done: true; value?: undefined } | { done: false; value: Uint8Array };
    try {
      next = await this.#reader.read();
    } catch (e) {
      return this.#fail(e);
    }
    if (this.#failed) return;
    if (next.done) {
      await this.#fan.finish();
      this.#ended = true;
      return;
    }
    let chunk: Uint8Array;
    try {
      chunk = asBytes(next.value);
    } catch (e) {
      this.#reader.cancel(e).catch(() => {});
      return this.#fail(e);
    }
    if (chunk.length === 0) return;
    await this.#fan.write(chunk);
    this.#chunks.push(chunk);
  }

  async #fail(e: unknown): Promise<void> {
    this.#failed = true;
    this.#error = e;
    this.#chunks.length = 0;
    await this.#fan.abort("failed", e);
  }

  /** Drop chunks every reader has taken (counting readers at the new oldest chunk once per drop). */
  #advance(): void {
    while (this.#atBase === 0 && this.#readers.size > 0 && this.#chunks.length > 0) {
      this.#chunks.shift();
      this.#base++;
      let n = 0;
      for (const r of this.#readers) if (r.pos === this.#base) n++;
      this.#atBase = n;
    }
  }

  #leave(me: { pos: number }, cancelled: boolean): void | Promise<void> {
    if (!this.#readers.delete(me)) return;
    if (this.#readers.size > 0) {
      if (me.pos === this.#base && --this.#atBase === 0) this.#advance();
      return;
    }
    this.#chunks.length = 0;
    this.#base = Number.MAX_SAFE_INTEGER;
    if (cancelled && !this.#ended && !this.#failed) {
      // The last reader left halfway: abandon the fill, publish nothing.
      this.#failed = true;
      this.#error = new Error("every reader cancelled the body");
      this.#reader.cancel().catch(() => {});
      return this.#fan.abort("abandoned");
    }
  }
}

/**
 * A stream over `source` that copies every chunk into `writers` as the reader pulls it.
 * `highWaterMark: 0`: nothing is read ahead of the reader, so a cancelled read stops the
 * copy where the reader stopped.
 */
export function fillStream(source: ReadableStream<Uint8Array>, writers: TierWriter[], hooks: FillHooks): ReadableStream<Uint8Array> {
  return new SharedFill(source, writers, hooks).subscribe();
}

/** Read `stream` to the end, discarding the bytes. */
export async function drain(stream: ReadableStream<Uint8Array>): Promise<void> {
  const reader = stream.getReader();
  for (;;) {
    const { done } = await reader.read();
    if (done) return;
  }
}
