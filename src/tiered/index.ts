/**
 * TieredCache: stream-based cache middleware over ordered tiers (memory, file, Redis, S3)
 * with ETag revalidation, stale-while-revalidate, stale-if-error and negative caching.
 */
export { TieredCache } from "./cache.ts";
export type { TieredCacheOptions, GetOptions, SetMeta } from "./options.ts";
export { MemoryStore, type MemoryStoreOptions } from "./stores/memory-store.ts";
export { FileStore, type FileStoreOptions } from "./stores/file-store.ts";
export { RedisStore, type RedisStoreOptions } from "./stores/redis-store.ts";
export { RedisBus, type RedisBusOptions } from "./bus/redis-bus.ts";
export type { InvalidationBus, BusListener } from "./bus/bus.ts";
export { S3Store, type S3StoreOptions } from "./stores/s3-store.ts";
export { type ProxyHandler, type ProxyOptions } from "./http/proxy.ts";
export { type FetcherHandler } from "./http/fetcher-handler.ts";
export type { TieredCacheStats, StoreStats, MemoryStoreStats, FileStoreStats, RedisStoreStats, S3StoreStats } from "./stats.ts";
export { ifNoneMatchMatches, normalizeEtag } from "./etag.ts";
export {
  NOT_FOUND,
  NOT_MODIFIED,
  type CacheBody,
  type EntryMeta,
  type Fetcher,
  type FetchContext,
  type FetchResult,
  type GetResult,
  type GetStatus,
  type Store,
  type StoredEntry,
  type StoreWriter,
} from "./types.ts";
