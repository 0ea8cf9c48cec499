/**
 * Finding the stored response for a request: the URI's entry, or through its `Vary`
 * marker the variant this request's fields select; a stored response is only "found"
 * when its policy matches the request (URI and `Vary` fields).
 */
import type { CacheHost } from "../host.ts";
import type { StoredEntry } from "../types.ts";
import { parseEntry, variantKey, type StoredResponse, type VaryMarker } from "./entry.ts";
import { discard, drainQuietly, type Exchange, type Lookup } from "./exchange.ts";
import { headerRecord } from "./headers.ts";
import { policyFromObject, policyResponseHeaders, type SharedPolicy, type SharedPolicyClass } from "./policy.ts";

/** What a lookup needs of the proxy. */
export interface LookupContext {
  host: CacheHost;
  Policy: SharedPolicyClass;
  /** The targeted cache-control fields, lowercase. */
  targets: readonly string[];
}

/** What the stores hold for `ex`. */
export async function lookup(ctx: LookupContext, ex: Exchange): Promise<Lookup> {
  const first = await ctx.host.read(ex.target);
  if (first === undefined) return { varyMiss: false };
  const parsed = parseEntry(first.entry.meta.extra);
  if (parsed === undefined) {
    discard(first.entry);
    return { varyMiss: false };
  }
  if (parsed.kind === "response") return match(ctx, ex, ex.target, first, parsed, undefined);
  // A Vary marker: read its empty body so a marker found in a lower tier moves up.
  if (first.entry.bytes === undefined) await drainQuietly(first.entry.body);
  const key = variantKey(ex.target, parsed, ex.preq.headers);
  const second = await ctx.host.read(key);
  if (second === undefined) return { marker: parsed, varyMiss: true };
  const variant = parseEntry(second.entry.meta.extra);
  if (variant?.kind !== "response") {
    discard(second.entry);
    return { marker: parsed, varyMiss: true };
  }
  return match(ctx, ex, key, second, variant, parsed);
}

function match(ctx: LookupContext, ex: Exchange, key: string, hit: { entry: StoredEntry; source: string; trusted: boolean }, record: StoredResponse, marker: VaryMarker | undefined): Lookup {
  let policy: SharedPolicy;
  try {
    policy = policyFromObject(ctx.Policy, record.policy, policyResponseHeaders(headerRecord(record.headers), ctx.targets));
  } catch {
    discard(hit.entry);
    return { marker, varyMiss: false };
  }
  if (!policy.matches(ex.preq)) {
    discard(hit.entry);
    return { marker, varyMiss: true };
  }
  return { found: { key, entry: hit.entry, record, policy, source: hit.source, trusted: hit.trusted }, marker, varyMiss: false };
}
