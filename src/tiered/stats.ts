/**
 * What a TieredCache and its stores report in `stats()`, and how that appears as metrics:
 * `offheap_tiered_*` for the cache, `offheap_<store>_store_*{tier="0"}` for each tier.
 */
import type { MetricsDescription, StatSpecs } from "../metrics/describe.ts";

/** What `TieredCache.stats()` reports: counters since the cache was made, gauges, and each tier's own. */
export interface TieredCacheStats {
  /** `get` calls. */
  gets: number;
  /** Answers from a fresh stored entry. */
  hits: number;
  /** Answers from a stale entry (stale-while-revalidate or stale-if-error). */
  staleHits: number;
  /** Answers fetched from the origin. */
  misses: number;
  /** Answers `not-modified` (the caller's etag matched). */
  notModified: number;
  /** Answers `not-found`. */
  notFound: number;
  /** `not-found` answers from the negative cache. */
  negativeHits: number;
  /** Calls of the fetcher, or requests to the HTTP origin. */
  originFetches: number;
  /** Origin calls that failed. */
  originErrors: number;
  /** Origin calls that ran out of time. */
  originTimeouts: number;
  /** Callers that waited for another caller's origin fetch. */
  collapsed: number;
  /** Lower-tier hits written into the tiers above. */
  promotions: number;
  /** Expired entries revalidated with the origin. */
  revalidations: number;
  /** Background refreshes run. */
  refreshes: number;
  /** Background refreshes that failed. */
  refreshErrors: number;
  /** Stale entries served because the origin failed. */
  staleIfErrorServed: number;
  /** Fills published into the tiers. */
  published: number;
  /** Fills abandoned (the body was not read to the end). */
  abandoned: number;
  /** Fills that lost to a later delete, set or invalidation. */
  superseded: number;
  /** Store calls that failed (the store was skipped). */
  storeErrors: number;
  /** Entries a store refused as too large. */
  tooLarge: number;
  /** HTTP requests passed to the origin uncached (unsafe methods, HEAD misses, long URIs). */
  passes: number;
  /** URIs invalidated by unsafe methods. */
  invalidations: number;
  /** Origin fetches under way. */
  inFlight: number;
  /** Background refreshes waiting for a worker. */
  refreshQueued: number;
  /** Background refreshes running. */
  refreshRunning: number;
  /** Keys remembered as not found. */
  negativeKeys: number;
  /** Each tier's own stats, top first. */
  tiers: { name: string; stats: StoreStats }[];
}

/** What every store counts. */
export interface StoreStats {
  /** Reads that found an entry. */
  hits: number;
  /** Reads that found none. */
  misses: number;
  /** Entries published. */
  writes: number;
  /** Writes discarded before publishing. */
  aborts: number;
  /** Metadata rewrites (revalidations). */
  touches: number;
}

/** `MemoryStore.stats()`. */
export interface MemoryStoreStats extends StoreStats {
  /** Writes refused because the body was larger than `maxEntryBytes` or the arena. */
  tooLarge: number;
  /** Entries the policy evicted. */
  evictions: number;
  /** Entries held. */
  entries: number;
  /** Bytes held (keys, bodies, metadata, overhead). */
  bytes: number;
  /** The configured bound. */
  maxBytes: number;
}

/** `FileStore.stats()`. */
export interface FileStoreStats extends StoreStats {
  /** Entries the policy evicted. */
  evictions: number;
  /** Entries removed by `delete`. */
  deletes: number;
  /** Entries that failed their checks (dropped). */
  corrupt: number;
  /** Leftover temp files removed on open. */
  sweptTemps: number;
  /** Writes refused as larger than `maxBytes`. */
  tooLarge: number;
  /** Entry files held. */
  entries: number;
  /** Bytes of entry files held. */
  bytes: number;
  /** The configured bound. */
  maxBytes: number;
  /** Writes in progress. */
  openWriters: number;
  /** Entry descriptors kept open. */
  openFiles: number;
}

/** `RedisStore.stats()`. */
export interface RedisStoreStats extends StoreStats {
  /** Entries removed by `delete`. */
  deletes: number;
  /** Entries or chunks that failed their checks. */
  corrupt: number;
}

/** `S3Store.stats()`. */
export interface S3StoreStats extends StoreStats {
  /** Entries removed by `delete`. */
  deletes: number;
  /** Entry objects that failed their checks. */
  corrupt: number;
  /** Replaced bodies waiting out `graceMs` before deletion. */
  pendingDeletes: number;
}

const counter = (help: string) => ({ type: "counter" as const, help });
const gauge = (help: string) => ({ type: "gauge" as const, help });

