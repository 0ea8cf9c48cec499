/**
 * `TieredCache`: stream-based cache middleware over ordered stores (memory, file, Redis,
 * S3), with freshness, stale-while-revalidate, stale-if-error, negative caching, ETag
 * revalidation and one origin fetch per key at a time.
 */
import { OffheapError, isOffheapError } from "../errors.ts";
import { describeValue, functionArg, integerArg, numberArg, optionalArg, optionsArg, signalArg, stringArg } from "../arguments.ts";
import { asBytes, assertCacheBody, discardBody, isCacheBody, toStream } from "./body.ts";
import { ifNoneMatchMatches, normalizeEtag } from "./etag.ts";
import { Fence, Fences } from "./fence.ts";
import { drain, FanOut, fillStream, SharedFill, type FillReport } from "./fill.ts";
import type { CacheHost, HostCounter } from "./host.ts";
import { createFetcherHandler, type FetcherHandler } from "./http/fetcher-handler.ts";
import { createProxy, type ProxyHandler, type ProxyOptions } from "./http/proxy.ts";
import type { InvalidationBus } from "./bus.ts";
import { assertExtraFits } from "./meta.ts";
import { CacheResult } from "./result.ts";
import { tieredMetrics, type TieredCacheStats } from "./stats.ts";
import { describeStats } from "../metrics/describe.ts";
import {
  NOT_FOUND,
  NOT_MODIFIED,
  type CacheBody,
  type EntryMeta,
  type Fetcher,
  type FetchResult,
  type GetResult,
  type Store,
  type StoredEntry,
  type StoreWriter,
} from "./types.ts";
import { untilAborted } from "../signals.ts";

/** Options of a {@link TieredCache}. Times are in milliseconds. */
export interface TieredCacheOptions {
  /** Stores, fastest first. Reads go top-down; fills write to every store. The cache owns them (close closes them). */
  tiers: Store[];
  /** How long an entry is served without asking the origin. Default 60 000. */
  fresh?: number;
  /** How long a `NOT_FOUND` answer is remembered. Default 10 000; 0 disables. */
  negative?: number;
  /** After `fresh`, how long the entry is still served (status `stale`) while one background refresh runs. Default 0. */
  staleWhileRevalidate?: number;
  /** After `fresh`, how long the entry may be served when the origin fails. Default 0. */
  staleIfError?: number;
  /** How long a fetcher may take to answer before the call fails with `ERR_TIMEOUT`. Default 30 000. */
  timeout?: number;
  /** Background refreshes running at once. Default 4. */
  workers?: number;
  /** Most keys remembered as not found; the oldest are forgotten first. Default 100 000. */
  maxNegativeKeys?: number;
  /** Clock (ms since the epoch). Default `Date.now`; tests pass their own. */
  clock?: () => number;
  /**
   * An invalidation bus (e.g. `new RedisBus({ url })`) shared with the other instances of
   * this cache: changes here are published, changes there drop the key from this
   * instance's local tiers (those without `shared`). See `bus.ts`.
   */
  bus?: InvalidationBus;
  /** While the bus is disconnected, how long a local copy is trusted after it was stored or validated. Default 1 000. */
  busFallbackFresh?: number;
}

/** Options of one {@link TieredCache.get}. */
export interface GetOptions {
  /** The request's `If-None-Match`; a match answers `not-modified` with no body. */
  ifNoneMatch?: string | null;
  /** Aborts waiting for the origin (the error is the signal's reason). */
  signal?: AbortSignal;
}

/** Metadata a caller may give to `set` and `writer`. */
export interface SetMeta {
  etag?: string;
  contentType?: string;
  /** Defaults to now. */
  cachedAt?: number;
  /** Application data kept with the entry (at most 32 KiB of UTF-8); see {@link EntryMeta.extra}. */
  extra?: string;
}

type FlightOutcome =
  | { kind: "published" }
  | { kind: "renewed" }
  | { kind: "abandoned" }
  | { kind: "not-found" }
  | { kind: "error"; error: unknown };

interface Flight {
  promise: Promise<FlightOutcome>;
  resolve(outcome: FlightOutcome): void;
  /** Set once the origin answered with a body: callers that come meanwhile read it too. */
  fill?: SharedFill;
  meta?: EntryMeta;
  /** Resolves when `fill` is set or the flight settled, whichever comes first. */
  ready: Promise<void>;
  markReady(): void;
}

interface Cached {
  meta: EntryMeta;
  age: number;
}

/** Background work for one key (a stale-while-revalidate refresh). */
interface RefreshTask {
  key: string;
  task: () => Promise<void>;
}

const MAX_KEY_BYTES = 4096;

