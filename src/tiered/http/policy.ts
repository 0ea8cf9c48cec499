/**
 * The storage and reuse rules of a shared cache (RFC 9111), on `http-cache-semantics`.
 *
 * The library decides storability, `Vary` matching, validators and 304 merging. Where
 * its rules differ from RFC 9111 or from what a proxy operator sets, this subclass
 * replaces them, each in one method:
 * - `age()`: the full §4.2.3 calculation (apparent age and response delay, not only `Age`),
 *   with `Age` parsed strictly (§5.1);
 * - `maxAge()`: explicit freshness as the origin gave it (strictly parsed `Expires` and
 *   `Date`); heuristic freshness (§4.2.2) only for heuristically cacheable statuses or
 *   `public`, capped by the cache's `fresh`; 404 and 410 without explicit freshness are
 *   kept for the cache's `negative`; `proxy-revalidate` forbids serving stale, it does
 *   not make a fresh response stale;
 * - `forbidsStale()`, `useStaleWhileRevalidate()`, `useStaleIfError()`: the origin's
 *   `stale-while-revalidate`/`stale-if-error`, or the cache's defaults where the origin
 *   said nothing, and never past `must-revalidate`, `proxy-revalidate`, `no-cache` or
 *   `s-maxage` (§4.2.4, §5.2.2.10).
 * Every header the policy reads is given in canonical form (see `parse.ts`).
 */
import CachePolicy from "http-cache-semantics";
import { canonicalCacheControl, deltaSeconds, formatHttpDate, parseAge, parseCacheControl, parseHttpDate, parseVary, targetedCacheControl } from "./parse.ts";

/** What the cache's options mean for HTTP: defaults and caps for what the origin leaves open (ms). */
export interface PolicyLimits {
  /** Cap on heuristic freshness. */
  heuristicCap: number;
  /** Freshness of a 404 or 410 that carries none of its own. */
  negative: number;
  /** Stale-while-revalidate window where the origin gives none. */
  staleWhileRevalidate: number;
  /** Stale-if-error window where the origin gives none. */
  staleIfError: number;
  /** How long past freshness a response may stand in while the origin can't be reached. */
  staleIfUnreachable: number;
  /** Fraction of (Date − Last-Modified) used as heuristic freshness (RFC 9111 §4.2.2). */
  heuristicFraction: number;
  /** The clock (ms since the epoch). */
  clock: () => number;
}

/** A request as the policy reads it. */
export interface PolicyRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
}

/** Statuses a cache may give heuristic freshness (RFC 9110 §15.1). */
const HEURISTIC_STATUSES = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]);

/**
 * Statuses whose caching rules this cache implements, for `must-understand` (RFC 9111
 * §5.2.2.3); 206 (ranges) and 304 are never stored.
 */
const UNDERSTOOD_STATUSES = new Set([200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501]);

/** Statuses a stale response may stand in for under stale-if-error (RFC 5861 §4). */
export const STALE_IF_ERROR_STATUSES: ReadonlySet<number> = new Set([500, 502, 503, 504]);

/** What the cache may do with a stored response for a request. */
export type Reuse =
  /** Fresh (or allowed stale by the request's `max-stale`): serve it. */
  | "fresh"
  /** Stale within stale-while-revalidate: serve it and revalidate in the background. */
  | "stale-while-revalidate"
  /** Must be validated with the origin before it is used. */
  | "revalidate";

/** The fields of the library's state this module reads (not in its published types). */
interface PolicyState {
  _status: number;
  _resHeaders: Record<string, string>;
  _rescc: Record<string, string | boolean>;
  _responseTime: number;
  _requestMatches(req: PolicyRequest, allowHead: boolean): boolean;
}

/**
 * The canonical response fields the policy reads (others pass through unchanged). The
 * first of `targets` (targeted fields such as `CDN-Cache-Control`, RFC 9213) with a valid,
 * non-empty value replaces `Cache-Control`, and `Expires` is then ignored.
 */
export function policyResponseHeaders(record: Record<string, string>, targets: readonly string[]): Record<string, string> {
  const out: Record<string, string> = { ...record };
  let targeted: string | undefined;
  for (const name of targets) {
    const v = targetedCacheControl(record[name]);
    if (v !== undefined && v !== "") {
      targeted = v;
      break;
    }
  }
  const cc = targeted ?? canonicalCacheControl(record["cache-control"]);
  if (cc === undefined) delete out["cache-control"];
  else out["cache-control"] = cc;
  if (targeted !== undefined) {
    delete out.expires;
    delete out.pragma;
  }
  for (const name of ["date", "last-modified"] as const) {
    if (!(name in record)) continue;
    const t = parseHttpDate(record[name]);
    if (t === undefined) delete out[name];
    else out[name] = formatHttpDate(t);
  }
  if ("expires" in out) {
    // An invalid Expires (including "0" and repeated lines) means "already expired".
    const t = parseHttpDate(record.expires);
    out.expires = formatHttpDate(t ?? 0);
  }
  if ("age" in record) {
    const age = parseAge(record.age);
    if (age === undefined) delete out.age;
    else out.age = String(age);
  }
  if ("vary" in record) {
    const vary = parseVary(record.vary);
    if (vary.length === 0) delete out.vary;
    else out.vary = vary.join(", ");
  }
  return out;
}

