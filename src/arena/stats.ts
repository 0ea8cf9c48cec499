/** What an ArenaCache reports in `stats()`, and how that appears as metrics (`offheap_arena_*`). */
import type { MetricsDescription } from "../metrics/describe.ts";
import type { CachePlan } from "./config.ts";
import { C_BYTES, C_COMPACTIONS, C_EVICT, C_HITS, C_MISSES, C_MOVED, C_REJECTED, C_RESET_DROPS, C_RESETS, C_SETS, C_TAKEOVERS, REASONS, type Shard } from "./shard.ts";

/** What `ArenaCache.stats()` reports: counters since the cache was made, and gauges. */
export interface ArenaStats {
  /** Entries held. */
  entries: number;
  /** Bytes charged for the entries held (keys, values, overhead). */
  bytes: number;
  /** Configured byte bound. */
  maxBytes: number;
  /** Most entries the index holds. */
  maxEntries: number;
  /** Lookups that found a live entry. */
  hits: number;
  /** Lookups that found nothing or an expired entry. */
  misses: number;
  /** Entries stored. */
  sets: number;
  /** Sets refused because the entry can never fit. */
  rejected: number;
  /** Entries removed, for any reason (the sum of the four below). */
  evictions: number;
  /** Entries evicted to make room. */
  evictionsCapacity: number;
  /** Entries dropped because their TTL ran out. */
  evictionsExpired: number;
  /** Entries removed by delete() or clear(). */
  evictionsDeleted: number;
  /** Entries replaced by a set() of the same key. */
  evictionsReplaced: number;
  /** Generations recycled. */
  compactions: number;
  /** Bytes of live entries moved forward by recycling. */
  movedBytes: number;
  /** Stripe locks taken over from a holder that died (a process killed, a Worker terminated mid-call). */
  lockTakeovers: number;
  /** Stripes emptied because a holder died in the middle of a change. */
  stripeResets: number;
  /** Entries those resets dropped. */
  resetDrops: number;
  /** Loader calls made by getOrLoad. */
  loads: number;
  /** Loader calls that failed. */
  loadErrors: number;
  /** Loader calls under way. */
  loadsInFlight: number;
  /** getOrLoad misses that waited for another thread's or process's load of the key instead of loading. */
  loadWaits: number;
  /** Stripes (independent index and arena each). */
  stripes: number;
  /** Bytes per slab. */
  slabBytes: number;
  /** Bytes of arena memory reserved. */
  arenaBytes: number;
}

/** The metrics description of {@link ArenaStats}. */
export const ARENA_METRICS: MetricsDescription<ArenaStats> = {
  kind: "arena",
  specs: {
    entries: { type: "gauge", help: "Entries held." },
    bytes: { type: "gauge", help: "Bytes charged for the entries held (keys, values, overhead)." },
    maxBytes: { type: "gauge", family: "max_bytes", help: "Configured byte bound." },
    maxEntries: { type: "gauge", family: "max_entries", help: "Most entries the index holds." },
    hits: { type: "counter", help: "Lookups that found a live entry." },
    misses: { type: "counter", help: "Lookups that found nothing or an expired entry." },
    sets: { type: "counter", help: "Entries stored." },
    rejected: { type: "counter", help: "Sets refused because the entry can never fit." },
    evictions: { type: "counter", help: "Entries removed.", skip: true },
    evictionsCapacity: { type: "counter", family: "evictions", labels: { reason: "capacity" }, help: "Entries removed, by reason." },
    evictionsExpired: { type: "counter", family: "evictions", labels: { reason: "expired" }, help: "Entries removed, by reason." },
    evictionsDeleted: { type: "counter", family: "evictions", labels: { reason: "deleted" }, help: "Entries removed, by reason." },
    evictionsReplaced: { type: "counter", family: "evictions", labels: { reason: "replaced" }, help: "Entries removed, by reason." },
    compactions: { type: "counter", help: "Generations recycled." },
    movedBytes: { type: "counter", family: "moved_bytes", help: "Bytes of live entries moved forward by recycling." },
    lockTakeovers: { type: "counter", family: "lock_takeovers", help: "Stripe locks taken over from a holder that died." },
    stripeResets: { type: "counter", family: "stripe_resets", help: "Stripes emptied because a holder died in the middle of a change." },
    resetDrops: { type: "counter", family: "reset_drops", help: "Entries dropped by stripe resets." },
    loads: { type: "counter", help: "Loader calls made by getOrLoad." },
    loadErrors: { type: "counter", family: "load_errors", help: "Loader calls that failed." },
    loadsInFlight: { type: "gauge", family: "loads_in_flight", help: "Loader calls under way." },
    loadWaits: { type: "counter", family: "load_waits", help: "getOrLoad misses that waited for another thread's or process's load instead of loading." },
    stripes: { type: "gauge", help: "Stripes (independent index and arena each)." },
    slabBytes: { type: "gauge", family: "slab_bytes", help: "Bytes per slab." },
    arenaBytes: { type: "gauge", family: "arena_bytes", help: "Bytes of arena memory reserved." },
  },
};

/** The handle's own load counters, which `stats()` adds to the stripes' shared ones. */
export type LoadCounts = Pick<ArenaStats, "loads" | "loadErrors" | "loadsInFlight" | "loadWaits">;

/** `stats()` of a cache with these stripes: their counters summed, the plan's gauges, the handle's loads. */
export function arenaStats(shards: readonly Shard[], plan: CachePlan, loads: LoadCounts): ArenaStats {
  const sum = (i: number) => {
    let n = 0;
    for (const s of shards) n += s.ctr[i]!;
    return n;
  };
  let entries = 0;
  for (const s of shards) entries += s.count;
  const ev = REASONS.map((_, r) => sum(C_EVICT + r));
  const cfg = plan.shard;
  return {
    entries,
    bytes: sum(C_BYTES),
    maxBytes: plan.maxBytes,
    maxEntries: cfg.maxEntries * shards.length,
    hits: sum(C_HITS),
    misses: sum(C_MISSES),
    sets: sum(C_SETS),
    rejected: sum(C_REJECTED),
    evictions: ev[0]! + ev[1]! + ev[2]! + ev[3]!,
    evictionsCapacity: ev[0]!,
    evictionsExpired: ev[1]!,
    evictionsDeleted: ev[2]!,
    evictionsReplaced: ev[3]!,
    compactions: sum(C_COMPACTIONS),
    movedBytes: sum(C_MOVED),
    lockTakeovers: sum(C_TAKEOVERS),
    stripeResets: sum(C_RESETS),
    resetDrops: sum(C_RESET_DROPS),
    ...loads,
    stripes: shards.length,
    slabBytes: cfg.slabBytes,
    arenaBytes: cfg.slabBytes * cfg.slabs * shards.length,
  };
}
