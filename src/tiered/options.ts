/**
 * The generic API's options (`new TieredCache`, `get`, `set`/`writer` metadata) and the
 * checks of its arguments.
 */
import { describeValue, numberArg, optionsArg } from "../primitives/arguments.ts";
import { OffheapError } from "../errors.ts";
import type { InvalidationBus } from "./bus/bus.ts";
import { normalizeEtag } from "./etag.ts";
import { assertExtraFits, assertMetaStrings } from "./meta.ts";
import type { EntryMeta, Store } from "./types.ts";

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
   * instance's local tiers (those without `shared`). See `bus/bus.ts`.
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
  /** The entity tag to store (a bare tag is quoted: `v1` becomes `"v1"`); used to revalidate. */
  etag?: string;
  /** The media type to store and answer with, e.g. `"image/png"`. */
  contentType?: string;
  /** Defaults to now. */
  cachedAt?: number;
  /** Application data kept with the entry (at most 32 KiB of UTF-8); see {@link EntryMeta.extra}. */
  extra?: string;
}

/** Longest cache key, in bytes of UTF-8. */
const MAX_KEY_BYTES = 4096;

/** Throw `ERR_INVALID` unless `t` has every method of a {@link Store}. */
export function assertStore(t: unknown, name: string): void {
  const missing = ["get", "stat", "writer", "delete", "touch", "stats", "close"].filter((m) => typeof (t as Record<string, unknown> | null)?.[m] !== "function");
  if (typeof t !== "object" || t === null || missing.length > 0 || typeof (t as { name?: unknown }).name !== "string") {
    throw new OffheapError("ERR_INVALID", `${name} must be a Store (MemoryStore, FileStore, RedisStore, S3Store or your own), got ${describeValue(t)}${missing.length > 0 && t !== null && typeof t === "object" ? ` without ${missing.join(", ")}` : ""}`);
  }
  if ((t as { closed?: unknown }).closed === true) throw new OffheapError("ERR_INVALID", `${name} is a closed ${(t as Store).name} store: a cache needs open tiers`);
}

export function assertKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) {
    throw new OffheapError("ERR_INVALID", `a cache key must be a non-empty string, got ${typeof key === "string" ? '""' : describeValue(key)}`);
  }
  if (key.length > MAX_KEY_BYTES / 3 && Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new OffheapError("ERR_TOO_LARGE", `a cache key is at most ${MAX_KEY_BYTES} bytes of UTF-8, got ${Buffer.byteLength(key)}`);
  }
}

/** The metadata to store for a caller's {@link SetMeta}, checked; `now` when it gives no `cachedAt`. */
export function entryMetaFrom(meta: SetMeta, now: number): EntryMeta {
  optionsArg("meta", meta);
  const cachedAt = meta.cachedAt === undefined ? now : numberArg("meta.cachedAt (ms since the epoch)", meta.cachedAt);
  const out: EntryMeta = { cachedAt };
  assertMetaStrings(meta, "meta");
  if (meta.etag) out.etag = normalizeEtag(meta.etag);
  if (meta.contentType) out.contentType = meta.contentType;
  if (meta.extra !== undefined) out.extra = meta.extra;
  assertExtraFits(out);
  return out;
}