/** The canonical request fields the policy reads. */
export function policyRequestHeaders(record: Record<string, string>, host: string): Record<string, string> {
  const out: Record<string, string> = { ...record, host };
  const cc = canonicalCacheControl(record["cache-control"]);
  if (cc === undefined) delete out["cache-control"];
  else out["cache-control"] = cc;
  return out;
}

/** A policy class bound to one cache's limits. */
export type SharedPolicyClass = ReturnType<typeof policyClass>;
/** A policy for one stored response. */
export type SharedPolicy = InstanceType<SharedPolicyClass>;

/** The policy class for a cache with these limits. */
export function policyClass(limits: PolicyLimits) {
  return class SharedPolicy extends CachePolicy {
    #requestTime = 0;
    /** Memos: a stored response's headers never change, so these are worked out once. */
    #initialAge: number | undefined;
    #maxAge: number | undefined;

    /** When the request that produced the response was sent (ms); §4.2.3's request_time. */
    get requestTime(): number {
      return this.#requestTime;
    }

    set requestTime(t: number) {
      this.#requestTime = t;
      this.#initialAge = undefined;
    }

    now(): number {
      return limits.clock();
    }

    #state(): PolicyState {
      return this as unknown as PolicyState;
    }

    /** The response's status. */
    get statusCode(): number {
      return this.#state()._status;
    }

    /** The directives of the stored response's `Cache-Control`. */
    directive(name: string): string | boolean | undefined {
      return this.#state()._rescc[name];
    }

    #delta(name: string): number | undefined {
      const v = this.directive(name);
      return typeof v === "string" ? deltaSeconds(v) : undefined;
    }

    /**
     * §3: whether the response may be stored. Any final status may be, given explicit
     * freshness (the library stores only the statuses it lists); `must-understand` limits
     * that to understood statuses and then overrides `no-store`.
     */
    override storable(): boolean {
      const s = this.#state() as PolicyState & { _method: string; _noAuthorization: boolean; _reqcc: Record<string, string | boolean> };
      const status = s._status;
      if (s._reqcc["no-store"]) return false;
      if (s._method !== "GET" && s._method !== "HEAD") return false;
      if (status < 200 || status === 206 || status === 304 || status > 599) return false;
      const mustUnderstand = this.directive("must-understand") !== undefined;
      if (mustUnderstand && !UNDERSTOOD_STATUSES.has(status)) return false;
      if (this.directive("no-store") !== undefined && !mustUnderstand) return false;
      if (this.directive("private") !== undefined) return false;
      if (!s._noAuthorization && this.directive("must-revalidate") === undefined && this.directive("public") === undefined && this.directive("s-maxage") === undefined) {
        return false;
      }
      return (
        s._resHeaders.expires !== undefined ||
        this.directive("max-age") !== undefined ||
        this.directive("s-maxage") !== undefined ||
        this.directive("public") !== undefined ||
        HEURISTIC_STATUSES.has(status)
      );
    }

    /** §4.2.3: the current age in seconds. */
    override age(): number {
      const s = this.#state();
      const responseTime = s._responseTime;
      if (this.#initialAge === undefined) {
        const requestTime = this.#requestTime > 0 ? this.#requestTime : responseTime;
        const dateValue = parseHttpDate(s._resHeaders.date) ?? responseTime;
        const ageValue = parseAge(s._resHeaders.age) ?? 0;
        const apparentAge = Math.max(0, responseTime - dateValue) / 1000;
        const responseDelay = Math.max(0, responseTime - requestTime) / 1000;
        this.#initialAge = Math.max(apparentAge, ageValue + responseDelay);
      }
      const residentTime = (this.now() - responseTime) / 1000;
      return this.#initialAge + residentTime;
    }

    /** §4.2.1: the freshness lifetime in seconds. */
    override maxAge(): number {
      return (this.#maxAge ??= this.#freshnessLifetime());
    }

    #freshnessLifetime(): number {
      const s = this.#state();
      const headers = s._resHeaders;
      if (!this.storable() || this.directive("no-cache") !== undefined) return 0;
      if (headers["set-cookie"] !== undefined && this.directive("public") === undefined) return 0;
      if (headers.vary === "*") return 0;
      const sMaxAge = this.#delta("s-maxage");
      if (sMaxAge !== undefined) return sMaxAge;
      const maxAge = this.#delta("max-age");
      if (maxAge !== undefined) return maxAge;
      const date = parseHttpDate(headers.date) ?? s._responseTime;
      if (headers.expires !== undefined) {
        const expires = parseHttpDate(headers.expires) ?? 0;
        return Math.max(0, (expires - date) / 1000);
      }
      // The origin left freshness open: a heuristic, where one is allowed.
      if (!HEURISTIC_STATUSES.has(s._status) && this.directive("public") === undefined) return 0;
      let heuristic = 0;
      const lastModified = parseHttpDate(headers["last-modified"]);
      if (lastModified !== undefined && date > lastModified) heuristic = ((date - lastModified) / 1000) * limits.heuristicFraction;
      heuristic = Math.min(heuristic, limits.heuristicCap / 1000);
      if (s._status === 404 || s._status === 410) heuristic = Math.max(heuristic, limits.negative / 1000);
      return heuristic;
    }

    override stale(): boolean {
      return this.maxAge() <= this.age();
    }

    /** Whether the origin forbade serving this response stale (§4.2.4, §5.2.2.2, §5.2.2.8, §5.2.2.10). */
    forbidsStale(): boolean {
      return (
        this.directive("must-revalidate") !== undefined ||
        this.directive("proxy-revalidate") !== undefined ||
        this.directive("no-cache") !== undefined ||
        this.directive("s-maxage") !== undefined
      );
    }

    #staleWindow(name: "stale-while-revalidate" | "stale-if-error", fallbackMs: number): number {
      if (this.forbidsStale()) return 0;
      return this.#delta(name) ?? fallbackMs / 1000;
    }

    useStaleWhileRevalidate(): boolean {
      const window = this.#staleWindow("stale-while-revalidate", limits.staleWhileRevalidate);
      return window > 0 && this.maxAge() + window > this.age();
    }

    /** Whether this response may stand in for an origin error now (RFC 5861 §4). */
    useStaleIfError(): boolean {
      const window = this.#staleWindow("stale-if-error", limits.staleIfError);
      return window > 0 && this.maxAge() + window > this.age();
    }

    /** Whether this response may stand in now while the origin can't be reached (§4.2.4). */
    useStaleIfUnreachable(): boolean {
      if (this.forbidsStale()) return false;
      const window = Math.max(this.#staleWindow("stale-if-error", limits.staleIfError), limits.staleIfUnreachable / 1000);
      return window > 0 && this.maxAge() + window > this.age();
    }

    /** Seconds of freshness left (negative once stale), for `Cache-Status`'s `ttl`. */
    ttlSeconds(): number {
      return this.maxAge() - this.age();
    }

    /** How a stored response may serve `req` (which the caller matched by URL and `Vary`). */
    reuse(req: PolicyRequest): Reuse {
      const reqcc = parseCacheControl(req.headers["cache-control"]);
      if (reqcc.has("no-cache") || (req.headers["cache-control"] === undefined && /no-cache/i.test(req.headers.pragma ?? ""))) return "revalidate";
      const age = this.age();
      const maxAge = this.maxAge();
      const reqMaxAge = reqcc.get("max-age");
      if (typeof reqMaxAge === "string" && age > (deltaSeconds(reqMaxAge) ?? 0)) return "revalidate";
      const minFresh = reqcc.get("min-fresh");
      if (typeof minFresh === "string" && maxAge - age < (deltaSeconds(minFresh) ?? 0)) return "revalidate";
      if (age < maxAge) return "fresh";
      if (this.forbidsStale()) return "revalidate";
      const maxStale = reqcc.get("max-stale");
      if (maxStale === true || (typeof maxStale === "string" && (deltaSeconds(maxStale) ?? 0) >= age - maxAge)) return "fresh";
      return this.useStaleWhileRevalidate() ? "stale-while-revalidate" : "revalidate";
    }

    /** Whether this stored response is for `req`: same URL, and `Vary`'s fields match. */
    matches(req: PolicyRequest): boolean {
      return this.#state()._requestMatches(req, false);
    }
  };
}

