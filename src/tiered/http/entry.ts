/**
 * What the HTTP face keeps in an entry's `meta.extra`: either a stored response (status,
 * end-to-end headers as the origin sent them, and the cache policy's state), or a `Vary`
 * marker that says which request fields select among the stored variants of a URI.
 *
 * Variants live under secondary keys (RFC 9111 §4.1): `<uri> \0 <epoch> \0 <hash of the
 * selecting fields>`. The marker's `epoch` is new each time a marker is written, so when
 * a URI is invalidated (its marker deleted) its old variants can never be reached again,
 * even when a later response varies on the same fields; they age out of the stores.
 */
import type { HeaderList } from "./headers.ts";
import type { PolicyObject } from "./policy.ts";

/** A stored response. */
export interface StoredResponse {
  v: 1;
  kind: "response";
  status: number;
  headers: HeaderList;
  policy: PolicyObject;
}

/** A `Vary` marker: the fields (lowercase, sorted) that select a variant, and the marker's epoch. */
export interface VaryMarker {
  v: 1;
  kind: "vary";
  vary: string[];
  epoch: string;
}

/** What an entry's `extra` says, or `undefined` when the entry is not the HTTP face's. */
export function parseEntry(extra: string | undefined): StoredResponse | VaryMarker | undefined {
  if (extra === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(extra);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (o.v !== 1) return undefined;
  if (o.kind === "response") {
    if (typeof o.status !== "number" || !Array.isArray(o.headers) || typeof o.policy !== "object" || o.policy === null) return undefined;
    for (const pair of o.headers) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string") return undefined;
    }
    return o as unknown as StoredResponse;
  }
  if (o.kind === "vary") {
    if (!Array.isArray(o.vary) || !o.vary.every((f) => typeof f === "string") || typeof o.epoch !== "string") return undefined;
    return o as unknown as VaryMarker;
  }
  return undefined;
}

/** A new marker for these `Vary` fields. */
export function newMarker(vary: string[]): VaryMarker {
  return { v: 1, kind: "vary", vary, epoch: crypto.randomUUID().slice(0, 8) };
}

/**
 * The secondary key of the variant that `requestHeaders` select under `marker`. Field
 * values are compared after joining repeated lines and folding whitespace runs; an absent
 * field differs from an empty one. The stored policy checks the fields again on reuse, so
 * a hash collision can only cost a miss.
 */
export function variantKey(uri: string, marker: VaryMarker, requestHeaders: Record<string, string>): string {
  let selectors = "";
  for (const name of marker.vary) {
    const value = requestHeaders[name];
    selectors += value === undefined ? `${name}\u0001\n` : `${name}:${value.replace(/[ \t]+/g, " ").trim()}\n`;
  }
  const hash = Bun.hash.wyhash(selectors).toString(36);
  return `${uri}\u0000${marker.epoch}\u0000${hash}`;
}