/**
 * A cache of byte streams over ordered tiers.
 *
 * @example
 * ```ts
 * const cache = new TieredCache({ tiers: [new MemoryStore({ maxBytes: 64 << 20 }), FileStore.open("/var/cache/app")] });
 * const r = await cache.get("/logo.png", async ({ etag, signal }) => {
 *   const res = await fetch(origin + "/logo.png", { signal, headers: etag ? { "if-none-match": etag } : {} });
 *   if (res.status === 304) return NOT_MODIFIED;
 *   return { body: res.body!, etag: res.headers.get("etag") };
 * });
 * ```
 */
export class TieredCache {
  readonly #tiers: Store[];
  readonly #fresh: number;
  readonly #negativeMs: number;
  readonly #swr: number;
  readonly #sie: number;
  readonly #timeout: number;
  readonly #workers: number;
  readonly #maxNegative: number;
  readonly #clock: () => number;
  readonly #bus: InvalidationBus | undefined;
  readonly #busFallback: number;
  #busUp = false;
  /** Local copies stored or validated before this moment may have missed an invalidation. */
  #busFloor = 0;

  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #closeController = new AbortController();
  readonly #flights = new Map<string, Flight>();
  readonly #fences = new Fences();
  readonly #negative = new Map<string, number>();
  readonly #refreshPending = new Set<string>();
  readonly #refreshQueue: RefreshTask[] = [];
  #refreshRunning = 0;
  readonly #background = new Set<Promise<unknown>>();
  /** Which store each live writer writes to (weak: writers come and go with fills). */
  readonly #writerTier = new WeakMap<StoreWriter, Store>();

