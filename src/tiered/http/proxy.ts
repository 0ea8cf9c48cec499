/**
 * The reverse proxy: `cache.handler(originUrl)`. Every request goes to the one configured
 * origin (see `target.ts`); GET responses are stored and reused as RFC 9111 allows a
 * shared cache (see `policy.ts`); other methods pass through and invalidate what is
 * stored for their URI (§4.4). One origin fetch per URI at a time: requests that come
 * while it is under way wait for its head and share its body when the new response
 * serves them too (same `Vary` fields, fresh), and otherwise ask the origin themselves.
 */
import { booleanOption, invalidArg, numberArg, optionsArg, requestArg } from "../../primitives/arguments.ts";
import { OffheapError, isOffheapError } from "../../errors.ts";
import { untilAborted } from "../../primitives/signals.ts";
import { bytesStream } from "../body.ts";
import { normalizeEtag } from "../etag.ts";
import type { SharedFill } from "../fill.ts";
import type { CacheHost } from "../host.ts";
import type { EntryMeta } from "../types.ts";
import { answer, errorCode, errorResponse, plainResponse, respondStored, serveStored } from "./answer.ts";
import { appendCacheStatus, type CacheStatusParts, type ForwardReason } from "./cache-status.ts";
import { newMarker, variantKey, type StoredResponse } from "./entry.ts";
import { cancelQuietly, discard, drainQuietly, type Exchange, type Found, type Lookup } from "./exchange.ts";
import { endToEnd, headerRecord, headersFromList, storedHeaderList, updatedHeaderList, type HeaderList } from "./headers.ts";
import { lookup as lookupStored, ParsedEntries, type LookupContext } from "./lookup.ts";
import { parseCacheControl, parseVary } from "./parse.ts";
import {
  STALE_IF_ERROR_STATUSES,
  policyClass,
  policyRequestHeaders,
  policyResponseHeaders,
  policyToObject,
  type PolicyRequest,
  type SharedPolicy,
  type SharedPolicyClass,
} from "./policy.ts";
import { storableRecord, validatesStored } from "./storing.ts";
import { parseOrigin, requestTarget, sameOriginTarget, upstreamUrl, type Origin } from "./target.ts";
import { clientInfo, fetchUpstream, forwardedHeaders, isLoop, type ClientInfo, type ForwardingOptions, type ServerLike } from "./upstream.ts";

/** Options of the reverse proxy (`cache.handler(origin, options)`). */
export interface ProxyOptions {
  /** Send the client's `Host` to the origin instead of the origin's own. Default false. */
  preserveHost?: boolean;
  /** Fraction of (Date − Last-Modified) used as heuristic freshness, capped by the cache's `fresh`. Default 0.1. */
  heuristicFraction?: number;
  /**
   * Targeted cache-control fields this cache obeys (RFC 9213), in order: the first with a
   * valid value replaces `Cache-Control` and `Expires`. Default `["CDN-Cache-Control"]`;
   * `[]` obeys `Cache-Control` only.
   */
  targetedFields?: string[];
  /**
   * How long past its freshness a stored response may be served while the origin cannot
   * be reached (refused, reset, timed out), where the origin did not forbid serving it
   * stale (RFC 9111 §4.2.4 lets a disconnected cache do so). Default 86 400 000 (a day);
   * 0 turns it off. Origin 5xx answers follow `stale-if-error` only.
   */
  staleIfUnreachable?: number;
}

/** A handler for `Bun.serve`: `fetch: cache.handler(origin)`. */
export type ProxyHandler = (req: Request, server?: ServerLike) => Promise<Response>;

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);
/** The client's validators: the proxy asks with its own and answers the client's itself. */
const CLIENT_VALIDATORS: ReadonlySet<string> = new Set(["if-none-match", "if-modified-since"]);
/** Longest URI kept (a variant's key adds about 30 bytes within the cache's 4096-byte key limit). */
const MAX_URI_BYTES = 4000;
const EMPTY = new Uint8Array(0);

/** What asking the origin came to. */
type Outcome =
  /** A new response, being stored as its body streams; `body` is the first reader's. */
  | { kind: "stored"; status: number; headers: HeaderList; policy: SharedPolicy; fill: SharedFill; body: ReadableStream<Uint8Array> }
  /** A response that is not stored. */
  | { kind: "passed"; res: Response }
  /** A 304: the stored response is current, with these updated fields. */
  | { kind: "validated"; found: Found; headers: HeaderList; policy: SharedPolicy }
  /** The origin failed and the stored response may stand in (stale-if-error). */
  | { kind: "stale"; found: Found; fwdStatus?: number; error?: unknown };

