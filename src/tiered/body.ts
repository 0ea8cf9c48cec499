/** Turning the body types a fetcher, `set` or a writer may give into bytes and byte streams. */
import { describeValue } from "../primitives/arguments.ts";
import { OffheapError } from "../errors.ts";
import type { CacheBody, EntryMeta, StoredEntry } from "./types.ts";

const encoder = new TextEncoder();


/** True for the body types a cache accepts (see {@link CacheBody}). */
export function isCacheBody(body: unknown): body is CacheBody {
  return (
    typeof body === "string" ||
    body instanceof Uint8Array ||
    body instanceof ArrayBuffer ||
    body instanceof ReadableStream ||
    body instanceof Blob ||
    body instanceof Response
  );
}

/** Throw `ERR_INVALID` naming `what` unless `body` is a {@link CacheBody}. */
export function assertCacheBody(body: unknown, what: string): asserts body is CacheBody {
  if (!isCacheBody(body)) {
    throw new OffheapError(
      "ERR_INVALID",
      `${what} must be a ReadableStream, Uint8Array, ArrayBuffer, Blob, Response or string, got ${describeValue(body)}`,
    );
  }
}

/** A `ReadableStream<Uint8Array>` over `body`. Strings are UTF-8 encoded. */
export function toStream(body: CacheBody): ReadableStream<Uint8Array> {
  if (body instanceof ReadableStream) return body;
  if (body instanceof Response) return body.body ?? bytesStream(new Uint8Array(0));
  if (body instanceof Blob) return body.stream();
  const bytes = typeof body === "string" ? encoder.encode(body) : body instanceof ArrayBuffer ? new Uint8Array(body) : body;
  return bytesStream(bytes);
}

/** A stream that yields `bytes` as one chunk. */
export function bytesStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (bytes.length > 0) controller.enqueue(bytes);
      controller.close();
    },
  });
}

/** A chunk as bytes: strings are UTF-8 encoded, other views wrapped; anything else is `ERR_INVALID`. */
export function asBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === "string") return encoder.encode(chunk);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new OffheapError("ERR_INVALID", `body chunks must be Uint8Array, ArrayBuffer, a typed array or string, got ${describeValue(chunk)}`);
}

/** An entry whose body is in hand: its stream is made only if asked for. */
export class BytesEntry implements StoredEntry {
  readonly meta: EntryMeta;
  readonly bytes: Uint8Array;
  #stream: ReadableStream<Uint8Array> | undefined;

  constructor(meta: EntryMeta, bytes: Uint8Array) {
    this.meta = meta;
    this.bytes = bytes;
  }

  get body(): ReadableStream<Uint8Array> {
    return (this.#stream ??= bytesStream(this.bytes));
  }

  /** Whether `body` was asked for. */
  get streamed(): boolean {
    return this.#stream !== undefined;
  }
}

/** Let go of an entry's body unread: cancel its stream (releasing files, connections), if it has one. */
export function discardBody(entry: StoredEntry): void {
  if (entry instanceof BytesEntry && !entry.streamed) return;
  entry.body.cancel().catch(() => {});
}

/** Read `stream` to the end into one array. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    size += value.length;
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
