/** Turning the body types a fetcher or `set` may give into a byte stream. */
import type { CacheBody } from "./types.ts";

/** A `ReadableStream<Uint8Array>` over `body`. Strings are UTF-8 encoded. */
export function toStream(body: CacheBody): ReadableStream<Uint8Array> {
  if (body instanceof ReadableStream) return body;
  if (body instanceof Blob) return body.stream();
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body instanceof ArrayBuffer ? new Uint8Array(body) : body;
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
