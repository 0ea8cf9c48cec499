/**
 * What a layer over a {@link TieredCache} (the HTTP face) may do with its tiers: the
 * cache's storage, fences and background work without its operator-level freshness
 * rules. Declared here so that neither side imports the other's implementation.
 */
import type { Fence } from "./fence.ts";
import type { SharedFill } from "./fill.ts";
import type { EntryMeta, StoredEntry } from "./types.ts";

/** The cache's own settings a layer reads (ms). */
export interface HostLimits {
  fresh: number;
  negative: number;
  staleWhileRevalidate: number;
  staleIfError: number;
  timeout: number;
}

/** Counters a layer adds to the cache's stats. */
export type HostCounter = "hits" | "staleHits" | "misses" | "notModified" | "originFetches" | "originErrors" | "originTimeouts" | "collapsed" | "revalidations" | "staleIfErrorServed" | "passes" | "invalidations";

/** The storage side of a cache, as a layer sees it. */
export interface CacheHost {
  readonly limits: HostLimits;
  /** The cache's clock (ms since the epoch). */
  readonly clock: () => number;
  /** Aborted when the cache closes. */
  readonly closeSignal: AbortSignal;
  /**
   * The entry for `key` from the first tier that has it, and that tier's name. A body from
   * a lower tier fills the tiers above as it is read to the end. `trusted` is false for a
   * local copy that may have missed an invalidation (see `bus/bus.ts`): validate it before use.
   */
  read(key: string): Promise<{ entry: StoredEntry; source: string; trusted: boolean } | undefined>;
  /** A fence on `key` from now (see `fence.ts`). */
  fence(key: string): Fence;
  /**
   * Write `source` under `key` in every tier as it is read; it publishes, through `fence`,
   * once read to the end, and releases the fence (and calls `onEnd`) when it ends.
   */
  fill(key: string, meta: EntryMeta, fence: Fence, source: ReadableStream<Uint8Array>, onEnd?: (published: boolean) => void): SharedFill;
  /** Write a small entry under `key` in every tier through `fence` (which stays held). */
  put(key: string, meta: EntryMeta, body: Uint8Array, fence: Fence): Promise<void>;
  /** Replace the metadata of `key`'s entry (same body) through `fence` (which stays held). */
  touch(key: string, meta: EntryMeta, fence: Fence): Promise<void>;
  /** Remove `key` from every tier, superseding the fills in flight for it (and tell the other instances). */
  remove(key: string): Promise<void>;
  /** Tell the other instances (through the bus) that `key` changed. */
  announce(key: string): void;
  /** Run `task` in the background: one per key at a time, a bounded number at once, awaited by close. */
  background(key: string, task: () => Promise<void>): void;
  /** Keep `work` going in the background; close waits for it. */
  track(work: Promise<unknown>): void;
  /** Count an event in the cache's stats. */
  count(counter: HostCounter): void;
}
