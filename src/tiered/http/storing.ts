/**
 * What the proxy stores, and whether a 304 is about what it stored: the rules on top of
 * the policy's `storable()` that are this cache's choices (`Set-Cookie` only when public,
 * nothing that can't be reused or revalidated, a bounded header size), and RFC 9111
 * §4.3.4's selection of the response a 304 validates.
 */
import { MAX_EXTRA_BYTES } from "../meta.ts";
import type { StoredResponse } from "./entry.ts";
import { headersFromList, type HeaderList } from "./headers.ts";
import { parseHttpDate, parseVary } from "./parse.ts";
import { policyToObject, type SharedPolicy } from "./policy.ts";

/** The record to store for a response, or undefined when it must (or need) not be stored. */
export function storableRecord(policy: SharedPolicy, res: Response, list: HeaderList): string | undefined {
  // no-store, private, Authorization without public/s-maxage/must-revalidate, a status
  // the cache does not understand (206 included), or a request that said no-store.
  if (!policy.storable()) return undefined;
  if (parseVary(res.headers.get("vary"))[0] === "*") return undefined;
  // Set-Cookie is stored only when the origin marked the response public.
  if (list.some(([name]) => name === "set-cookie") && policy.directive("public") === undefined) return undefined;
  const hasValidator = res.headers.has("etag") || res.headers.has("last-modified");
  if (policy.maxAge() <= 0 && !hasValidator) return undefined;
  const record: StoredResponse = { v: 1, kind: "response", status: res.status, headers: list, policy: policyToObject(policy) };
  const extra = JSON.stringify(record);
  return Buffer.byteLength(extra) <= MAX_EXTRA_BYTES ? extra : undefined;
}

/**
 * Whether a 304 to our conditional request is about the stored response (RFC 9111 §4.3.4).
 * The request carried only that response's validators, so a 304 with no validator of its
 * own is about it; one with a validator must match.
 */
export function validatesStored(stored: HeaderList, notModified: Headers): boolean {
  const etag = notModified.get("etag");
  const storedFields = headersFromList(stored);
  if (etag !== null) {
    const mine = storedFields.get("etag");
    return mine !== null && opaqueTag(mine) === opaqueTag(etag);
  }
  const lastModified = notModified.get("last-modified");
  if (lastModified !== null) {
    const mine = storedFields.get("last-modified");
    return mine !== null && parseHttpDate(mine) === parseHttpDate(lastModified);
  }
  return true;
}

function opaqueTag(tag: string): string {
  const t = tag.trim();
  return t.startsWith("W/") ? t.slice(2) : t;
}
