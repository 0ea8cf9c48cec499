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
  /** Entries already parsed, by their `extra` (see {@link ParsedEntries}). */
  parsed: ParsedEntries;
}

/** A stored response as parsed, with its policy: the same `extra` always parses the same. */
interface Parsed {
  record: StoredResponse;
  policy: SharedPolicy;
}

/**
 * Parsed entries by their `extra` text, so a hit does not parse JSON, dates and
 * directives again: a stored response's fields never change (a 304 writes a new
 * `extra`), and its policy only reads the clock. Bounded; emptied when full.
 */
export class ParsedEntries {
  readonly #byExtra = new Map<string, Parsed | VaryMarker | null>();
  readonly #max: number;

  constructor(max = 4096) {
    this.#max = max;
  }

  /** The parse of `extra`, made by `parse` the first time (null: not an HTTP entry). */
  get(extra: string, parse: () => Parsed | VaryMarker | null): Parsed | VaryMarker | null {
    let v = this.#byExtra.get(extra);
    if (v === undefined) {
      v = parse();
      if (this.#byExtra.size >= this.#max) this.#byExtra.clear();
      this.#byExtra.set(extra, v);
    }
    return v;
  }
}

function parse(ctx: LookupContext, extra: string | undefined): Parsed | VaryMarker | null {
  if (extra === undefined) return null;
  return ctx.parsed.get(extra, () => {
    const e = parseEntry(extra);
    if (e === undefined) return null;
    if (e.kind === "vary") return e;
    try {
      return { record: e, policy: policyFromObject(ctx.Policy, e.policy, policyResponseHeaders(headerRecord(e.headers), ctx.targets)) };
    } catch {
      return null;
    }
  });
}

/** What the stores hold for `ex`. */
export async function lookup(ctx: LookupContext, ex: Exchange): Promise<Lookup> {
  const first = await ctx.host.read(ex.target);
  if (first === undefined) return { varyMiss: false };
  const parsed = parse(ctx, first.entry.meta.extra);
  if (parsed === null) {
    discard(first.entry);
    return { varyMiss: false };
  }
  if (!("kind" in parsed)) return match(ex, ex.target, first, parsed, undefined);
  // A Vary marker: read its empty body so a marker found in a lower tier moves up.
  if (first.entry.bytes === undefined) await drainQuietly(first.entry.body);
  const key = variantKey(ex.target, parsed, ex.preq.headers);
  const second = await ctx.host.read(key);
  if (second === undefined) return { marker: parsed, varyMiss: true };
  const variant = parse(ctx, second.entry.meta.extra);
  if (variant === null || "kind" in variant) {
    discard(second.entry);
    return { marker: parsed, varyMiss: true };
  }
  return match(ex, key, second, variant, parsed);
}

function match(ex: Exchange, key: string, hit: { entry: StoredEntry; source: string; trusted: boolean }, p: Parsed, marker: VaryMarker | undefined): Lookup {
  if (!p.policy.matches(ex.preq)) {
    discard(hit.entry);
    return { marker, varyMiss: true };
  }
  return { found: { key, entry: hit.entry, record: p.record, policy: p.policy, source: hit.source, trusted: hit.trusted }, marker, varyMiss: false };
}