/** The metrics description of {@link TieredCacheStats}; `children` gives the tiers with a `tier` label. */
export function tieredMetrics(tiers: (cache: object) => readonly { name: string; stats(): object }[]): MetricsDescription<TieredCacheStats> {
  return {
    kind: "tiered",
    specs: {
      gets: counter("get calls."),
      hits: counter("Answers from a fresh stored entry."),
      staleHits: counter("Answers from a stale entry (stale-while-revalidate or stale-if-error)."),
      misses: counter("Answers fetched from the origin."),
      notModified: counter("Answers not-modified (the caller's etag matched)."),
      notFound: counter("Answers not-found."),
      negativeHits: counter("not-found answers from the negative cache."),
      originFetches: counter("Calls of the fetcher or requests to the HTTP origin."),
      originErrors: counter("Origin calls that failed."),
      originTimeouts: counter("Origin calls that ran out of time."),
      collapsed: counter("Callers that waited for another caller's origin fetch."),
      promotions: counter("Lower-tier hits written into the tiers above."),
      revalidations: counter("Expired entries revalidated with the origin."),
      refreshes: counter("Background refreshes run."),
      refreshErrors: counter("Background refreshes that failed."),
      staleIfErrorServed: counter("Stale entries served because the origin failed."),
      published: counter("Fills published into the tiers."),
      abandoned: counter("Fills abandoned because the body was not read to the end."),
      superseded: counter("Fills that lost to a later delete, set or invalidation."),
      storeErrors: counter("Store calls that failed (the store was skipped)."),
      tooLarge: counter("Entries a store refused as too large."),
      passes: counter("HTTP requests passed to the origin uncached."),
      invalidations: counter("URIs invalidated by unsafe methods."),
      inFlight: gauge("Origin fetches under way."),
      refreshQueued: gauge("Background refreshes waiting for a worker."),
      refreshRunning: gauge("Background refreshes running."),
      negativeKeys: gauge("Keys remembered as not found."),
    },
    children: (cache) => tiers(cache).map((t, i) => ({ labels: { tier: String(i) }, source: t })),
  };
}

const STORE_SPECS: StatSpecs<StoreStats> = {
  hits: counter("Reads that found an entry."),
  misses: counter("Reads that found none."),
  writes: counter("Entries published."),
  aborts: counter("Writes discarded before publishing."),
  touches: counter("Metadata rewrites (revalidations)."),
};

/** The metrics description of {@link MemoryStoreStats}. */
export const MEMORY_STORE_METRICS: MetricsDescription<MemoryStoreStats> = {
  kind: "memory_store",
  specs: {
    ...STORE_SPECS,
    tooLarge: counter("Writes refused as too large."),
    evictions: counter("Entries the policy evicted."),
    entries: gauge("Entries held."),
    bytes: gauge("Bytes held (keys, bodies, metadata, overhead)."),
    maxBytes: { type: "gauge", family: "max_bytes", help: "The configured bound." },
  },
};

/** The metrics description of {@link FileStoreStats}. */
export const FILE_STORE_METRICS: MetricsDescription<FileStoreStats> = {
  kind: "file_store",
  specs: {
    ...STORE_SPECS,
    evictions: counter("Entries the policy evicted."),
    deletes: counter("Entries removed by delete."),
    corrupt: counter("Entries that failed their checks (dropped)."),
    sweptTemps: { type: "counter", family: "swept_temps", help: "Leftover temp files removed on open." },
    tooLarge: counter("Writes refused as larger than maxBytes."),
    entries: gauge("Entry files held."),
    bytes: gauge("Bytes of entry files held."),
    maxBytes: { type: "gauge", family: "max_bytes", help: "The configured bound." },
    openWriters: gauge("Writes in progress."),
    openFiles: gauge("Entry descriptors kept open."),
  },
};

/** The metrics description of {@link RedisStoreStats}. */
export const REDIS_STORE_METRICS: MetricsDescription<RedisStoreStats> = {
  kind: "redis_store",
  specs: { ...STORE_SPECS, deletes: counter("Entries removed by delete."), corrupt: counter("Entries or chunks that failed their checks.") },
};

/** The metrics description of {@link S3StoreStats}. */
export const S3_STORE_METRICS: MetricsDescription<S3StoreStats> = {
  kind: "s3_store",
  specs: {
    ...STORE_SPECS,
    deletes: counter("Entries removed by delete."),
    corrupt: counter("Entry objects that failed their checks."),
    pendingDeletes: gauge("Replaced bodies waiting out graceMs before deletion."),
  },
};
