import type { StoreStats } from "./stats.ts";

/**
 * The shapes shared by {@link TieredCache} and its stores: entry metadata, the `Store`
 * interface every tier implements, and what a fetcher returns.
 */

/** What is known about a cached body. */
export interface EntryMeta {
  /** Entity tag as the origin gave it (quoted, possibly weak: `"v1"`, `W/"v1"`). */
  etag?: string;
  /** When the body was fetched or last revalidated (ms since the epoch). */
  cachedAt: number;
  /** Body length in bytes, when known (stores fill it in on read). */
  size?: number;
  /** Media type of the body. */
  contentType?: string;
  /**
   * Application data kept with the entry and returned with it, at most 32 KiB of UTF-8.
   * The HTTP face keeps the stored response's status, headers and cache policy here.
   */
  extra?: string;
}

/** A stored body and its metadata, as a store's `get` returns it. */
export interface StoredEntry {
  /** What was stored with the body: when, its etag, type, size and extra. */
  readonly meta: EntryMeta;
  /** The body; read it to the end or cancel it (stores release files and connections then). */
  readonly body: ReadableStream<Uint8Array>;
  /**
   * The whole body, when the store already holds it in memory (the memory tier, small
   * files): then `body` is only built if someone asks for it, and a caller that wants
   * the bytes takes them without a stream.
   */
  readonly bytes?: Uint8Array;
}

/**
 * An in-progress write into one store. Nothing is visible to readers until `commit()`
 * resolves; `abort()` discards what was written. Exactly one of the two ends a writer.
 */
export interface StoreWriter {
  /** Append a chunk. The store copies or consumes it before the returned promise resolves. */
  write(chunk: Uint8Array): void | Promise<void>;
  /** Publish the entry atomically (replacing any older one for the key). */
  commit(): Promise<void>;
  /** Discard the entry. Idempotent; also safe after a failed write. */
  abort(): Promise<void>;
}

/** One tier of a {@link TieredCache}: a place that keeps bodies by key. */
export interface Store {
  /** Short name for stats and `Cache-Status` details, e.g. `"memory"`, `"file"`. */
  readonly name: string;
  /**
   * True for a store every instance of the cache reads (Redis, S3): an invalidation from
   * another instance leaves it alone. Local stores (memory, files) leave it unset.
   */
  readonly shared?: boolean;
  /**
   * The entry for `key`, or `undefined`. Never returns a partial or uncommitted body.
   * @throws `ERR_INVALID` for a key that is not a non-empty string, `ERR_TOO_LARGE` for one over 4096 bytes of UTF-8; `ERR_CLOSED` after close; `ERR_SYSTEM` when the backing files or
   * service fail (a damaged entry is dropped and reads as `undefined`, never returned).
   */
  get(key: string): Promise<StoredEntry | undefined> | StoredEntry | undefined;
  /**
   * The metadata for `key` without opening the body, or `undefined`.
   * @throws `ERR_INVALID` for a key that is not a non-empty string, `ERR_TOO_LARGE` for one over 4096 bytes of UTF-8; `ERR_CLOSED`; `ERR_SYSTEM` as {@link Store.get}.
   */
  stat(key: string): Promise<EntryMeta | undefined> | EntryMeta | undefined;
  /**
   * Start writing `key`; `meta.size` is ignored (the store counts the bytes).
   * @throws `ERR_INVALID` for a key that is not a non-empty string, `ERR_TOO_LARGE` for one over 4096 bytes of UTF-8; `ERR_INVALID` naming the field for bad `meta`, `ERR_TOO_LARGE`
   * for a `meta.extra` over its limit; `ERR_CLOSED`; `ERR_READONLY` on a read-only store.
   */
  writer(key: string, meta: EntryMeta): StoreWriter;
  /**
   * Remove `key`; true when something was removed.
   * @throws `ERR_INVALID` for a key that is not a non-empty string, `ERR_TOO_LARGE` for one over 4096 bytes of UTF-8; `ERR_CLOSED`; `ERR_READONLY`; `ERR_SYSTEM` as {@link Store.get}.
   */
  delete(key: string): Promise<boolean> | boolean;
  /**
   * Replace the metadata of an existing entry (same body), but only when its stored etag
   * equals `meta.etag` (both may be absent): a revalidation must not relabel another
   * version. False when `key` is absent or holds another version.
   * @throws as {@link Store.writer}, and `ERR_SYSTEM` as {@link Store.get}.
   */
  touch(key: string, meta: EntryMeta): Promise<boolean> | boolean;
  /**
   * What the store counts (each store documents its own extension of {@link StoreStats}).
   * @throws `ERR_CLOSED` after close.
   */
  stats(): StoreStats;
  /**
   * Release files and connections. Idempotent.
   * @throws nothing: a failure to release is counted, not thrown.
   */
  close(): Promise<void> | void;
}

/** A fetcher's answer "the copy you have (etag) is still current". */
export const NOT_MODIFIED: unique symbol = Symbol.for("offheap.tiered.NOT_MODIFIED");
/** A fetcher's answer "this key does not exist at the origin" (cached for `negative` ms). */
export const NOT_FOUND: unique symbol = Symbol.for("offheap.tiered.NOT_FOUND");

/** A body a fetcher or `set` may give. */
export type CacheBody = ReadableStream<Uint8Array> | Uint8Array | ArrayBuffer | string | Blob | Response;

/** What a fetcher returns. */
export type FetchResult =
  | { body: CacheBody; etag?: string | null; contentType?: string | null }
  | typeof NOT_MODIFIED
  | typeof NOT_FOUND;

/** Arguments a fetcher receives. */
export interface FetchContext {
  /** The key being fetched, as given to {@link TieredCache.get}. */
  key: string;
  /** The cached entry's etag when revalidating, else undefined. */
  etag: string | undefined;
  /** Aborted on timeout, on the caller's signal (for foreground fetches) and on close. */
  signal: AbortSignal;
}

/** Loads a key from the origin. */
export type Fetcher = (ctx: FetchContext) => Promise<FetchResult>;

/** Outcome of {@link TieredCache.get}. */
export type GetStatus = "hit" | "stale" | "miss" | "not-modified" | "not-found";

/** What {@link TieredCache.get} resolves to. */
export interface GetResult {
  /** What the cache did: served a fresh copy, a stale one, fetched, revalidated, or knows the key is absent. */
  status: GetStatus;
  /**
   * The body (null for `not-modified` and `not-found`). Read it to the end or cancel it —
   * or take it whole with {@link bytes} or {@link text} instead (one of the three, once).
   */
  readonly body: ReadableStream<Uint8Array> | null;
  /** The whole body (null when there is none). Without a stream when the tier held the bytes. */
  bytes(): Promise<Uint8Array | null>;
  /** The whole body as UTF-8 text (null when there is none). */
  text(): Promise<string | null>;
  /** The entry's metadata (for `not-found`, only `cachedAt`). */
  meta: EntryMeta;
  /**
   * Where the answer came from: a store's name, `"origin"`, or `"negative"` for a cached
   * not-found. Used for the `Cache-Status` header.
   */
  source: string;
  /** True when an expired entry was revalidated with the origin for this answer. */
  revalidated?: boolean;
  /** True when this call waited for another call's origin fetch. */
  collapsed?: boolean;
}
