/** Bodies for stream-based tests: deterministic bytes and streams, and reading them back. */

/** Read a stream (or null) to a string. */
export async function text(body: ReadableStream<Uint8Array> | null): Promise<string> {
  if (body === null) return "";
  return new Response(body).text();
}

/** Read a stream to bytes. */
export async function bytes(body: ReadableStream<Uint8Array> | null): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0);
  return new Uint8Array(await new Response(body).arrayBuffer());
}

/** Deterministic bytes of length n (seeded). */
export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A stream of `chunks` chunks of `size` bytes each, built lazily (memory stays flat). */
export function chunkedStream(chunks: number, size: number, seed = 7): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (i >= chunks) return c.close();
        const b = new Uint8Array(size);
        b.fill((seed + i) & 0xff);
        i++;
        c.enqueue(b);
      },
    },
    { highWaterMark: 0 },
  );
}
