/**
 * `TieredCache`: stream-based cache middleware over ordered stores (memory, file, Redis,
 * S3), with freshness, stale-while-revalidate, stale-if-error, negative caching, ETag
 * revalidation and one origin fetch per key at a time.
 *
 * This file is the generic API and its operator-set freshness rules; the tiers, fills,
 * fences and background work are the `TierCore` (`core.ts`), which the HTTP face
 * (`http/`) runs on directly with the rules of RFC 9111 instead.
 */
import { describeValue, functionArg, integerArg, invalidArg, numberArg, objectArg, optionalArg, optionsArg, signalArg, stringArg } from "../primitives/arguments.ts";
import { OffheapError } from "../errors.ts";
import { describeStats } from "../metrics/describe.ts";
import { untilAborted } from "../primitives/signals.ts";
import { asBytes, assertCacheBody, discardBody, toStream } from "./body.ts";
import type { InvalidationBus } from "./bus/bus.ts";
import { TierCore } from "./core.ts";
import { ifNoneMatchMatches } from "./etag.ts";
import { callFetcher } from "./fetcher-call.ts";
import { drain, SharedFill } from "./fill.ts";
import { createFetcherHandler, type FetcherHandler } from "./http/fetcher-handler.ts";
import { createProxy, type ProxyHandler, type ProxyOptions } from "./http/proxy.ts";
import { fetchedMeta } from "./meta.ts";
import { assertKey, assertStore, entryMetaFrom, type GetOptions, type SetMeta, type TieredCacheOptions } from "./options.ts";
import { refresh } from "./refresh.ts";
import { Flights, type Flight } from "./flights.ts";
import { CacheResult } from "./result.ts";
import { tieredMetrics, type TieredCacheStats } from "./stats.ts";
import { NOT_FOUND, NOT_MODIFIED, type CacheBody, type EntryMeta, type Fetcher, type FetchResult, type GetResult, type Store, type StoredEntry } from "./types.ts";

/** A stale or expired entry being revalidated. */
interface Cached {
  meta: EntryMeta;
  age: number;
}

/** Where one step of a foreground fetch left the caller: an answer, or another round. */
type Step = { result: GetResult } | { again: Cached | undefined };