/** Build the reverse proxy for `origin` over `host`. Throws `ERR_INVALID` for a bad origin or option. */
export function createProxy(host: CacheHost, origin: unknown, options: ProxyOptions = {}): ProxyHandler {
  optionsArg("options", options);
  const fraction = options.heuristicFraction === undefined ? 0.1 : numberArg("heuristicFraction", options.heuristicFraction, { min: 0, max: 1 });
  const preserveHost = booleanOption("preserveHost", options.preserveHost);
  const targets = options.targetedFields === undefined ? ["CDN-Cache-Control"] : options.targetedFields;
  if (!Array.isArray(targets) || !targets.every((t) => typeof t === "string" && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(t))) {
    throw invalidArg("targetedFields", "an array of header field names", options.targetedFields);
  }
  const unreachable = options.staleIfUnreachable === undefined ? 86_400_000 : numberArg("staleIfUnreachable (ms)", options.staleIfUnreachable, { min: 0 });
  const settings: ProxySettings = {
    preserveHost,
    heuristicFraction: fraction,
    targets: targets.map((t) => t.toLowerCase()),
    staleIfUnreachable: unreachable,
  };
  const proxy = new ReverseProxy(host, parseOrigin(origin), settings);
  return async (req, server) => proxy.handle(requestArg(req), server);
}

/** The checked options. */
interface ProxySettings {
  preserveHost: boolean;
  heuristicFraction: number;
  /** Lowercase targeted field names. */
  targets: string[];
  staleIfUnreachable: number;
}

class ReverseProxy {
  readonly #host: CacheHost;
  readonly #origin: Origin;
  readonly #forwarding: ForwardingOptions;
  readonly #targets: readonly string[];
  readonly #Policy: SharedPolicyClass;
  readonly #lookupContext: LookupContext;
  /** Carries on a drain that stores a body the client won't read. */
  readonly #keep: (work: Promise<unknown>) => void;
  /** The origin fetch under way per URI, resolved with its outcome once its head is in. */
  readonly #flights = new Map<string, Promise<Outcome | undefined>>();

