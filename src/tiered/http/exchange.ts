/**
 * What one proxied request carries between the proxy's modules, and letting go of bodies
 * nobody will read.
 */
import { discardBody } from "../body.ts";
import type { StoredEntry } from "../types.ts";
import type { StoredResponse, VaryMarker } from "./entry.ts";
import type { PolicyRequest, SharedPolicy } from "./policy.ts";
import type { ClientInfo } from "./upstream.ts";

/** One request, as the proxy reads it. */
export interface Exchange {
  req: Request;
  /** Path and query: the cache key. */
  target: string;
  /** Where it goes at the origin (`ERR_INVALID` when the target would leave it). */
  readonly url: string;
  /** Who asked. */
  readonly client: ClientInfo;
  /** The request as the policy reads it: always GET (a stored GET answers a HEAD), canonical fields. */
  preq: PolicyRequest;
}

/** A stored response that matches a request. */
export interface Found {
  /** The key it is stored under (the URI, or a variant's secondary key). */
  key: string;
  entry: StoredEntry;
  record: StoredResponse;
  policy: SharedPolicy;
  /** The tier it came from. */
  source: string;
  /** False for a local copy that may have missed an invalidation: validate before use. */
  trusted: boolean;
}

/** What the stores hold for a request. */
export interface Lookup {
  found?: Found | undefined;
  /** The URI's `Vary` marker, when its responses vary. */
  marker?: VaryMarker | undefined;
  /** Something is stored for the URI, but not for this request's variant. */
  varyMiss: boolean;
}

export function cancelQuietly(body: ReadableStream<Uint8Array> | null | undefined): void {
  body?.cancel().catch(() => {});
}

/** Let go of a stored entry's body unread. */
export function discard(entry: StoredEntry | undefined): void {
  if (entry !== undefined) discardBody(entry);
}

export async function drainQuietly(body: ReadableStream<Uint8Array>): Promise<void> {
  try {
    const reader = body.getReader();
    for (;;) if ((await reader.read()).done) return;
  } catch {
    // the fill failed or was superseded; nothing was published
  }
}
