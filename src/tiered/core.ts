/**
 * The storage side of a TieredCache: its tiers read top-down (a lower-tier hit promoted
 * as it is read), fills and metadata updates through fences, removal, the negative cache,
 * background work, the invalidation bus's view of which local copies can be trusted, and
 * the counters. It is the `CacheHost` the HTTP face runs on; `TieredCache` adds the
 * generic API's freshness rules on top. Neither the HTTP face nor the generic flow knows
 * the other.
 */
import { OffheapError, isOffheapError } from "../errors.ts";
import { BackgroundWork } from "./background.ts";
import type { InvalidationBus } from "./bus/bus.ts";
import { Fence, Fences } from "./fence.ts";
import { FanOut, fillStream, SharedFill, type FillHooks, type FillReport, type TierWriter } from "./fill.ts";
import type { CacheHost, HostCounter, HostLimits } from "./host.ts";
import { NegativeCache } from "./negative.ts";
import type { EntryMeta, Store, StoredEntry } from "./types.ts";

/** The counters of a TieredCache (see `TieredCacheStats` for what each means). */
export function newCounters() {
  return {
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
}

/** The counters object. */
export type Counters = ReturnType<typeof newCounters>;

/** What the core is made from. */
export interface CoreOptions {
  tiers: Store[];
  limits: HostLimits;
  clock: () => number;
  workers: number;
  maxNegativeKeys: number;
  bus: InvalidationBus | undefined;
  busFallbackFresh: number;
}

/** A tier's entry and which tier it came from. */
export interface TierHit {
  tier: number;
  entry: StoredEntry;
}

/** The tiers of one cache and what is done to them. */
export class TierCore implements CacheHost {
  readonly tiers: readonly Store[];
  readonly limits: HostLimits;
  readonly clock: () => number;
  readonly counters: Counters = newCounters();
  readonly negative: NegativeCache;
  readonly work: BackgroundWork;
  readonly #fences = new Fences();
  readonly #closeController = new AbortController();
  readonly #bus: InvalidationBus | undefined;
  readonly #busFallback: number;
  #busUp = false;
  /** Local copies stored or validated before this moment may have missed an invalidation. */
  #busFloor = 0;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(o: CoreOptions) {
    this.tiers = o.tiers;
    this.limits = o.limits;
    this.clock = o.clock;
    this.negative = new NegativeCache(o.limits.negative, o.maxNegativeKeys);
    this.work = new BackgroundWork(o.workers, () => void this.counters.refreshErrors++);
    this.#bus = o.bus;
    this.#busFallback = o.busFallbackFresh;
    this.#bus?.start({
      invalidate: (key) => void this.#dropLocal(key),
      invalidateAll: () => void (this.#busFloor = this.clock()),
      connection: (up) => {
        this.#busUp = up;
        if (up) this.#busFloor = this.clock();
      },
    });
  }

  /** Aborted when the cache closes. */
  get closeSignal(): AbortSignal {
    return this.#closeController.signal;
  }

  /** True once {@link close} began. */
  get closed(): boolean {
    return this.#closed;
  }

  // --- reading ------------------------------------------------------------------------

  /** The first tier's entry for `key` (no promotion); a failing store counts as a miss. */
  async lookup(key: string): Promise<TierHit | undefined> {
    for (let i = 0; i < this.tiers.length; i++) {
      let entry: StoredEntry | undefined;
      try {
        entry = await this.tiers[i]!.get(key);
      } catch {
        this.counters.storeErrors++;
        entry = undefined;
      }
      if (entry !== undefined) return { tier: i, entry };
    }
    return undefined;
  }

  async read(key: string): Promise<{ entry: StoredEntry; source: string; trusted: boolean } | undefined> {
    if (this.closed) throw new OffheapError("ERR_CLOSED", "the tiered cache is closed");
    const found = await this.lookup(key);
    if (found === undefined) return undefined;
    const source = this.tiers[found.tier]!.name;
    const trusted = this.trusted(found.tier, found.entry.meta, this.clock());
    if (found.tier === 0) return { entry: found.entry, source, trusted };
    return { entry: { meta: found.entry.meta, body: this.promote(key, found.tier, found.entry) }, source, trusted };
  }

  /** Stream a lower tier's entry to the caller while writing it into the tiers above. */
  promote(key: string, tier: number, entry: StoredEntry): ReadableStream<Uint8Array> {
    const fence = this.#fences.begin(key);
    const writers = this.writers(key, entry.meta, tier);
    if (writers.length === 0) {
      fence.release();
      return entry.body;
    }
    this.counters.promotions++;
    return fillStream(entry.body, writers, this.fillHooks(key, fence));
  }

  /** Whether tier `tier`'s copy can't have missed an invalidation (see `bus/bus.ts`). */
  trusted(tier: number, meta: EntryMeta, now: number): boolean {
    if (this.#bus === undefined || this.tiers[tier]?.shared === true) return true;
    if (!this.#busUp) return now - meta.cachedAt <= this.#busFallback;
    return meta.cachedAt >= this.#busFloor;
  }

  // --- writing --------------------------------------------------------------------------

  fence(key: string): Fence {
    return this.#fences.begin(key);
  }

  fill(key: string, meta: EntryMeta, fence: Fence, source: ReadableStream<Uint8Array>, onEnd?: (published: boolean) => void): SharedFill {
    return new SharedFill(source, this.writers(key, meta, this.tiers.length), this.fillHooks(key, fence, onEnd === undefined ? undefined : (r) => onEnd(r.outcome === "published")));
  }

  async put(key: string, meta: EntryMeta, body: Uint8Array, fence: Fence): Promise<void> {
    const fan = new FanOut(this.writers(key, meta, this.tiers.length), {
      publish: (commitAll) => (this.closed ? Promise.resolve(false) : fence.publish(commitAll)),
      done: () => {},
      onStoreError: (e) => this.noteStoreError(e),
    });
    if (body.length > 0) await fan.write(body);
    await fan.finish();
  }

  async touch(key: string, meta: EntryMeta, fence: Fence): Promise<void> {
    await fence.publish(() => this.touchTiers(key, meta));
  }

  /**
   * A writer for `key` that supersedes the fills in flight and publishes after any of
   * theirs already landing (`set`, `writer`).
   */
  startWrite(key: string, meta: EntryMeta): { fan: FanOut; report: Promise<FillReport> } {
    this.negative.forget(key);
    const fence = this.#fences.begin(key, true);
    let done!: (r: FillReport) => void;
    const report = new Promise<FillReport>((r) => (done = r));
    const fan = new FanOut(this.writers(key, meta, this.tiers.length), this.fillHooks(key, fence, done));
    return { fan, report };
  }

  /** The hooks of a fill of `key` through `fence`; `after` hears how it ended. */
  fillHooks(key: string, fence: Fence, after?: (r: FillReport) => void): FillHooks {
    return {
      publish: (commitAll: () => Promise<void>) => (this.closed ? Promise.resolve(false) : fence.publish(commitAll)),
      done: (r: FillReport) => {
        fence.release();
        if (r.outcome === "published") this.counters.published++;
        else if (fence.superseded) this.counters.superseded++;
        else this.counters.abandoned++;
        after?.(r);
      },
      onStoreError: (e: unknown, w: TierWriter | undefined) => {
        this.noteStoreError(e);
        if (w !== undefined) void this.#safe(() => w.store.delete(key), false);
      },
    };
  }

  /**
   * Writers for tiers `0 .. below-1`. A store that refuses (or later fails) is skipped, and
   * the key is removed from it so its older copy cannot shadow the new one below it.
   */
  writers(key: string, meta: EntryMeta, below: number): TierWriter[] {
    const out: TierWriter[] = [];
    for (let i = 0; i < below; i++) {
      const store = this.tiers[i]!;
      try {
        out.push({ store, writer: store.writer(key, meta) });
      } catch (e) {
        this.noteStoreError(e);
        void this.#safe(() => store.delete(key), false);
      }
    }
    return out;
  }

  async touchTiers(key: string, meta: EntryMeta): Promise<void> {
    await Promise.all(this.tiers.map((t) => this.#safe(() => t.touch(key, meta), false)));
  }

  async removeFromTiers(key: string): Promise<boolean> {
    const removed = await Promise.all(this.tiers.map((t) => this.#safe(() => t.delete(key), false)));
    return removed.some(Boolean);
  }

  /** Supersede the fills of `key`, wait for the publishes already landing, then remove it everywhere. */
  async removeKey(key: string): Promise<boolean> {
    this.negative.forget(key);
    await this.#fences.supersede(key);
    return this.removeFromTiers(key);
  }

  async remove(key: string): Promise<void> {
    await this.removeKey(key);
    this.announce(key);
  }

  announce(key: string): void {
    this.#bus?.publish(key);
  }

  /** Another instance changed `key`: forget the local copies (the shared tiers have the news). */
  async #dropLocal(key: string): Promise<void> {
    if (this.closed) return;
    this.negative.forget(key);
    await this.#fences.supersede(key);
    await Promise.all(this.tiers.map((t) => (t.shared === true ? false : this.#safe(() => t.delete(key), false))));
  }

  // --- the rest -------------------------------------------------------------------------

  background(key: string, task: () => Promise<void>): void {
    if (!this.closed) this.work.run(key, task);
  }

  track(work: Promise<unknown>): void {
    this.work.track(work);
  }

  count(counter: HostCounter): void {
    this.counters[counter]++;
  }

  noteStoreError(e: unknown): void {
    if (isOffheapError(e, "ERR_TOO_LARGE")) this.counters.tooLarge++;
    else this.counters.storeErrors++;
  }

  /** Stop: abort origin fetches, stop the bus, wait for background work, close every tier. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      this.#closeController.abort(new OffheapError("ERR_CLOSED", "the tiered cache was closed"));
      await this.#bus?.close().catch(() => {});
      await this.work.stop();
      for (const t of this.tiers) await this.#safe(() => t.close(), undefined);
    })();
    return this.#closing;
  }

  async #safe<T>(fn: () => Promise<T> | T, fallback: T): Promise<T> {
    try {
      return await fn();
    } catch {
      this.counters.storeErrors++;
      return fallback;
    }
  }
}
