/**
 * Building the client's response: from a stored response (with its `Age`, a 304 for the
 * client's own validators, one byte range), from one being stored, or for a failure.
 */
import { OffheapError } from "../../errors.ts";
import { bytesStream } from "../body.ts";
import { ifNoneMatchMatches } from "../etag.ts";
import { appendCacheStatus, type CacheStatusParts } from "./cache-status.ts";
import { cancelQuietly, discard, drainQuietly, type Exchange, type Found } from "./exchange.ts";
import { headersFromList, type HeaderList } from "./headers.ts";
import { parseHttpDate } from "./parse.ts";
import type { SharedPolicy } from "./policy.ts";
import { ifRangeAllows, requestedRange, sliceStream } from "./range.ts";

/** Statuses that carry no body. */
export const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304]);
/** Fields a 304 carries (RFC 9110 §15.4.5), besides Age and Cache-Status. */
const NOT_MODIFIED_FIELDS = new Set(["cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified"]);

/** How {@link answer} treats the body and the client's validators. */
export interface AnswerOptions {
  /** The body is being stored: a body the client won't read is drained by this (not cancelled). */
  keep?: (work: Promise<unknown>) => void;
  /** Answer the client's `If-None-Match`/`If-Modified-Since` (false when they went to the origin). Default true. */
  conditional?: boolean;
}

/** Answer from a stored response, with its current `Age` (and one byte range, when asked). */
export function serveStored(ex: Exchange, found: Found, list: HeaderList, policy: SharedPolicy, parts: CacheStatusParts): Response {
  const headers = headersFromList(list);
  headers.set("age", String(Math.max(0, Math.floor(policy.age()))));
  if (!headers.has("content-length") && found.entry.meta.size !== undefined && !NULL_BODY_STATUSES.has(found.record.status)) {
    headers.set("content-length", String(found.entry.meta.size));
  }
  appendCacheStatus(headers, parts);
  const size = found.entry.meta.size;
  const rangeHeader = ex.req.headers.get("range");
  if (rangeHeader !== null && found.record.status === 200 && size !== undefined && !clientHasCurrent(ex.req, headers)) {
    const range = ifRangeAllows(ex.req.headers.get("if-range"), headers.get("etag"), headers.get("last-modified")) ? requestedRange(rangeHeader, size) : undefined;
    if (range === "unsatisfiable") {
      discard(found.entry);
      headers.set("content-range", `bytes */${size}`);
      headers.delete("content-length");
      return new Response(null, { status: 416, headers });
    }
    if (range !== undefined) {
      headers.set("content-range", `bytes ${range.start}-${range.end}/${size}`);
      headers.set("content-length", String(range.end - range.start + 1));
      if (ex.req.method === "HEAD") {
        discard(found.entry);
        return new Response(null, { status: 206, headers });
      }
      const bytes = found.entry.bytes;
      return new Response(bytes !== undefined ? bytesStream(bytes.subarray(range.start, range.end + 1)) : sliceStream(found.entry.body, range), { status: 206, headers });
    }
  }
  return answer(ex, found.record.status, headers, found.entry.bytes ?? found.entry.body);
}

/** Answer with a response that is being stored as it streams; `keep` carries on a drain the client does not need. */
export function respondStored(ex: Exchange, status: number, list: HeaderList, policy: SharedPolicy, body: ReadableStream<Uint8Array>, parts: CacheStatusParts, keep: (work: Promise<unknown>) => void): Response {
  const headers = headersFromList(list);
  if (parts.collapsed) headers.set("age", String(Math.max(0, Math.floor(policy.age()))));
  appendCacheStatus(headers, parts);
  return answer(ex, status, headers, body, { keep });
}

/**
 * The response to send: a 304 when the client's own validators match (the proxy asked
 * the origin with its own), no body for HEAD and null-body statuses. A stored body the
 * client will not read is drained in the background when it is still being stored.
 */
export function answer(ex: Exchange, status: number, headers: Headers, body: ReadableStream<Uint8Array> | Uint8Array | null, options: AnswerOptions = {}): Response {
  const release = (b: ReadableStream<Uint8Array> | Uint8Array | null) => {
    if (b === null || b instanceof Uint8Array) return;
    if (options.keep !== undefined) options.keep(drainQuietly(b));
    else cancelQuietly(b);
  };
  if (options.conditional !== false && status === 200 && clientHasCurrent(ex.req, headers)) {
    release(body);
    const out = new Headers();
    for (const [name, value] of headers) if (NOT_MODIFIED_FIELDS.has(name) || name === "age" || name === "cache-status") out.append(name, value);
    return new Response(null, { status: 304, headers: out });
  }
  if (ex.req.method === "HEAD" || NULL_BODY_STATUSES.has(status)) {
    release(body);
    return new Response(null, { status, headers });
  }
  // Bytes in hand go out as they are; without a Content-Type, as a stream (Bun.serve would
  // label bare bytes application/octet-stream, which the origin did not say).
  if (body instanceof Uint8Array && !headers.has("content-type")) return new Response(bytesStream(body), { status, headers });
  return new Response(body, { status, headers });
}

/** RFC 9110 §13.1.2–3: the client's `If-None-Match` (or, without it, `If-Modified-Since`) says it has this response. */
export function clientHasCurrent(req: Request, headers: Headers): boolean {
  const inm = req.headers.get("if-none-match");
  if (inm !== null) return ifNoneMatchMatches(inm, headers.get("etag") ?? undefined);
  const ims = parseHttpDate(req.headers.get("if-modified-since"));
  const lastModified = parseHttpDate(headers.get("last-modified"));
  return ims !== undefined && lastModified !== undefined && lastModified <= ims;
}

export function errorCode(e: unknown): string {
  return e instanceof OffheapError ? e.code : e instanceof Error && e.name === "AbortError" ? "aborted" : "error";
}

/** The answer for a failure: 400 bad target, 502 origin unreachable, 503 closed, 504 timeout. */
export function errorResponse(e: unknown): Response {
  const code = errorCode(e);
  const status = code === "ERR_INVALID" ? 400 : code === "ERR_TIMEOUT" ? 504 : code === "ERR_CLOSED" ? 503 : 502;
  const text = status === 400 ? "bad request target" : status === 504 ? "origin timed out" : status === 503 ? "cache closed" : "origin failed";
  return plainResponse(status, `${text}\n`, status === 400 ? { detail: code } : { fwd: "miss", detail: code });
}

export function plainResponse(status: number, text: string, parts: CacheStatusParts): Response {
  const headers = new Headers({ "content-type": "text/plain; charset=utf-8" });
  appendCacheStatus(headers, parts);
  return new Response(text, { status, headers });
}
