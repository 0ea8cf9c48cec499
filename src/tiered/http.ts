/**
 * The HTTP face of a {@link TieredCache}: a `(req) => Response` for `Bun.serve` that caches
 * GET and HEAD by path and query, answers 304 on a matching `If-None-Match`, and says what
 * the cache did in a `Cache-Status` header (RFC 9211).
 */
import { OffheapError } from "../errors.ts";
import type { TieredCache } from "./cache.ts";
import { NOT_FOUND, NOT_MODIFIED, type Fetcher, type FetchResult, type GetResult } from "./types.ts";

/** The cache's name in `Cache-Status`. */
export const CACHE_NAME = "offheap";

/** A fetcher that asks `origin` for the same path and query, revalidating with `If-None-Match`. */
export function originFetcher(origin: string | URL): Fetcher {
  const base = new URL(String(origin));
  return async ({ key, etag, signal }): Promise<FetchResult> => {
    const url = new URL(key, base);
    const headers: Record<string, string> = {};
    if (etag !== undefined) headers["if-none-match"] = etag;
    const res = await fetch(url, { headers, signal, redirect: "follow" });
    if (res.status === 304) return NOT_MODIFIED;
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel();
      return NOT_FOUND;
    }
    if (!res.ok || res.body === null) {
      await res.body?.cancel();
      throw new OffheapError("ERR_SYSTEM", `origin answered ${res.status} ${res.statusText} for ${url.pathname}${url.search}`);
    }
    return { body: res.body, etag: res.headers.get("etag"), contentType: res.headers.get("content-type") };
  };
}

/** The `Cache-Status` value for a result (RFC 9211 §2). */
export function cacheStatus(r: GetResult, now: number, freshMs: number | undefined): string {
  const parts = [CACHE_NAME];
  switch (r.status) {
    case "hit":
    case "not-modified":
      if (r.source === "origin") parts.push("fwd=uri-miss", "stored");
      else if (r.revalidated) parts.push("fwd=stale", "fwd-status=304");
      else parts.push("hit");
      break;
    case "stale":
      parts.push("hit");
      break;
    case "miss":
      parts.push(r.revalidated ? "fwd=stale" : "fwd=uri-miss", "fwd-status=200", "stored");
      break;
    case "not-found":
      if (r.source === "negative") parts.push("hit", 'detail="negative"');
      else parts.push("fwd=uri-miss", "fwd-status=404");
      break;
  }
  if (r.collapsed) parts.push("collapsed");
  if (freshMs !== undefined && r.status !== "not-found" && (r.status === "hit" || r.status === "stale" || r.status === "not-modified")) {
    parts.push(`ttl=${Math.floor((r.meta.cachedAt + freshMs - now) / 1000)}`);
  }
  if (r.status !== "not-found" && r.source !== "origin" && r.source !== "negative") parts.push(`detail=${r.source}`);
  return parts.join("; ");
}

/** Options of {@link createHandler}. */
export interface HandlerOptions {
  /** Freshness used for the `ttl` parameter of `Cache-Status`; omit to leave it out. */
  fresh?: number;
}

/**
 * Build the handler. `source` is a fetcher or an origin URL (requests go to the same path
 * and query there).
 */
export function createHandler(cache: TieredCache, source: Fetcher | string | URL, options: HandlerOptions = {}): (req: Request) => Promise<Response> {
  const fetcher = typeof source === "function" ? source : originFetcher(source);
  return async (req: Request): Promise<Response> => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    const url = new URL(req.url);
    const key = url.pathname + url.search;
    let r: GetResult;
    try {
      r = await cache.get(key, fetcher, { ifNoneMatch: req.headers.get("if-none-match"), signal: req.signal });
    } catch (e) {
      const code = e instanceof OffheapError ? e.code : "error";
      const status = code === "ERR_TIMEOUT" ? 504 : code === "ERR_CLOSED" ? 503 : 502;
      return new Response(`${status === 504 ? "origin timed out" : "origin failed"}\n`, {
        status,
        headers: { "cache-status": `${CACHE_NAME}; fwd=uri-miss; detail="${code}"`, "content-type": "text/plain" },
      });
    }
    const headers = new Headers();
    headers.set("cache-status", cacheStatus(r, Date.now(), options.fresh));
    if (r.meta.etag) headers.set("etag", r.meta.etag);
    if (r.status === "not-found") return new Response("not found\n", { status: 404, headers });
    if (r.status !== "miss") headers.set("age", String(Math.max(0, Math.floor((Date.now() - r.meta.cachedAt) / 1000))));
    if (r.status === "not-modified") return new Response(null, { status: 304, headers });
    if (r.meta.contentType) headers.set("content-type", r.meta.contentType);
    if (r.meta.size !== undefined && r.status !== "miss") headers.set("content-length", String(r.meta.size));
    if (req.method === "HEAD") {
      r.body?.cancel().catch(() => {});
      return new Response(null, { status: 200, headers });
    }
    return new Response(r.body, { status: 200, headers });
  };
}
