/**
 * `Cache-Status` (RFC 9211): what this cache did for a response, appended to the values
 * caches nearer the origin put there.
 */

/** The cache's name in `Cache-Status`. */
export const CACHE_NAME = "offheap";

/** Why a request went to the origin (RFC 9211 §2.2). */
export type ForwardReason = "uri-miss" | "vary-miss" | "miss" | "request" | "stale" | "method" | "bypass";

/** What the cache did. */
export interface CacheStatusParts {
  /** Served from the cache without going forward. */
  hit?: boolean;
  /** Went forward, and why. */
  fwd?: ForwardReason;
  /** The origin's status when it went forward. */
  fwdStatus?: number;
  /** The response was stored. */
  stored?: boolean;
  /** The request waited for another request's origin fetch. */
  collapsed?: boolean;
  /** Remaining freshness in seconds (negative when stale). */
  ttl?: number;
  /** Free text (a tier name, an error code). */
  detail?: string;
}

const details = new Map<string, string>();

/** `detail=<token>` or `detail="<string>"`, remembered (there are few distinct details). */
function detailParam(detail: string): string {
  let p = details.get(detail);
  if (p === undefined) {
    p = /^[A-Za-z][A-Za-z0-9_.:/*-]*$/.test(detail) ? `detail=${detail}` : `detail=${JSON.stringify(detail)}`;
    if (details.size < 1024) details.set(detail, p);
  }
  return p;
}

/** The `Cache-Status` member for `parts`. */
export function cacheStatusMember(parts: CacheStatusParts): string {
  const out = [CACHE_NAME];
  if (parts.hit) out.push("hit");
  if (parts.fwd !== undefined) out.push(`fwd=${parts.fwd}`);
  if (parts.fwdStatus !== undefined) out.push(`fwd-status=${parts.fwdStatus}`);
  if (parts.stored) out.push("stored");
  if (parts.collapsed) out.push("collapsed");
  if (parts.ttl !== undefined && Number.isFinite(parts.ttl)) out.push(`ttl=${Math.round(parts.ttl)}`);
  if (parts.detail !== undefined) out.push(detailParam(parts.detail));
  return out.join("; ");
}

/** Append this cache's member to `headers`' `Cache-Status`. */
export function appendCacheStatus(headers: Headers, parts: CacheStatusParts): void {
  const before = headers.get("cache-status");
  const member = cacheStatusMember(parts);
  headers.set("cache-status", before === null || before.trim() === "" ? member : `${before}, ${member}`);
}