  constructor(host: CacheHost, origin: Origin, settings: ProxySettings) {
    this.#host = host;
    this.#origin = origin;
    this.#forwarding = { preserveHost: settings.preserveHost, via: `offheap-${crypto.randomUUID().slice(0, 8)}` };
    this.#targets = settings.targets;
    this.#keep = (work) => host.track(work);
    const l = host.limits;
    this.#Policy = policyClass({
      heuristicCap: l.fresh,
      negative: l.negative,
      staleWhileRevalidate: l.staleWhileRevalidate,
      staleIfError: l.staleIfError,
      staleIfUnreachable: settings.staleIfUnreachable,
      heuristicFraction: settings.heuristicFraction,
      clock: host.clock,
    });
    this.#lookupContext = { host, Policy: this.#Policy, targets: this.#targets, parsed: new ParsedEntries() };
  }

  /** Answer `req`; never throws (failures are 4xx/5xx answers with a `Cache-Status` detail). */
  async handle(req: Request, server: ServerLike | undefined): Promise<Response> {
    try {
      if (this.#host.closeSignal.aborted) throw new OffheapError("ERR_CLOSED", "the tiered cache is closed");
      const target = requestTarget(req);
      if (isLoop(req, this.#forwarding.via)) {
        return plainResponse(508, "request loop: this request already passed through this proxy\n", { detail: "loop" });
      }
      // Where the request goes at the origin, and who asked: worked out (and the target's
      // containment checked) only when the request is forwarded; a hit needs neither.
      const origin = this.#origin;
      let url: string | undefined;
      let client: ClientInfo | undefined;
      const ex: Exchange = {
        req,
        target,
        get url() {
          url ??= upstreamUrl(origin, target);
          if (url === undefined) throw new OffheapError("ERR_INVALID", `the request target ${JSON.stringify(target)} leaves the origin`);
          return url;
        },
        get client() {
          return (client ??= clientInfo(req, server));
        },
        preq: { method: "GET", url: target, headers: policyRequestHeaders(headerRecord(req.headers), origin.host) },
      };
      if (req.method !== "GET" && req.method !== "HEAD") return await this.#pass(ex, "method");
      if (Buffer.byteLength(target) > MAX_URI_BYTES) return await this.#pass(ex, "bypass");
      return await this.#get(ex);
    } catch (e) {
      return errorResponse(e);
    }
  }

  // --- GET and HEAD ----------------------------------------------------------------

  async #get(ex: Exchange, mayWait = true): Promise<Response> {
    const lookup = await lookupStored(this.#lookupContext, ex);
    const found = lookup.found;
    if (found !== undefined) {
      const reuse = found.trusted ? found.policy.reuse(ex.preq) : "revalidate";
      if (reuse === "fresh") {
        this.#host.count("hits");
        return serveStored(ex, found, found.record.headers, found.policy, { hit: true, ttl: found.policy.ttlSeconds(), detail: found.source });
      }
      if (reuse === "stale-while-revalidate") {
        this.#host.count("staleHits");
        this.#revalidateLater(ex, lookup, found);
        return serveStored(ex, found, found.record.headers, found.policy, { hit: true, ttl: found.policy.ttlSeconds(), detail: found.source });
      }
    }
    if (parseCacheControl(ex.preq.headers["cache-control"]).has("only-if-cached")) {
      discard(found?.entry);
      return plainResponse(504, "not in the cache (only-if-cached)\n", { fwd: "miss", detail: "only-if-cached" });
    }
    if (ex.req.method === "HEAD") {
      discard(found?.entry);
      return this.#pass(ex, found !== undefined ? "stale" : lookup.varyMiss ? "vary-miss" : "uri-miss");
    }
    return this.#forward(ex, lookup, mayWait);
  }

  /** Ask the origin for `ex` (leading, or waiting for the fetch already under way). */
  async #forward(ex: Exchange, lookup: Lookup, mayWait: boolean): Promise<Response> {
    const reason: ForwardReason = lookup.found !== undefined ? "stale" : lookup.varyMiss ? "vary-miss" : "uri-miss";
    const running = this.#flights.get(ex.target);
    if (running !== undefined && mayWait && !forcesOrigin(ex.preq)) {
      discard(lookup.found?.entry);
      this.#host.count("collapsed");
      const outcome = await untilAborted(running, ex.req.signal);
      if (outcome?.kind === "stored" && outcome.fill.joinable && outcome.policy.matches(ex.preq) && outcome.policy.reuse(ex.preq) === "fresh") {
        this.#host.count("misses");
        return respondStored(ex, outcome.status, outcome.headers, outcome.policy, outcome.fill.subscribe(), { fwd: reason, fwdStatus: outcome.status, collapsed: true }, this.#keep);
      }
      // Not a response this request may share (or it went by): look again, then ask alone.
      return this.#get(ex, false);
    }
    let settle!: (o: Outcome | undefined) => void;
    const flight = new Promise<Outcome | undefined>((resolve) => (settle = resolve));
    const lead = running === undefined;
    if (lead) this.#flights.set(ex.target, flight);
    const endFlight = () => {
      if (this.#flights.get(ex.target) === flight) this.#flights.delete(ex.target);
    };
    let outcome: Outcome;
    try {
      outcome = await this.#ask(ex, lookup, false, endFlight);
    } catch (e) {
      settle(undefined);
      endFlight();
      throw e;
    }
    settle(outcome);
    if (outcome.kind !== "stored") endFlight();
    return this.#respond(ex, outcome, reason);
  }

  /** Turn an outcome into the client's response. */
  #respond(ex: Exchange, outcome: Outcome, reason: ForwardReason): Response {
    switch (outcome.kind) {
      case "stored":
        this.#host.count("misses");
        return respondStored(ex, outcome.status, outcome.headers, outcome.policy, outcome.body, { fwd: reason, fwdStatus: outcome.status, stored: true }, this.#keep);
      case "validated":
        this.#host.count("hits");
        return serveStored(ex, outcome.found, outcome.headers, outcome.policy, { fwd: "stale", fwdStatus: 304, ttl: outcome.policy.ttlSeconds(), detail: outcome.found.source });
      case "stale": {
        this.#host.count("staleIfErrorServed");
        const detail = outcome.error !== undefined ? `stale-if-error ${errorCode(outcome.error)}` : "stale-if-error";
        const parts: CacheStatusParts = { hit: true, fwd: "stale", ttl: outcome.found.policy.ttlSeconds(), detail };
        if (outcome.fwdStatus !== undefined) parts.fwdStatus = outcome.fwdStatus;
        return serveStored(ex, outcome.found, outcome.found.record.headers, outcome.found.policy, parts);
      }
      case "passed": {
        this.#host.count("misses");
        const headers = endToEnd(outcome.res.headers);
        appendCacheStatus(headers, { fwd: reason, fwdStatus: outcome.res.status });
        return answer(ex, outcome.res.status, headers, outcome.res.body);
      }
    }
  }

  /**
   * Ask the origin: revalidating `lookup.found` with its validators when there is one, and
   * storing the answer when RFC 9111 allows. The fence on the URI is taken before the
   * request goes out, so a delete or invalidation that comes at any point after wins.
   */
  async #ask(ex: Exchange, lookup: Lookup, background: boolean, onFillEnd?: () => void): Promise<Outcome> {
    const found = lookup.found;
    const host = this.#host;
    const fence = host.fence(ex.target);
    let fenceHeld = true;
    try {
      const headers = forwardedHeaders(ex.req, ex.client, this.#forwarding, CLIENT_VALIDATORS);
      if (found !== undefined) {
        host.count("revalidations");
        const stored = headersFromList(found.record.headers);
        const etag = stored.get("etag");
        const lastModified = stored.get("last-modified");
        if (etag !== null) headers.set("if-none-match", etag);
        if (lastModified !== null) headers.set("if-modified-since", lastModified);
      }
      host.count("originFetches");
      const requestTime = host.clock();
      let res: Response;
      try {
        res = await fetchUpstream({
          url: ex.url,
          method: "GET",
          headers,
          body: null,
          timeout: host.limits.timeout,
          signal: host.closeSignal,
          headSignal: background ? undefined : ex.req.signal,
        });
      } catch (e) {
        host.count(isOffheapError(e, "ERR_TIMEOUT") ? "originTimeouts" : "originErrors");
        if (found !== undefined && !host.closeSignal.aborted && found.policy.useStaleIfUnreachable()) return { kind: "stale", found, error: e };
        discard(found?.entry);
        throw e;
      }
      assertValidStatus(res, ex);
      const fields = policyResponseHeaders(headerRecord(res.headers), this.#targets);

      if (res.status === 304 && found !== undefined) {
        cancelQuietly(res.body);
        if (!validatesStored(found.record.headers, res.headers)) {
          // The 304 is not about the response held (another validator): ask again without ours.
          discard(found.entry);
          fence.release();
          fenceHeld = false;
          return await this.#ask(ex, { marker: lookup.marker, varyMiss: false }, background, onFillEnd);
        }
        const merged = updatedHeaderList(found.record.headers, res.headers);
        const policy = this.#policyFor(ex.preq, found.record.status, merged, requestTime);
        const record: StoredResponse = { ...found.record, headers: merged, policy: policyToObject(policy) };
        const meta: EntryMeta = { ...found.entry.meta, cachedAt: host.clock(), extra: JSON.stringify(record) };
        delete meta.size;
        await host.touch(found.key, meta, fence);
        host.count("notModified");
        return { kind: "validated", found, headers: merged, policy };
      }

      if (found !== undefined && STALE_IF_ERROR_STATUSES.has(res.status) && found.policy.useStaleIfError()) {
        cancelQuietly(res.body);
        return { kind: "stale", found, fwdStatus: res.status };
      }
      discard(found?.entry);

      const policy = new this.#Policy(ex.preq, { status: res.status, headers: fields }) as SharedPolicy;
      policy.requestTime = requestTime;
      const list = storedHeaderList(res.headers);
      const extra = storableRecord(policy, res, list);
      if (extra === undefined) return { kind: "passed", res };

      let key = ex.target;
      const vary = parseVary(res.headers.get("vary"));
      if (vary.length > 0) {
        let marker = lookup.marker;
        if (marker === undefined || marker.vary.join(",") !== vary.join(",")) {
          marker = newMarker(vary);
          await host.put(ex.target, { cachedAt: host.clock(), extra: JSON.stringify(marker) }, EMPTY, fence);
        }
        key = variantKey(ex.target, marker, ex.preq.headers);
      }
      const meta: EntryMeta = { cachedAt: host.clock(), extra };
      const etag = res.headers.get("etag");
      if (etag !== null) meta.etag = normalizeEtag(etag);
      const type = res.headers.get("content-type");
      if (type !== null) meta.contentType = type;
      fenceHeld = false;
      // A stored response replaced by a new one: the other instances drop their copies.
      const replacing = found !== undefined;
      const onEnd = (published: boolean) => {
        if (published && replacing) host.announce(ex.target);
        onFillEnd?.();
      };
      const fill = host.fill(key, meta, fence, res.body ?? bytesStream(EMPTY), onEnd);
      return { kind: "stored", status: res.status, headers: list, policy, fill, body: fill.subscribe() };
    } finally {
      if (fenceHeld) fence.release();
    }
  }

  /** Stale-while-revalidate: one background conditional request for the URI. */
  #revalidateLater(ex: Exchange, lookup: Lookup, found: Found): void {
    // The client reads found's body; the background request needs only its metadata.
    const quiet: Found = { ...found, entry: { meta: found.entry.meta, body: bytesStream(EMPTY) } };
    this.#host.background(ex.target, async () => {
      const outcome = await this.#ask(ex, { found: quiet, marker: lookup.marker, varyMiss: false }, true);
      if (outcome.kind === "stored") await drainQuietly(outcome.body);
      else if (outcome.kind === "passed") cancelQuietly(outcome.res.body);
    });
  }

  // --- everything else ---------------------------------------------------------------

  /**
   * Forward a request uncached, its body streamed. A non-error answer to an unsafe method
   * invalidates what is stored for the URI and for same-origin `Location` and
   * `Content-Location` URIs (RFC 9111 §4.4).
   */
  async #pass(ex: Exchange, reason: ForwardReason): Promise<Response> {
    const host = this.#host;
    const method = ex.req.method;
    const hasBody = method !== "GET" && method !== "HEAD" && ex.req.body !== null;
    host.count("passes");
    host.count("originFetches");
    let res: Response;
    try {
      res = await fetchUpstream({
        url: ex.url,
        method,
        headers: forwardedHeaders(ex.req, ex.client, this.#forwarding),
        body: hasBody ? ex.req.body : null,
        timeout: host.limits.timeout,
        signal: AbortSignal.any([host.closeSignal, ex.req.signal]),
      });
    } catch (e) {
      host.count(isOffheapError(e, "ERR_TIMEOUT") ? "originTimeouts" : "originErrors");
      throw e;
    }
    assertValidStatus(res, ex);
    if (!SAFE_METHODS.has(method) && res.status >= 200 && res.status < 400) {
      const uris = new Set([ex.target]);
      for (const field of ["location", "content-location"]) {
        const t = sameOriginTarget(this.#origin, ex.url, res.headers.get(field));
        if (t !== undefined) uris.add(t);
      }
      await Promise.all([...uris].map((uri) => this.#invalidate(uri)));
    }
    const headers = endToEnd(res.headers);
    appendCacheStatus(headers, { fwd: reason, fwdStatus: res.status });
    return answer(ex, res.status, headers, res.body, { conditional: false });
  }

  async #invalidate(uri: string): Promise<void> {
    if (Buffer.byteLength(uri) > MAX_URI_BYTES) return;
    this.#host.count("invalidations");
    // Removing the URI's entry removes its Vary marker too: its variants can't be reached again.
    await this.#host.remove(uri);
  }

  #policyFor(preq: PolicyRequest, status: number, list: HeaderList, requestTime: number): SharedPolicy {
    const policy = new this.#Policy(preq, { status, headers: policyResponseHeaders(headerRecord(list), this.#targets) }) as SharedPolicy;
    policy.requestTime = requestTime;
    return policy;
  }
}

/** Whether the request demands the origin's own answer (no waiting for another request's). */
function forcesOrigin(preq: PolicyRequest): boolean {
  const cc = parseCacheControl(preq.headers["cache-control"]);
  return cc.has("no-cache") || cc.get("max-age") === "0" || (preq.headers["cache-control"] === undefined && /no-cache/i.test(preq.headers.pragma ?? ""));
}

/** Throw `ERR_UPSTREAM` (after discarding the body) for a status outside 200–599, which can't be relayed. */
function assertValidStatus(res: Response, ex: Exchange): void {
  if (res.status >= 200 && res.status <= 599) return;
  cancelQuietly(res.body);
  throw new OffheapError("ERR_UPSTREAM", `the origin answered ${ex.req.method} ${ex.target} with status ${res.status}, which is not a final HTTP status`, { status: res.status });
}