/** The serialized form of a policy (the library's, plus the request time; request headers only as `Vary` needs). */
export type PolicyObject = Record<string, unknown>;

/** Serialize `policy`, keeping of the request only the fields its `Vary` names. */
export function policyToObject(policy: SharedPolicy): PolicyObject {
  const obj = policy.toObject() as unknown as PolicyObject;
  const resh = obj.resh as Record<string, string>;
  const vary = parseVary(resh.vary);
  const reqh = obj.reqh as Record<string, string> | null;
  if (reqh !== null && reqh !== undefined) {
    const kept: Record<string, string> = {};
    for (const name of vary) if (Object.prototype.hasOwnProperty.call(reqh, name)) kept[name] = reqh[name]!;
    obj.reqh = kept;
  }
  delete obj.resh; // rebuilt from the stored header list
  obj.rq = policy.requestTime;
  return obj;
}

/** Rebuild a policy from {@link policyToObject}'s form and the stored response headers (canonical). */
export function policyFromObject(Policy: SharedPolicyClass, obj: PolicyObject, resh: Record<string, string>): SharedPolicy {
  const policy = Policy.fromObject({ ...obj, resh } as unknown as CachePolicy.CachePolicyObject) as SharedPolicy;
  policy.requestTime = typeof obj.rq === "number" ? obj.rq : 0;
  return policy;
}
