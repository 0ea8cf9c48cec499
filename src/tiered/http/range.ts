/**
 * Range requests answered from a stored complete response (RFC 9110 §14): one byte range
 * (`bytes=a-b`, `bytes=a-`, `bytes=-n`) becomes a 206 over a slice of the stored body;
 * several ranges, other units or an `If-Range` that does not match get the whole 200.
 */
import { parseHttpDate } from "./parse.ts";

/** A satisfiable range: bytes `start` to `end` inclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The one range `header` asks of a `size`-byte body: a range, `"unsatisfiable"`, or
 * undefined when the header is absent, malformed or asks for several ranges (serve 200).
 */
export function requestedRange(header: string | null, size: number): ByteRange | "unsatisfiable" | undefined {
  if (header === null) return undefined;
  const m = /^bytes=[ \t]*([0-9]*)-([0-9]*)[ \t]*$/i.exec(header.trim());
  if (m === null) return undefined;
  const [, first, last] = m;
  if (first === "" && last === "") return undefined;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0) return "unsatisfiable";
    return size === 0 ? "unsatisfiable" : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== "" && Number(last) < start) return undefined; // invalid: ignore the header
  if (start >= size) return "unsatisfiable";
  return { start, end };
}

/** Whether `If-Range` (absent, an entity tag or a date) lets a range be served from this response. */
export function ifRangeAllows(ifRange: string | null, etag: string | null, lastModified: string | null): boolean {
  if (ifRange === null) return true;
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith("W/")) return etag !== null && !v.startsWith("W/") && !etag.startsWith("W/") && v === etag.trim();
  const date = parseHttpDate(v);
  const lm = parseHttpDate(lastModified);
  return date !== undefined && lm !== undefined && lm === date;
}

/** The bytes `start..end` (inclusive) of `body`, as a stream; the rest is read past or cancelled. */
export function sliceStream(body: ReadableStream<Uint8Array>, range: ByteRange): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let at = 0; // offset of the next byte the source yields
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (at > range.end) {
          controller.close();
          reader.cancel().catch(() => {});
          return;
        }
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        const chunkStart = at;
        at += value.length;
        if (at <= range.start) continue;
        const from = Math.max(0, range.start - chunkStart);
        const to = Math.min(value.length, range.end + 1 - chunkStart);
        controller.enqueue(value.subarray(from, to));
        return;
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
