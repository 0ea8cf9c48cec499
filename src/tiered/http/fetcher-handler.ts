/**
 * The HTTP face over a fetcher: `cache.handler(fetcher)`. GET and HEAD by path and query
 * go through `cache.get` with the cache's own rules (`fresh`, `staleWhileRevalidate`,
 * `negative`, …); the fetcher decides what a key's body is. For a cache in front of an
 * HTTP origin that follows the origin's caching headers, give `handler` the origin URL.
 */
import { requestArg } from "../../primitives/arguments.ts";
import { OffheapError } from "../../errors.ts";
import type { GetOptions } from "../options.ts";
import type { Fetcher, GetResult } from "../types.ts";
import { appendCacheStatus, type CacheStatusParts } from "./cache-status.ts";
import { requestTarget } from "./target.ts";

/** What the handler needs of a TieredCache: its `get`. */
export interface FetchingCache {
  get(key: string, fetcher: Fetcher, options?: GetOptions): Promise<GetResult>;
}

/** A handler for `Bun.serve` over a fetcher. */
export type FetcherHandler = (req: Request) => Promise<Response>;

/** Options of {@link createFetcherHandler}. */
export interface FetcherHandlerOptions {
  /** Freshness used for the `ttl` parameter of `Cache-Status`; omit to leave it out. */
  fresh?: number;
}

/** What `Cache-Status` says about a result (RFC 9211 §2). */
export function cacheStatusParts(r: Pick<GetResult, "status" | "meta" | "source" | "revalidated" | "collapsed">, now: number, freshMs: number | undefined): CacheStatusParts {
  const parts: CacheStatusParts = {};
  const fromOrigin = r.source === "origin";
  switch (r.status) {
    case "hit":
    case "not-modified":
      if (fromOrigin) Object.assign(parts, { fwd: "uri-miss", stored: true });
      else if (r.revalidated) Object.assign(parts, { fwd: "stale", fwdStatus: 304 });
      else parts.hit = true;
      break;
    case "stale":
      parts.hit = true;
      break;
    case "miss":
      Object.assign(parts, { fwd: r.revalidated ? "stale" : "uri-miss", fwdStatus: 200, stored: true });
      break;
    case "not-found":
      if (r.source === "negative") Object.assign(parts, { hit: true, detail: "negative" });
      else Object.assign(parts, { fwd: "uri-miss", fwdStatus: 404 });
      break;
  }
  if (r.collapsed) parts.collapsed = true;
  if (freshMs !== undefined && (r.status === "hit" || r.status === "stale" || r.status === "not-modified")) {
    parts.ttl = Math.floor((r.meta.cachedAt + freshMs - now) / 1000);
  }
  if (r.status !== "not-found" && !fromOrigin && r.source !== "negative") parts.detail = r.source;
  return parts;
}

/** Build the handler. Only GET and HEAD are answered (others: 405). */
export function createFetcherHandler(cache: FetchingCache, fetcher: Fetcher, options: FetcherHandlerOptions = {}): FetcherHandler {
  return async (req: Request): Promise<Response> => {
    requestArg(req);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    let r: GetResult;
    try {
      r = await cache.get(requestTarget(req), fetcher, { ifNoneMatch: req.headers.get("if-none-match"), signal: req.signal });
    } catch (e) {
      const code = e instanceof OffheapError ? e.code : "ERR_UPSTREAM";
      const status = code === "ERR_TIMEOUT" ? 504 : code === "ERR_CLOSED" ? 503 : 502;
      const headers = new Headers({ "content-type": "text/plain; charset=utf-8" });
      appendCacheStatus(headers, { fwd: "uri-miss", detail: code });
      return new Response(`${status === 504 ? "origin timed out" : status === 503 ? "cache closed" : "origin failed"}\n`, { status, headers });
    }
    const now = Date.now();
    const headers = new Headers();
    appendCacheStatus(headers, cacheStatusParts(r, now, options.fresh));
    if (r.meta.etag) headers.set("etag", r.meta.etag);
    if (r.status === "not-found") return new Response("not found\n", { status: 404, headers });
    if (r.status !== "miss") headers.set("age", String(Math.max(0, Math.floor((now - r.meta.cachedAt) / 1000))));
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