  readonly #stats = {
    gets: 0,
    hits: 0,
    staleHits: 0,
    misses: 0,
    notModified: 0,
    notFound: 0,
    negativeHits: 0,
    originFetches: 0,
    originErrors: 0,
    originTimeouts: 0,
    collapsed: 0,
    promotions: 0,
    revalidations: 0,
    refreshes: 0,
    refreshErrors: 0,
    staleIfErrorServed: 0,
    published: 0,
    abandoned: 0,
    superseded: 0,
    storeErrors: 0,
    tooLarge: 0,
    passes: 0,
    invalidations: 0,
  };

  constructor(options: TieredCacheOptions) {
    if (typeof options !== "object" || options === null || !Array.isArray(options.tiers)) {
      throw new OffheapError("ERR_INVALID", `TieredCache needs { tiers: Store[] }, got ${describeValue(options)}`);
    }
    options.tiers.forEach((t, i) => assertStore(t, `tiers[${i}]`));
    this.#tiers = [...options.tiers];
    const ms = (name: string, v: unknown, fallback: number) => optionalArg(v as number | undefined, fallback, (x) => numberArg(name, x, { min: 0 }));
    this.#fresh = ms("fresh", options.fresh, 60_000);
    this.#negativeMs = ms("negative", options.negative, 10_000);
    this.#swr = ms("staleWhileRevalidate", options.staleWhileRevalidate, 0);
    this.#sie = ms("staleIfError", options.staleIfError, 0);
    this.#timeout = ms("timeout", options.timeout, 30_000);
    this.#workers = optionalArg(options.workers, 4, (x) => integerArg("workers", x, { min: 1, max: 1024 }));
    this.#maxNegative = optionalArg(options.maxNegativeKeys, 100_000, (x) => integerArg("maxNegativeKeys", x, { min: 0 }));
    this.#clock = optionalArg(options.clock, Date.now, (x) => functionArg<() => number>("clock", x));
    this.#busFallback = ms("busFallbackFresh", options.busFallbackFresh, 1_000);
    if (options.bus !== undefined) {
      const bus = options.bus as Partial<InvalidationBus> | null;
      if (typeof bus !== "object" || bus === null || typeof bus.start !== "function" || typeof bus.publish !== "function" || typeof bus.close !== "function") {
        throw new OffheapError("ERR_INVALID", `bus must be an InvalidationBus (e.g. new RedisBus({ url })), got ${describeValue(options.bus)}`);
      }
    }
    this.#bus = options.bus;
    this.#bus?.start({
      invalidate: (key) => void this.#dropLocal(key),
      invalidateAll: () => void (this.#busFloor = this.#clock()),
      connection: (up) => {
        this.#busUp = up;
        if (up) this.#busFloor = this.#clock();
      },
    });
  }

  /** The stores, top first. */
  get tiers(): readonly Store[] {
    return this.#tiers;
  }

  /**
   * The body for `key`: from the first tier that has it, else from `fetcher` (one origin
   * fetch per key at a time; concurrent callers wait for it). See {@link GetResult}.
   * Throws `ERR_CLOSED` after close, `ERR_TIMEOUT` when the fetcher does not answer in
   * time, and whatever the fetcher threw.
   */
  async get(key: string, fetcher: Fetcher, options: GetOptions = {}): Promise<GetResult> {
    this.#assertOpen();
    assertKey(key);
    functionArg("the fetcher given to get()", fetcher);
    optionsArg("get()'s options", options);
    if (options.ifNoneMatch != null) stringArg("ifNoneMatch", options.ifNoneMatch);
    signalArg("signal", options.signal);
    this.#stats.gets++;
    const now = this.#clock();
    if (this.#negative.size > 0) {
      const until = this.#negative.get(key);
      if (until !== undefined) {
        if (until > now) {
          this.#stats.notFound++;
          this.#stats.negativeHits++;
          return new CacheResult("not-found", { cachedAt: until - this.#negativeMs }, "negative", null);
        }
        this.#negative.delete(key);
      }
    }
    // An origin fetch for this key is under way, so no tier has a fresh copy: join it.
    if (this.#flights.size > 0 && this.#flights.has(key)) return this.#foreground(key, fetcher, options, undefined, 0);
    const tiers = this.#tiers;
    for (let i = 0; i < tiers.length; i++) {
      // Synchronous stores (memory, file) answer without an extra await on the hot path.
      let entry: StoredEntry | Promise<StoredEntry | undefined> | undefined;
      try {
        entry = tiers[i]!.get(key);
        if (entry instanceof Promise) entry = await entry;
      } catch {
        this.#stats.storeErrors++;
        entry = undefined;
      }
      if (entry !== undefined) return this.#serve(key, i, entry as StoredEntry, fetcher, options, now);
    }
    return this.#foreground(key, fetcher, options, undefined, 0);
  }

  /**
   * A writable stream that stores `key`: `close()` publishes it in every tier, `abort()`
   * discards it. Starting a writer supersedes fills already in flight for the key.
   */
  writer(key: string, meta: SetMeta = {}): WritableStream<Uint8Array> {
    this.#assertOpen();
    assertKey(key);
    const fullMeta = this.#metaFrom(meta);
    const { fan, report } = this.#startWrite(key, fullMeta);
    return new WritableStream<Uint8Array>({
      write: (chunk) => fan.write(asBytes(chunk)),
      close: async () => {
        await fan.finish();
        if ((await report).outcome === "published") this.#bus?.publish(key);
      },
      abort: () => fan.abort("abandoned"),
    });
  }

  /**
   * Store `body` under `key` in every tier, replacing what is there and superseding fills
   * in flight for the key. Throws the first store error when no tier could keep it.
   */
  async set(key: string, body: CacheBody, meta: SetMeta = {}): Promise<void> {
    this.#assertOpen();
    assertKey(key);
    assertCacheBody(body, "the body given to set()");
    const fullMeta = this.#metaFrom(meta);
    const { fan, report } = this.#startWrite(key, fullMeta);
    const reader = toStream(body).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await fan.write(asBytes(value));
      }
    } catch (e) {
      await fan.abort("failed", e);
      throw e;
    }
    await fan.finish();
    const r = await report;
    if (r.outcome === "published" && r.committed === 0 && this.#tiers.length > 0 && r.storeError !== undefined) throw r.storeError;
    if (r.outcome === "published") this.#bus?.publish(key);
  }

  /** Remove `key` from every tier and the negative cache; fills in flight for it will not publish. */
  async delete(key: string): Promise<boolean> {
    this.#assertOpen();
    assertKey(key);
    this.#negative.delete(key);
    const removed = await this.#remove(key);
    this.#bus?.publish(key);
    return removed;
  }

  /**
   * A handler for `Bun.serve`. Given an origin URL, a reverse proxy that stores and reuses
   * responses as RFC 9111 allows a shared cache (see `http/proxy.ts`); given a fetcher,
   * the cache's own rules over it, by path and query (see `http/fetcher-handler.ts`).
   */
  handler(source: string | URL, options?: ProxyOptions): ProxyHandler;
  handler(source: Fetcher): FetcherHandler;
  handler(source: Fetcher | string | URL, options?: ProxyOptions): ProxyHandler | FetcherHandler {
    this.#assertOpen();
    if (typeof source === "function") return createFetcherHandler(this, source, { fresh: this.#fresh });
    return createProxy(this.#host(), source, options);
  }

  /** Counters and gauges (see {@link TieredCacheStats}), and each tier's own stats. */
  stats(): TieredCacheStats {
    const tiers: TieredCacheStats["tiers"] = [];
    for (const t of this.#tiers) {
      try {
        tiers.push({ name: t.name, stats: t.stats() });
      } catch {
        // a broken store has nothing to report
      }
    }
    return {
      ...this.#stats,
      inFlight: this.#flights.size,
      refreshQueued: this.#refreshQueue.length,
      refreshRunning: this.#refreshRunning,
      negativeKeys: this.#negative.size,
      tiers,
    };
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Stop: cancel background refreshes and origin fetches, wait for them, close every tier.
   * Idempotent; every later call throws `ERR_CLOSED`.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closeController.abort(new OffheapError("ERR_CLOSED", "the tiered cache was closed"));
    this.#refreshQueue.length = 0;
    this.#closing = (async () => {
      await this.#bus?.close().catch(() => {});
      while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
      for (const t of this.#tiers) await this.#safe(() => t.close(), undefined);
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---------------------------------------------------------------------------------

  /**
   * The one freshness rule of the generic API: fresh for `fresh` ms after `cachedAt`, then
   * stale (served while one refresh runs) for `staleWhileRevalidate` ms, then expired. A
   * local copy the invalidation bus can't vouch for counts as expired.
   */
  #classify(tier: number, meta: EntryMeta, now: number): "fresh" | "stale" | "expired" {
    if (!this.#trusted(tier, meta, now)) return "expired";
    const age = now - meta.cachedAt;
    if (age <= this.#fresh) return "fresh";
    if (age <= this.#fresh + this.#swr) return "stale";
    return "expired";
  }

  /** Whether an expired entry may still stand in for a failed origin (`staleIfError`). */
  #withinStaleIfError(meta: EntryMeta, now: number): boolean {
    return now - meta.cachedAt <= this.#fresh + this.#sie;
  }

  /** Whether tier `tier`'s copy can't have missed an invalidation (see `bus.ts`). */
  #trusted(tier: number, meta: EntryMeta, now: number): boolean {
    if (this.#bus === undefined || this.#tiers[tier]?.shared === true) return true;
    if (!this.#busUp) return now - meta.cachedAt <= this.#busFallback;
    return meta.cachedAt >= this.#busFloor;
  }

  /** Another instance changed `key`: forget the local copies (the shared tiers have the news). */
  async #dropLocal(key: string): Promise<void> {
    if (this.#closed) return;
    this.#negative.delete(key);
    await this.#fences.supersede(key);
    await Promise.all(this.#tiers.map((t) => (t.shared === true ? false : this.#safe(() => t.delete(key), false))));
  }

  #serve(key: string, tier: number, entry: StoredEntry, fetcher: Fetcher, options: GetOptions, now: number): Promise<GetResult> | GetResult {
    switch (this.#classify(tier, entry.meta, now)) {
      case "fresh":
        this.#stats.hits++;
        return this.#answer("hit", key, tier, entry, options);
      case "stale":
        this.#stats.staleHits++;
        this.#scheduleRefresh(key, entry.meta, fetcher);
        return this.#answer("stale", key, tier, entry, options);
      case "expired":
        discardBody(entry);
        return this.#foreground(key, fetcher, options, { meta: entry.meta, age: now - entry.meta.cachedAt }, 0);
    }
  }

  #answer(status: "hit" | "stale", key: string, tier: number, entry: StoredEntry, options: GetOptions, extra?: Partial<GetResult>): GetResult {
    const source = this.#tiers[tier]!.name;
    let result: CacheResult;
    if (options.ifNoneMatch != null && ifNoneMatchMatches(options.ifNoneMatch, entry.meta.etag)) {
      discardBody(entry);
      this.#stats.notModified++;
      result = new CacheResult("not-modified", entry.meta, source, null);
    } else if (tier === 0) {
      result = entry.bytes !== undefined ? new CacheResult(status, entry.meta, source, null, entry.bytes) : new CacheResult(status, entry.meta, source, entry.body);
    } else {
      result = new CacheResult(status, entry.meta, source, this.#promote(key, tier, entry));
    }
    return extra === undefined ? result : Object.assign(result, extra);
  }

  /** Stream a lower tier's entry to the caller while writing it into the tiers above. */
  #promote(key: string, tier: number, entry: StoredEntry): ReadableStream<Uint8Array> {
    const fence = this.#fences.begin(key);
    const writers = this.#writers(key, entry.meta, tier);
    if (writers.length === 0) {
      fence.release();
      return entry.body;
    }
    this.#stats.promotions++;
    return fillStream(entry.body, writers, this.#fillHooks(key, fence));
  }

  /** Fetch from the origin in the foreground, coalesced with other callers for the key. */
  async #foreground(key: string, fetcher: Fetcher, options: GetOptions, cached: Cached | undefined, attempt: number): Promise<GetResult> {
    const existing = attempt < 3 ? this.#flights.get(key) : undefined;
    if (existing !== undefined) {
      this.#stats.collapsed++;
      await untilAborted(existing.ready, options.signal);
      if (existing.fill !== undefined && existing.meta !== undefined && existing.fill.joinable) {
        const meta = existing.meta;
        if (options.ifNoneMatch != null && ifNoneMatchMatches(options.ifNoneMatch, meta.etag)) {
          this.#stats.notModified++;
          return Object.assign(new CacheResult("not-modified", meta, "origin", null), { collapsed: true });
        }
        this.#stats.misses++;
        return Object.assign(new CacheResult("miss", meta, "origin", existing.fill.subscribe()), { collapsed: true });
      }
      const outcome = await untilAborted(existing.promise, options.signal);
      if (outcome.kind === "not-found") {
        this.#stats.notFound++;
        return Object.assign(new CacheResult("not-found", { cachedAt: this.#clock() }, "origin", null), { collapsed: true });
      }
      if (outcome.kind === "error") {
        // #staleIfError serves only an entry within fresh + staleIfError.
        const stale = this.#sie > 0 ? await this.#staleIfError(key, options) : undefined;
        if (stale) return stale;
        throw outcome.error;
      }
      const found = await this.#lookup(key);
      if (found !== undefined) {
        const now = this.#clock();
        if (this.#classify(found.tier, found.entry.meta, now) === "fresh") {
          this.#stats.hits++;
          return this.#answer("hit", key, found.tier, found.entry, options, { collapsed: true });
        }
        discardBody(found.entry);
        return this.#foreground(key, fetcher, options, { meta: found.entry.meta, age: now - found.entry.meta.cachedAt }, attempt + 1);
      }
      return this.#foreground(key, fetcher, options, undefined, attempt + 1);
    }

    let resolveFlight!: (o: FlightOutcome) => void;
    let markReady!: () => void;
    const flight: Flight = {
      promise: new Promise((r) => (resolveFlight = r)),
      resolve: (o) => resolveFlight(o),
      ready: new Promise<void>((r) => (markReady = r)),
      markReady: () => markReady(),
    };
    if (attempt < 3) this.#flights.set(key, flight);
    let settled = false;
    const settle = (o: FlightOutcome) => {
      if (settled) return;
      settled = true;
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
      flight.markReady();
      flight.resolve(o);
    };
    const etag = cached?.meta.etag;
    if (cached !== undefined) this.#stats.revalidations++;
    // The fence starts before the origin is asked: a delete or set from now on wins.
    const fence = this.#fences.begin(key);
    let fenceHeld = true;
    try {
      let result: FetchResult;
      try {
        result = await this.#callFetcher(key, fetcher, etag, options.signal);
      } catch (error) {
        settle(options.signal?.aborted ? { kind: "abandoned" } : { kind: "error", error });
        if (cached !== undefined && this.#withinStaleIfError(cached.meta, this.#clock()) && !this.#closed) {
          const stale = await this.#staleIfError(key, options);
          if (stale) return stale;
        }
        throw error;
      }

      if (result === NOT_FOUND) {
        if (await fence.publish(async () => void (await this.#removeFromTiers(key)))) this.#rememberNotFound(key);
        settle({ kind: "not-found" });
        this.#stats.notFound++;
        return new CacheResult("not-found", { cachedAt: this.#clock() }, "origin", null);
      }

      if (result === NOT_MODIFIED) {
        if (cached === undefined) {
          const error = new OffheapError("ERR_INVALID", `the fetcher answered NOT_MODIFIED for ${JSON.stringify(key)}, but it was given no etag (nothing is cached)`);
          settle({ kind: "error", error });
          throw error;
        }
        await fence.publish(() => this.#touchTiers(key, { ...cached.meta, cachedAt: this.#clock() }));
        settle({ kind: "renewed" });
        const found = await this.#lookup(key);
        // The origin just confirmed cached.meta.etag, so any copy with that tag is current.
        if (found !== undefined && (found.entry.meta.etag === cached.meta.etag || this.#classify(found.tier, found.entry.meta, this.#clock()) === "fresh")) {
          this.#stats.hits++;
          return this.#answer("hit", key, found.tier, found.entry, options, { revalidated: true });
        }
        // Evicted, or a tier above holds another version that was not renewed: fetch it whole.
        if (found !== undefined) discardBody(found.entry);
        return this.#foreground(key, fetcher, options, undefined, attempt + 1);
      }

      const meta = this.#fetchedMeta(result);
      const writers = this.#writers(key, meta, this.#tiers.length);
      const hooks = this.#fillHooks(key, fence, (r) => {
        // A revalidation that brought a new version: the other instances drop theirs.
        if (r.outcome === "published" && cached !== undefined) this.#bus?.publish(key);
        settle(r.outcome === "published" ? { kind: "published" } : r.outcome === "failed" ? { kind: "error", error: r.error } : { kind: "abandoned" });
      });
      fenceHeld = false; // the fill releases it
      const fill = new SharedFill(toStream(result.body), writers, hooks);
      flight.fill = fill;
      flight.meta = meta;
      flight.markReady();
      const body = fill.subscribe();
      this.#stats.misses++;
      if (options.ifNoneMatch != null && meta.etag !== undefined && ifNoneMatchMatches(options.ifNoneMatch, meta.etag)) {
        // The caller has this version already: finish the fill in the background.
        this.#track(drain(body).catch(() => {}));
        this.#stats.notModified++;
        return Object.assign(new CacheResult("not-modified", meta, "origin", null), { revalidated: cached !== undefined });
      }
      return Object.assign(new CacheResult("miss", meta, "origin", body), { revalidated: cached !== undefined });
    } finally {
      if (fenceHeld) fence.release();
    }
  }

  async #staleIfError(key: string, options: GetOptions): Promise<GetResult | undefined> {
    const found = await this.#lookup(key);
    if (found === undefined) return undefined;
    if (!this.#withinStaleIfError(found.entry.meta, this.#clock())) {
      discardBody(found.entry);
      return undefined;
    }
    this.#stats.staleIfErrorServed++;
    this.#stats.staleHits++;
    return this.#answer("stale", key, found.tier, found.entry, options);
  }

  async #callFetcher(key: string, fetcher: Fetcher, etag: string | undefined, callerSignal: AbortSignal | undefined): Promise<FetchResult> {
    // The caller's signal (and the timeout) cover waiting for the answer only: once the
    // body flows, other callers may be reading it too, so it ends when its last reader
    // cancels, not when the first caller goes away.
    if (callerSignal?.aborted) throw callerSignal.reason;
    const own = new AbortController();
    const signal = AbortSignal.any([own.signal, this.#closeController.signal]);
    if (signal.aborted) throw signal.reason;
    const onCaller = () => own.abort(callerSignal!.reason);
    callerSignal?.addEventListener("abort", onCaller, { once: true });
    this.#stats.originFetches++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#stats.originTimeouts++;
        own.abort(new OffheapError("ERR_TIMEOUT", `the fetcher for ${JSON.stringify(key)} did not answer within ${this.#timeout} ms`));
      }, this.#timeout);
      onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      const result = await Promise.race([(async () => fetcher({ key, etag, signal }))(), stop]);
      checkFetchResult(key, result);
      return result;
    } catch (e) {
      this.#stats.originErrors++;
      throw e;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener("abort", onAbort);
      callerSignal?.removeEventListener("abort", onCaller);
    }
  }

  #scheduleRefresh(key: string, meta: EntryMeta, fetcher: Fetcher): void {
    if (this.#flights.has(key)) return;
    this.#runInBackground(key, () => this.#refresh(key, meta, fetcher));
  }

  /** Run `task` in the background: one per key at a time, at most `workers` at once. */
  #runInBackground(key: string, task: () => Promise<void>): void {
    if (this.#closed || this.#refreshPending.has(key)) return;
    this.#refreshPending.add(key);
    this.#refreshQueue.push({ key, task });
    this.#pumpRefreshes();
  }

  #pumpRefreshes(): void {
    while (this.#refreshRunning < this.#workers && this.#refreshQueue.length > 0 && !this.#closed) {
      const job = this.#refreshQueue.shift()!;
      this.#refreshRunning++;
      this.#track(
        job
          .task()
          .catch(() => void this.#stats.refreshErrors++)
          .finally(() => {
            this.#refreshRunning--;
            this.#refreshPending.delete(job.key);
            this.#pumpRefreshes();
          }),
      );
    }
  }

  async #refresh(key: string, meta: EntryMeta, fetcher: Fetcher): Promise<void> {
    this.#stats.refreshes++;
    const fence = this.#fences.begin(key);
    let fenceHeld = true;
    try {
      let result: FetchResult;
      try {
        result = await this.#callFetcher(key, fetcher, meta.etag, undefined);
      } catch {
        this.#stats.refreshErrors++;
        return;
      }
      if (this.#closed) return;
      if (result === NOT_MODIFIED) {
        await fence.publish(() => this.#touchTiers(key, { ...meta, cachedAt: this.#clock() }));
        return;
      }
      if (result === NOT_FOUND) {
        if (await fence.publish(async () => void (await this.#removeFromTiers(key)))) this.#rememberNotFound(key);
        return;
      }
      fenceHeld = false;
      const body = fillStream(
        toStream(result.body),
        this.#writers(key, this.#fetchedMeta(result), this.#tiers.length),
        this.#fillHooks(key, fence, (r) => void (r.outcome === "published" && this.#bus?.publish(key))),
      );
      await drain(body).catch(() => void this.#stats.refreshErrors++);
    } finally {
      if (fenceHeld) fence.release();
    }
  }

  #fetchedMeta(result: Exclude<FetchResult, typeof NOT_FOUND | typeof NOT_MODIFIED>): EntryMeta {
    const meta: EntryMeta = { cachedAt: this.#clock() };
    if (result.etag) meta.etag = normalizeEtag(result.etag);
    if (result.contentType) meta.contentType = result.contentType;
    return meta;
  }

  #startWrite(key: string, meta: EntryMeta): { fan: FanOut; report: Promise<FillReport> } {
    this.#negative.delete(key);
    // Supersedes the fills in flight and publishes after any of theirs already landing.
    const fence = this.#fences.begin(key, true);
    let done!: (r: FillReport) => void;
    const report = new Promise<FillReport>((r) => (done = r));
    const fan = new FanOut(this.#writers(key, meta, this.#tiers.length), this.#fillHooks(key, fence, done));
    return { fan, report };
  }

  #fillHooks(key: string, fence: Fence, after?: (r: FillReport) => void) {
    return {
      publish: (commitAll: () => Promise<void>) => (this.#closed ? Promise.resolve(false) : fence.publish(commitAll)),
      done: (r: FillReport) => {
        fence.release();
        if (r.outcome === "published") this.#stats.published++;
        else if (fence.superseded) this.#stats.superseded++;
        else this.#stats.abandoned++;
        after?.(r);
      },
      onStoreError: (e: unknown, w: StoreWriter | undefined) => {
        this.#noteStoreError(e);
        const tier = w === undefined ? undefined : this.#writerTier.get(w);
        if (tier !== undefined) void this.#safe(() => tier.delete(key), false);
      },
    };
  }

  /**
   * Writers for tiers `0 .. below-1`. A store that refuses (or later fails) is skipped, and
   * the key is removed from it so its older copy cannot shadow the new one below it.
   */
  #writers(key: string, meta: EntryMeta, below: number): StoreWriter[] {
    const out: StoreWriter[] = [];
    for (let i = 0; i < below; i++) {
      const tier = this.#tiers[i]!;
      try {
        const w = tier.writer(key, meta);
        this.#writerTier.set(w, tier);
        out.push(w);
      } catch (e) {
        this.#noteStoreError(e);
        void this.#safe(() => tier.delete(key), false);
      }
    }
    return out;
  }

  #noteStoreError(e: unknown): void {
    if (isOffheapError(e, "ERR_TOO_LARGE")) this.#stats.tooLarge++;
    else this.#stats.storeErrors++;
  }

  async #tierGet(i: number, key: string): Promise<StoredEntry | undefined> {
    try {
      return await this.#tiers[i]!.get(key);
    } catch {
      this.#stats.storeErrors++;
      return undefined;
    }
  }

  async #lookup(key: string): Promise<{ tier: number; entry: StoredEntry } | undefined> {
    for (let i = 0; i < this.#tiers.length; i++) {
      const entry = await this.#tierGet(i, key);
      if (entry !== undefined) return { tier: i, entry };
    }
    return undefined;
  }

  async #touchTiers(key: string, meta: EntryMeta): Promise<void> {
    await Promise.all(this.#tiers.map((t) => this.#safe(() => t.touch(key, meta), false)));
  }

  async #removeFromTiers(key: string): Promise<boolean> {
    const removed = await Promise.all(this.#tiers.map((t) => this.#safe(() => t.delete(key), false)));
    return removed.some(Boolean);
  }

  /** Supersede the fills of `key`, wait for the publishes already landing, then remove it everywhere. */
  async #remove(key: string): Promise<boolean> {
    await this.#fences.supersede(key);
    return this.#removeFromTiers(key);
  }

  #rememberNotFound(key: string): void {
    if (this.#negativeMs <= 0) return;
    this.#negative.delete(key);
    this.#negative.set(key, this.#clock() + this.#negativeMs);
    while (this.#negative.size > this.#maxNegative) {
      const oldest = this.#negative.keys().next().value as string;
      this.#negative.delete(oldest);
    }
  }

  #metaFrom(meta: SetMeta): EntryMeta {
    optionsArg("metadata", meta);
    const cachedAt = meta.cachedAt ?? this.#clock();
    if (typeof cachedAt !== "number" || !Number.isFinite(cachedAt)) throw new OffheapError("ERR_INVALID", `meta.cachedAt must be a finite number (ms since the epoch), got ${describeValue(meta.cachedAt)}`);
    const out: EntryMeta = { cachedAt };
    for (const field of ["etag", "contentType", "extra"] as const) {
      const v = meta[field];
      if (v !== undefined && typeof v !== "string") throw new OffheapError("ERR_INVALID", `meta.${field} must be a string, got ${describeValue(v)}`);
    }
    if (meta.etag) out.etag = normalizeEtag(meta.etag);
    if (meta.contentType) out.contentType = meta.contentType;
    if (meta.extra !== undefined) out.extra = meta.extra;
    assertExtraFits(out);
    return out;
  }

  /** The storage side of this cache, for the HTTP face. */
  #host(): CacheHost {
    const limits = { fresh: this.#fresh, negative: this.#negativeMs, staleWhileRevalidate: this.#swr, staleIfError: this.#sie, timeout: this.#timeout };
    return {
      limits,
      clock: this.#clock,
      closeSignal: this.#closeController.signal,
      read: async (key) => {
        if (this.#closed) throw new OffheapError("ERR_CLOSED", "the tiered cache is closed");
        const found = await this.#lookup(key);
        if (found === undefined) return undefined;
        const source = this.#tiers[found.tier]!.name;
        const trusted = this.#trusted(found.tier, found.entry.meta, this.#clock());
        if (found.tier === 0) return { entry: found.entry, source, trusted };
        return { entry: { meta: found.entry.meta, body: this.#promote(key, found.tier, found.entry) }, source, trusted };
      },
      fence: (key) => this.#fences.begin(key),
      fill: (key, meta, fence, source, onEnd) => {
        const writers = this.#writers(key, meta, this.#tiers.length);
        return new SharedFill(source, writers, this.#fillHooks(key, fence, onEnd === undefined ? undefined : (r) => onEnd(r.outcome === "published")));
      },
      put: async (key, meta, body, fence) => {
        const fan = new FanOut(this.#writers(key, meta, this.#tiers.length), {
          publish: (commitAll) => (this.#closed ? Promise.resolve(false) : fence.publish(commitAll)),
          done: () => {},
          onStoreError: (e) => this.#noteStoreError(e),
        });
        if (body.length > 0) await fan.write(body);
        await fan.finish();
      },
      touch: async (key, meta, fence) => {
        await fence.publish(() => this.#touchTiers(key, meta));
      },
      remove: async (key) => {
        this.#negative.delete(key);
        await this.#remove(key);
        this.#bus?.publish(key);
      },
      announce: (key) => this.#bus?.publish(key),
      background: (key, task) => this.#runInBackground(key, task),
      track: (work) => this.#track(work),
      count: (counter: HostCounter) => void this.#stats[counter]++,
    };
  }

  #track(p: Promise<unknown>): void {
    this.#background.add(p);
    p.finally(() => this.#background.delete(p)).catch(() => {});
  }

  async #safe<T>(fn: () => Promise<T> | T, fallback: T): Promise<T> {
    try {
      return await fn();
    } catch {
      this.#stats.storeErrors++;
      return fallback;
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new OffheapError("ERR_CLOSED", "the tiered cache is closed");
  }
}

/** Throw `ERR_INVALID` unless `t` has every method of a {@link Store}. */
function assertStore(t: unknown, name: string): void {
  const missing = ["get", "stat", "writer", "delete", "touch", "stats", "close"].filter((m) => typeof (t as Record<string, unknown> | null)?.[m] !== "function");
  if (typeof t !== "object" || t === null || missing.length > 0 || typeof (t as { name?: unknown }).name !== "string") {
    throw new OffheapError("ERR_INVALID", `${name} must be a Store (MemoryStore, FileStore, RedisStore, S3Store or your own), got ${describeValue(t)}${missing.length > 0 && t !== null && typeof t === "object" ? ` without ${missing.join(", ")}` : ""}`);
  }
}

function assertKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) {
    throw new OffheapError("ERR_INVALID", `a cache key must be a non-empty string, got ${typeof key === "string" ? '""' : describeValue(key)}`);
  }
  if (key.length > MAX_KEY_BYTES / 3 && Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new OffheapError("ERR_TOO_LARGE", `a cache key is at most ${MAX_KEY_BYTES} bytes of UTF-8, got ${Buffer.byteLength(key)}`);
  }
}

/** Throw `ERR_INVALID` unless `result` is something a fetcher may answer. */
function checkFetchResult(key: string, result: unknown): asserts result is FetchResult {
  if (result === NOT_FOUND || result === NOT_MODIFIED) return;
  if (typeof result !== "object" || result === null || !("body" in result)) {
    throw new OffheapError("ERR_INVALID", `the fetcher for ${JSON.stringify(key)} returned ${describeValue(result)}; expected { body, etag?, contentType? }, NOT_MODIFIED or NOT_FOUND`);
  }
  const r = result as Record<string, unknown>;
  if (!isCacheBody(r.body)) {
    throw new OffheapError(
      "ERR_INVALID",
      `the fetcher for ${JSON.stringify(key)} returned a body that is ${describeValue(r.body)}; expected a ReadableStream, Uint8Array, ArrayBuffer, Blob, Response or string`,
    );
  }
  for (const field of ["etag", "contentType"] as const) {
    const v = r[field];
    if (v != null && typeof v !== "string") throw new OffheapError("ERR_INVALID", `the fetcher for ${JSON.stringify(key)} returned ${field} ${describeValue(v)}; expected a string`);
  }
}

describeStats(TieredCache, tieredMetrics((cache) => (cache as TieredCache).tiers));