/** Rounds of waiting for other callers' fetches before a caller asks the origin itself. */
const MAX_JOINS = 3;

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
  readonly #core: TierCore;
  readonly #fresh: number;
  readonly #swr: number;
  readonly #sie: number;
  readonly #flights = new Flights();

  /**
   * A cache over `options.tiers`, top (fastest) first.
   * @throws `ERR_INVALID` naming the option for bad options, a tier that is not a
   * {@link Store} or a closed one.
   */
  constructor(options: TieredCacheOptions) {
    objectArg("options", options);
    if (!Array.isArray(options.tiers)) throw invalidArg("tiers", "an array of stores (Store[])", options.tiers);
    options.tiers.forEach((t, i) => assertStore(t, `tiers[${i}]`));
    const ms = (name: string, v: unknown, fallback: number) => optionalArg(v as number | undefined, fallback, (x) => numberArg(name, x, { min: 0 }));
    const limits = {
      fresh: ms("fresh", options.fresh, 60_000),
      negative: ms("negative", options.negative, 10_000),
      staleWhileRevalidate: ms("staleWhileRevalidate", options.staleWhileRevalidate, 0),
      staleIfError: ms("staleIfError", options.staleIfError, 0),
      timeout: ms("timeout", options.timeout, 30_000),
    };
    if (options.bus !== undefined) {
      const bus = options.bus as Partial<InvalidationBus> | null;
      if (typeof bus !== "object" || bus === null || typeof bus.start !== "function" || typeof bus.publish !== "function" || typeof bus.close !== "function") {
        throw new OffheapError("ERR_INVALID", `bus must be an InvalidationBus (e.g. new RedisBus({ url })), got ${describeValue(options.bus)}`);
      }
    }
    this.#fresh = limits.fresh;
    this.#swr = limits.staleWhileRevalidate;
    this.#sie = limits.staleIfError;
    this.#core = new TierCore({
      tiers: [...options.tiers],
      limits,
      clock: optionalArg(options.clock, Date.now, (x) => functionArg<() => number>("clock", x)),
      workers: optionalArg(options.workers, 4, (x) => integerArg("workers", x, { min: 1, max: 1024 })),
      maxNegativeKeys: optionalArg(options.maxNegativeKeys, 100_000, (x) => integerArg("maxNegativeKeys", x, { min: 0 })),
      bus: options.bus,
      busFallbackFresh: ms("busFallbackFresh", options.busFallbackFresh, 1_000),
    });
  }

  /** The stores, top first. */
  get tiers(): readonly Store[] {
    this.#assertOpen();
    return this.#core.tiers;
  }

  /**
   * The body for `key`: from the first tier that has it, else from `fetcher` (one origin
   * fetch per key at a time; concurrent callers wait for it). See {@link GetResult}.
   * @throws (the promise rejects) `ERR_INVALID` for a bad key, fetcher or option,
   * `ERR_TOO_LARGE` for a key over 4096 bytes, `ERR_CLOSED` after close, `ERR_TIMEOUT` when
   * the fetcher does not answer in time, `ERR_INVALID` for a fetcher answer that is not a
   * {@link FetchResult}, and whatever the fetcher threw.
   */
  async get(key: string, fetcher: Fetcher, options: GetOptions = {}): Promise<GetResult> {
    this.#assertOpen();
    assertKey(key);
    functionArg("the fetcher given to get()", fetcher);
    optionsArg("get()'s options", options);
    if (options.ifNoneMatch != null) stringArg("ifNoneMatch", options.ifNoneMatch);
    signalArg("signal", options.signal);
    const core = this.#core;
    core.counters.gets++;
    const now = core.clock();
    const notFoundSince = core.negative.since(key, now);
    if (notFoundSince !== undefined) {
      core.counters.notFound++;
      core.counters.negativeHits++;
      return new CacheResult("not-found", { cachedAt: notFoundSince }, "negative", null);
    }
    // An origin fetch for this key is under way, so no tier has a fresh copy: join it.
    if (this.#flights.get(key) !== undefined) return this.#foreground(key, fetcher, options, undefined);
    const tiers = core.tiers;
    for (let i = 0; i < tiers.length; i++) {
      // Synchronous stores (memory, file) answer without an extra await on the hot path.
      let entry: StoredEntry | Promise<StoredEntry | undefined> | undefined;
      try {
        entry = tiers[i]!.get(key);
        if (entry instanceof Promise) entry = await entry;
      } catch {
        core.counters.storeErrors++;
        entry = undefined;
      }
      if (entry !== undefined) return this.#serve(key, i, entry as StoredEntry, fetcher, options, now);
    }
    return this.#foreground(key, fetcher, options, undefined);
  }

  /**
   * A writable stream that stores `key`: `close()` publishes it in every tier, `abort()`
   * discards it. Starting a writer supersedes fills already in flight for the key.
   * @throws `ERR_INVALID` for a bad key or metadata (naming the field), `ERR_TOO_LARGE` for
   * a key or `extra` over its limit, `ERR_CLOSED` after close.
   */
  writer(key: string, meta: SetMeta = {}): WritableStream<Uint8Array> {
    this.#assertOpen();
    assertKey(key);
    const { fan, report } = this.#core.startWrite(key, entryMetaFrom(meta, this.#core.clock()));
    return new WritableStream<Uint8Array>({
      write: (chunk) => fan.write(asBytes(chunk)),
      close: async () => {
        await fan.finish();
        if ((await report).outcome === "published") this.#core.announce(key);
      },
      abort: () => fan.abort("abandoned"),
    });
  }

  /**
   * Store `body` under `key` in every tier, replacing what is there and superseding fills
   * in flight for the key.
   * @throws (the promise rejects) as {@link TieredCache.writer}, `ERR_INVALID` for a body
   * that is not a {@link CacheBody}, and the first store error when no tier could keep it.
   */
  async set(key: string, body: CacheBody, meta: SetMeta = {}): Promise<void> {
    this.#assertOpen();
    assertKey(key);
    assertCacheBody(body, "the body given to set()");
    const { fan, report } = this.#core.startWrite(key, entryMetaFrom(meta, this.#core.clock()));
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
    if (r.outcome === "published" && r.committed === 0 && this.#core.tiers.length > 0 && r.storeError !== undefined) throw r.storeError;
    if (r.outcome === "published") this.#core.announce(key);
  }

  /**
   * Remove `key` from every tier and the negative cache; fills in flight for it will not publish.
   * @throws (the promise rejects) `ERR_INVALID` / `ERR_TOO_LARGE` for a bad key, `ERR_CLOSED`
   * after close, and the first store error.
   */
  async delete(key: string): Promise<boolean> {
    this.#assertOpen();
    assertKey(key);
    const removed = await this.#core.removeKey(key);
    this.#core.announce(key);
    return removed;
  }

  /**
   * A handler for `Bun.serve`. Given an origin URL, a reverse proxy that stores and reuses
   * responses as RFC 9111 allows a shared cache (see `http/proxy.ts`); given a fetcher,
   * the cache's own rules over it, by path and query (see `http/fetcher-handler.ts`).
   * @throws `ERR_INVALID` for an origin that is not an absolute http(s) URL without
   * credentials, a source that is neither a URL nor a function, or a bad option; `ERR_CLOSED`.
   * The handler itself never throws: failures become 502/504 answers.
   */
  handler(source: string | URL, options?: ProxyOptions): ProxyHandler;
  handler(source: Fetcher): FetcherHandler;
  handler(source: Fetcher | string | URL, options?: ProxyOptions): ProxyHandler | FetcherHandler {
    this.#assertOpen();
    if (typeof source === "function") return createFetcherHandler(this, source, { fresh: this.#fresh });
    return createProxy(this.#core, source, options);
  }

  /**
   * Counters and gauges (see {@link TieredCacheStats}), and each tier's own stats.
   * @throws `ERR_CLOSED` after close.
   */
  stats(): TieredCacheStats {
    this.#assertOpen();
    const core = this.#core;
    const tiers: TieredCacheStats["tiers"] = [];
    for (const t of core.tiers) {
      try {
        tiers.push({ name: t.name, stats: t.stats() });
      } catch {
        // a broken store has nothing to report
      }
    }
    return {
      ...core.counters,
      inFlight: this.#flights.size,
      refreshQueued: core.work.queued,
      refreshRunning: core.work.running,
      negativeKeys: core.negative.size,
      tiers,
    };
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#core.closed;
  }

  /**
   * Stop: cancel background refreshes and origin fetches, wait for them, close every tier.
   * Idempotent; every later call of another method throws `ERR_CLOSED`.
   * @throws (the promise rejects) nothing: tiers that fail to close are counted, not thrown.
   */
  close(): Promise<void> {
    return this.#core.close();
  }

  /** {@link TieredCache.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // --- freshness ---------------------------------------------------------------------

  /**
   * The one freshness rule of the generic API: fresh for `fresh` ms after `cachedAt`, then
   * stale (served while one refresh runs) for `staleWhileRevalidate` ms, then expired. A
   * local copy the invalidation bus can't vouch for counts as expired.
   */
  #classify(tier: number, meta: EntryMeta, now: number): "fresh" | "stale" | "expired" {
    if (!this.#core.trusted(tier, meta, now)) return "expired";
    const age = now - meta.cachedAt;
    if (age <= this.#fresh) return "fresh";
    if (age <= this.#fresh + this.#swr) return "stale";
    return "expired";
  }

  /** Whether an expired entry may still stand in for a failed origin (`staleIfError`). */
  #withinStaleIfError(meta: EntryMeta, now: number): boolean {
    return now - meta.cachedAt <= this.#fresh + this.#sie;
  }

  #serve(key: string, tier: number, entry: StoredEntry, fetcher: Fetcher, options: GetOptions, now: number): Promise<GetResult> | GetResult {
    switch (this.#classify(tier, entry.meta, now)) {
      case "fresh":
        this.#core.counters.hits++;
        return this.#answer("hit", key, tier, entry, options);
      case "stale":
        this.#core.counters.staleHits++;
        this.#scheduleRefresh(key, entry.meta, fetcher);
        return this.#answer("stale", key, tier, entry, options);
      case "expired":
        discardBody(entry);
        return this.#foreground(key, fetcher, options, { meta: entry.meta, age: now - entry.meta.cachedAt });
    }
  }

  /** The result for a stored entry (a 304-like answer when the caller has it already). */
  #answer(status: "hit" | "stale", key: string, tier: number, entry: StoredEntry, options: GetOptions, extra?: Partial<GetResult>): GetResult {
    const core = this.#core;
    const source = core.tiers[tier]!.name;
    let result: CacheResult;
    if (options.ifNoneMatch != null && ifNoneMatchMatches(options.ifNoneMatch, entry.meta.etag)) {
      discardBody(entry);
      core.counters.notModified++;
      result = new CacheResult("not-modified", entry.meta, source, null);
    } else if (tier === 0) {
      result = entry.bytes !== undefined ? new CacheResult(status, entry.meta, source, null, entry.bytes) : new CacheResult(status, entry.meta, source, entry.body);
    } else {
      result = new CacheResult(status, entry.meta, source, core.promote(key, tier, entry));
    }
    return extra === undefined ? result : Object.assign(result, extra);
  }

  // --- asking the origin -------------------------------------------------------------

  /** Ask the origin for `key` (or wait for the call already asking it), round after round, until there is an answer. */
  async #foreground(key: string, fetcher: Fetcher, options: GetOptions, cached: Cached | undefined): Promise<GetResult> {
    for (let round = 0; ; round++) {
      const running = round < MAX_JOINS ? this.#flights.get(key) : undefined;
      const step = running !== undefined ? await this.#join(running, key, options) : await this.#lead(key, fetcher, options, cached, round < MAX_JOINS);
      if ("result" in step) return step.result;
      cached = step.again;
    }
  }

  /** Wait for another caller's origin fetch of `key` and take its answer, or say what to try next. */
  async #join(flight: Flight, key: string, options: GetOptions): Promise<Step> {
    const core = this.#core;
    core.counters.collapsed++;
    await untilAborted(flight.ready, options.signal);
    if (flight.fill !== undefined && flight.meta !== undefined && flight.fill.joinable) {
      const meta = flight.meta;
      if (options.ifNoneMatch != null && ifNoneMatchMatches(options.ifNoneMatch, meta.etag)) {
        core.counters.notModified++;
        return { result: Object.assign(new CacheResult("not-modified", meta, "origin", null), { collapsed: true }) };
      }
      core.counters.misses++;
      return { result: Object.assign(new CacheResult("miss", meta, "origin", flight.fill.subscribe()), { collapsed: true }) };
    }
    const outcome = await untilAborted(flight.outcome, options.signal);
    if (outcome.kind === "not-found") {
      core.counters.notFound++;
      return { result: Object.assign(new CacheResult("not-found", { cachedAt: core.clock() }, "origin", null), { collapsed: true }) };
    }
    if (outcome.kind === "error") {
      const stale = this.#sie > 0 ? await this.#staleIfError(key, options) : undefined;
      if (stale) return { result: stale };
      throw outcome.error;
    }
    // Published, renewed or abandoned: look again.
    const found = await core.lookup(key);
    if (found === undefined) return { again: undefined };
    const now = core.clock();
    if (this.#classify(found.tier, found.entry.meta, now) === "fresh") {
      core.counters.hits++;
      return { result: this.#answer("hit", key, found.tier, found.entry, options, { collapsed: true }) };
    }
    discardBody(found.entry);
    return { again: { meta: found.entry.meta, age: now - found.entry.meta.cachedAt } };
  }

  /**
   * Ask the origin for `key` (revalidating `cached` when given) with a fence taken before
   * the fetcher is called, so that a delete or set from then on wins over the answer.
   * Callers that come meanwhile wait on this call when `register`.
   */
  async #lead(key: string, fetcher: Fetcher, options: GetOptions, cached: Cached | undefined, register: boolean): Promise<Step> {
    const core = this.#core;
    const { flight, settle } = this.#flights.start(key, register);
    if (cached !== undefined) core.counters.revalidations++;
    const fence = core.fence(key);
    let fenceHeld = true;
    try {
      let result: FetchResult;
      try {
        result = await callFetcher({ key, fetcher, etag: cached?.meta.etag, callerSignal: options.signal, closeSignal: core.closeSignal, timeout: core.limits.timeout, counters: core.counters });
      } catch (error) {
        settle(options.signal?.aborted ? { kind: "abandoned" } : { kind: "error", error });
        if (cached !== undefined && this.#withinStaleIfError(cached.meta, core.clock()) && !core.closed) {
          const stale = await this.#staleIfError(key, options);
          if (stale) return { result: stale };
        }
        throw error;
      }

      if (result === NOT_FOUND) {
        if (await fence.publish(async () => void (await core.removeFromTiers(key)))) core.negative.remember(key, core.clock());
        settle({ kind: "not-found" });
        core.counters.notFound++;
        return { result: new CacheResult("not-found", { cachedAt: core.clock() }, "origin", null) };
      }

      if (result === NOT_MODIFIED) {
        if (cached === undefined) {
          const error = new OffheapError("ERR_INVALID", `the fetcher answered NOT_MODIFIED for ${JSON.stringify(key)}, but it was given no etag (nothing is cached)`);
          settle({ kind: "error", error });
          throw error;
        }
        await fence.publish(() => core.touchTiers(key, { ...cached.meta, cachedAt: core.clock() }));
        settle({ kind: "renewed" });
        const found = await core.lookup(key);
        // The origin just confirmed cached.meta.etag, so any copy with that tag is current.
        if (found !== undefined && (found.entry.meta.etag === cached.meta.etag || this.#classify(found.tier, found.entry.meta, core.clock()) === "fresh")) {
          core.counters.hits++;
          return { result: this.#answer("hit", key, found.tier, found.entry, options, { revalidated: true }) };
        }
        // Evicted, or a tier above holds another version that was not renewed: fetch it whole.
        if (found !== undefined) discardBody(found.entry);
        return { again: undefined };
      }

      const meta = fetchedMeta(result, core.clock());
      const hooks = core.fillHooks(key, fence, (r) => {
        // A revalidation that brought a new version: the other instances drop theirs.
        if (r.outcome === "published" && cached !== undefined) core.announce(key);
        settle(r.outcome === "published" ? { kind: "published" } : r.outcome === "failed" ? { kind: "error", error: r.error } : { kind: "abandoned" });
      });
      fenceHeld = false; // the fill releases it
      const fill = new SharedFill(toStream(result.body), core.writers(key, meta, core.tiers.length), hooks);
      flight.fill = fill;
      flight.meta = meta;
      settle(undefined);
      const body = fill.subscribe();
      core.counters.misses++;
      if (options.ifNoneMatch != null && meta.etag !== undefined && ifNoneMatchMatches(options.ifNoneMatch, meta.etag)) {
        // The caller has this version already: finish the fill in the background.
        core.track(drain(body).catch(() => {}));
        core.counters.notModified++;
        return { result: Object.assign(new CacheResult("not-modified", meta, "origin", null), { revalidated: cached !== undefined }) };
      }
      return { result: Object.assign(new CacheResult("miss", meta, "origin", body), { revalidated: cached !== undefined }) };
    } finally {
      if (fenceHeld) fence.release();
    }
  }

  async #staleIfError(key: string, options: GetOptions): Promise<GetResult | undefined> {
    const core = this.#core;
    const found = await core.lookup(key);
    if (found === undefined) return undefined;
    if (!this.#withinStaleIfError(found.entry.meta, core.clock())) {
      discardBody(found.entry);
      return undefined;
    }
    core.counters.staleIfErrorServed++;
    core.counters.staleHits++;
    return this.#answer("stale", key, found.tier, found.entry, options);
  }

  #scheduleRefresh(key: string, meta: EntryMeta, fetcher: Fetcher): void {
    if (this.#flights.get(key) !== undefined) return;
    this.#core.background(key, () => refresh(this.#core, key, meta, fetcher));
  }

  #assertOpen(): void {
    if (this.#core.closed) throw new OffheapError("ERR_CLOSED", "the tiered cache is closed");
  }
}

describeStats(TieredCache, tieredMetrics((cache) => (cache as TieredCache).tiers));
