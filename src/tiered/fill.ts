/**
 * Filling stores while a body streams to its reader. The reader drives the copy: each chunk
 * is written to every store before the reader gets it, and the stores publish only after
 * the source ended and was read to the end. A reader that cancels halfway aborts every
 * store writer, so a partial body is never published.
 */
import type { StoreWriter } from "./types.ts";

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
  /** True when a `delete` or `set` since the fill began means it must not publish. */
  superseded(): boolean;
  /** Called exactly once when the fill ends. */
  done(report: FillReport): void;
  /** Called for each store error (counted by the cache; the fill goes on without that store). */
  onStoreError?(error: unknown): void;
}

/**
 * A group of store writers fed the same chunks. A store that fails a write is aborted and
 * dropped; the others go on.
 */
export class FanOut {
  #writers: StoreWriter[];
  #hooks: FillHooks;
  #ended = false;
  #committed = 0;
  #storeError: unknown = undefined;

  constructor(writers: StoreWriter[], hooks: FillHooks) {
    this.#writers = writers;
    this.#hooks = hooks;
  }

  /** Give `chunk` to every live writer; resolves when all took it. */
  async write(chunk: Uint8Array): Promise<void> {
    const writers = this.#writers;
    for (let i = 0; i < writers.length; i++) {
      const w = writers[i]!;
      try {
        const p = w.write(chunk);
        if (p !== undefined) await p;
      } catch (e) {
        this.#drop(w, e);
        i--;
      }
    }
  }

  /** Publish in every live writer (or abort them all when superseded) and report. */
  async finish(): Promise<void> {
    if (this.#ended) return;
    if (this.#hooks.superseded()) return this.abort("abandoned");
    this.#ended = true;
    const writers = this.#writers;
    this.#writers = [];
    await Promise.all(
      writers.map((w) =>
        w.commit().then(
          () => void this.#committed++,
          (e) => this.#noteError(e),
        ),
      ),
    );
    this.#hooks.done({ outcome: "published", committed: this.#committed, storeError: this.#storeError });
  }

  /** Abort every writer and report `outcome`. Idempotent. */
  async abort(outcome: "abandoned" | "failed", error?: unknown): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    const writers = this.#writers;
    this.#writers = [];
    await Promise.all(writers.map((w) => w.abort().catch((e) => this.#noteError(e))));
    this.#hooks.done({ outcome, error, committed: 0, storeError: this.#storeError });
  }

  #drop(w: StoreWriter, e: unknown): void {
    const at = this.#writers.indexOf(w);
    if (at >= 0) this.#writers.splice(at, 1);
    this.#noteError(e);
    w.abort().catch(() => {});
  }

  #noteError(e: unknown): void {
    if (this.#storeError === undefined) this.#storeError = e;
    this.#hooks.onStoreError?.(e);
  }
}

function asBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === "string") return new TextEncoder().encode(chunk);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError(`body chunks must be bytes, got ${typeof chunk}`);
}

/**
 * A stream over `source` that copies every chunk into `writers` as the reader pulls it.
 * `highWaterMark: 0`: nothing is read ahead of the reader, so a cancelled read stops the
 * copy where the reader stopped.
 */
export function fillStream(source: ReadableStream<Uint8Array>, writers: StoreWriter[], hooks: FillHooks): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  const fan = new FanOut(writers, hooks);
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let next: Awaited<ReturnType<typeof reader.read>>;
        try {
          next = await reader.read();
        } catch (e) {
          await fan.abort("failed", e);
          controller.error(e);
          return;
        }
        if (next.done) {
          await fan.finish();
          controller.close();
          return;
        }
        let chunk: Uint8Array;
        try {
          chunk = asBytes(next.value);
        } catch (e) {
          reader.cancel(e).catch(() => {});
          await fan.abort("failed", e);
          controller.error(e);
          return;
        }
        if (chunk.length === 0) return;
        await fan.write(chunk);
        controller.enqueue(chunk);
      },
      async cancel(reason) {
        await fan.abort("abandoned");
        await reader.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}

/** Read `stream` to the end, discarding the bytes. */
export async function drain(stream: ReadableStream<Uint8Array>): Promise<void> {
  const reader = stream.getReader();
  for (;;) {
    const { done } = await reader.read();
    if (done) return;
  }
}
