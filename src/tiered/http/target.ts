/**
 * Containment: the proxy only ever asks its configured origin. The request's path and
 * query are appended to the origin URL *as a string*, after its authority and path
 * prefix, and the result is checked to still name that origin and prefix, so `//host`,
 * `/\host`, absolute-form targets, `@host`, encoded dot segments and scheme changes can
 * never move a request to another scheme, host, port or path outside the prefix.
 */
import { OffheapError } from "../../errors.ts";

/** A checked origin: where the proxy sends every request. */
export interface Origin {
  /** `protocol//host[:port]`, e.g. `http://127.0.0.1:8080`. */
  readonly origin: string;
  /** The path prefix without a trailing slash (`""` for none), e.g. `/app`. */
  readonly prefix: string;
  /** The origin's `host[:port]`, for the `Host` header. */
  readonly host: string;
  /** `http:` or `https:`. */
  readonly protocol: string;
}

/** Check an origin URL: http or https, no credentials, query or fragment. Throws `ERR_INVALID`. */
export function parseOrigin(origin: unknown): Origin {
  if (typeof origin !== "string" && !(origin instanceof URL)) {
    throw new OffheapError("ERR_INVALID", `the origin must be a URL string or URL, got ${origin === null ? "null" : typeof origin}`);
  }
  let url: URL;
  try {
    url = new URL(String(origin));
  } catch {
    throw new OffheapError("ERR_INVALID", `the origin ${JSON.stringify(String(origin))} is not an absolute URL (expected e.g. "http://127.0.0.1:8080")`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new OffheapError("ERR_INVALID", `the origin must be http: or https:, got ${url.protocol} in ${JSON.stringify(url.href)}`);
  }
  if (url.username !== "" || url.password !== "") throw new OffheapError("ERR_INVALID", `the origin must not carry credentials (${url.host})`);
  if (url.search !== "" || url.hash !== "") {
    throw new OffheapError("ERR_INVALID", `the origin must not have a query or fragment, got ${JSON.stringify(url.href)}`);
  }
  const prefix = url.pathname.endsWith("/") ? url.pathname.slice(0, -1) : url.pathname;
  return { origin: url.origin, prefix, host: url.host, protocol: url.protocol };
}

/** The request target (path and query) of `req`, always starting with `/`. */
export function requestTarget(req: Request): string {
  const url = new URL(req.url);
  return url.pathname + url.search;
}

/**
 * The URL to fetch at the origin for `target`, or `undefined` when the result would leave
 * the origin or its path prefix (the caller answers 400).
 */
export function upstreamUrl(origin: Origin, target: string): string | undefined {
  const path = target.startsWith("/") ? target : `/${target}`;
  let url: URL;
  try {
    url = new URL(origin.origin + origin.prefix + path);
  } catch {
    return undefined;
  }
  if (url.origin !== origin.origin || url.username !== "" || url.password !== "") return undefined;
  if (origin.prefix !== "" && url.pathname !== origin.prefix && !url.pathname.startsWith(origin.prefix + "/")) return undefined;
  return url.href;
}

/**
 * The cache key of a URI that a response names (`Location`, `Content-Location`), when it
 * is on this origin and under its prefix: the path and query past the prefix. Undefined
 * otherwise (§4.4: a cache must not invalidate another host's URIs).
 */
export function sameOriginTarget(origin: Origin, base: string, reference: string | null): string | undefined {
  if (reference === null || reference === "") return undefined;
  let url: URL;
  try {
    url = new URL(reference, base);
  } catch {
    return undefined;
  }
  if (url.origin !== origin.origin) return undefined;
  if (origin.prefix === "") return url.pathname + url.search;
  if (url.pathname !== origin.prefix && !url.pathname.startsWith(origin.prefix + "/")) return undefined;
  return url.pathname.slice(origin.prefix.length) + url.search || "/";
}
