/**
 * What an ArenaCache takes: the options of each way to get a handle (`new`, `open`,
 * `attach`), of its calls, and the handle a Worker attaches with; and their checks, made
 * before any memory is allocated or any file is touched.
 */
import { OffheapError } from "../errors.ts";
import { functionArg, integerArg, oneOfArg, optionalArg, optionsArg, pathArg } from "../primitives/arguments.ts";
import { lockTimeoutOption } from "../primitives/common-options.ts";
import { POLICY_NAMES, type PolicyName } from "../policy/index.ts";
import { codecs, type Codec } from "./codecs.ts";
import { planCache, ttlArg } from "./config.ts";
import type { OpenRequest } from "./file.ts";
import type { EvictionReason, ShardBuffers, ShardConfig } from "./shard.ts";

/** Options of every kind of handle: how this thread encodes, listens and waits. */
export interface HandleOptions<V> {
  /** How values become bytes. Default {@link codecs.bytes}. Per handle: each thread may bring its own. */
  codec?: Codec<V>;
  /** Called after an entry leaves the cache by a call of this handle, outside any lock. */
  onEvict?: (key: string, value: V, reason: EvictionReason) => void;
  /** Clock (ms since the epoch), as TieredCache's `clock`. Default `Date.now`; tests pass their own. */
  clock?: () => number;
  /**
   * Shared caches: the longest a call waits for a stripe that another thread or process
   * holds and that is still running, in ms; then `ERR_TIMEOUT`. A holder that died is
   * detected within milliseconds and never waited for. Default 5000.
   */
  lockTimeout?: number;
  /**
   * Shared caches: how long `getOrLoad` waits for another thread's or process's load of the
   * same key before loading it itself, in ms. Default 10,000.
   */
  loadLease?: number;
}

/** Options for {@link ArenaCache}. */
export interface ArenaCacheOptions<V> extends HandleOptions<V> {
  /** Upper bound of {@link ArenaCache.bytes}: keys, values and per-entry overhead. */
  maxBytes: number;
  /** Default time to live in ms for every entry; 0 or omitted: entries don't expire. */
  ttl?: number;
  /** Eviction policy. Default `"s3-fifo"`. */
  policy?: PolicyName;
  /**
   * Keep everything in SharedArrayBuffers so Workers can {@link ArenaCache.attach}. Each
   * stripe is guarded by a mutex that records its holder: a Worker terminated in the middle
   * of a call is detected and its stripe recovered (see {@link ArenaCache.open}).
   */
  shared?: boolean;
  /** Independent stripes, each with its own lock. Default 1, or up to 16 when shared. */
  stripes?: number;
  /**
   * Most entries held at once (index and metadata are preallocated for this many).
   * Default `maxBytes / 128`; smaller entries then meet this limit first.
   */
  maxEntries?: number;
  /** Size of one arena slab (a generation); also the largest record. Default maxBytes/8 per stripe, 256 B .. 4 MiB. */
  slabBytes?: number;
}

/**
 * Options for {@link ArenaCache.open}. Layout options (`maxBytes`, `ttl`, `policy`,
 * `stripes`, `maxEntries`, `slabBytes`) are needed to create the file; on an existing file
 * the ones omitted are the file's, and one that differs is `ERR_MISMATCH`.
 */
export interface ArenaOpenOptions<V> extends HandleOptions<V> {
  /** Most bytes of entries (keys, values, per-entry overhead), as {@link ArenaCacheOptions.maxBytes}. Required to create the file. */
  maxBytes?: number;
  /** Default time to live in ms, as {@link ArenaCacheOptions.ttl}. */
  ttl?: number;
  /** Eviction policy, as {@link ArenaCacheOptions.policy}. */
  policy?: PolicyName;
  /** Default up to 16 (one per 256 KiB of maxBytes). */
  stripes?: number;
  /** Most entries, as {@link ArenaCacheOptions.maxEntries}. */
  maxEntries?: number;
  /** Slab size, as {@link ArenaCacheOptions.slabBytes}. */
  slabBytes?: number;
}

/** Options for {@link ArenaCache.attach}. */
export type AttachOptions<V> = HandleOptions<V>;

/** Per-call options of {@link ArenaCache.set}. */
export interface SetOptions {
  /** Time to live in ms; overrides the cache's `ttl`. 0 means no expiry. */
  ttl?: number;
}

/** Options of {@link ArenaCache.getOrLoad}. */
export interface LoadOptions extends SetOptions {
  /** Stop waiting (rejects with the signal's reason); the load goes on for other callers. */
  signal?: AbortSignal;
}

/** A loader for {@link ArenaCache.getOrLoad}. */
export type Loader<V> = (key: string, ctx: { signal: AbortSignal }) => Promise<V> | V;

/** Everything a Worker needs to attach to a shared cache; pass it with `postMessage`. */
export interface ArenaHandle {
  /** Marks the object as a handle, so `attach` refuses anything else with `ERR_FORMAT`. */
  readonly kind: "offheap.arena";
  /** The handle's layout version. */
  readonly version: 2;
  /** The cache's `maxBytes`. */
  readonly maxBytes: number;
  /** The cache's default time to live in ms. */
  readonly ttl: number;
  /** The cache's eviction policy. */
  readonly policy: PolicyName;
  /** Each stripe's shared buffers (index, metadata, policy state, slabs). */
  readonly shards: readonly ShardBuffers[];
  /** The per-stripe sizes every stripe was built with. */
  readonly shard: ShardConfig;
  /** The registry of attached threads (who may hold a stripe's lock). */
  readonly registry: ArrayBufferLike;
  /** How many threads the registry has room for. */
  readonly registrySlots: number;
}

/** A handle's own settings from its options, checked (`ERR_INVALID` naming the bad one). */
export interface HandleSettings<V> {
  codec: Codec<V>;
  /** The codec's `decodeRange`, bound; undefined when it has none. */
  decodeRange: ((buf: Uint8Array, start: number, end: number) => V) | undefined;
  clock: () => number;
  onEvict: ((key: string, value: V, reason: EvictionReason) => void) | undefined;
  lockTimeout: number;
  loadLease: number;
}

const DEFAULT_LOAD_LEASE = 10_000;

/** Check the options every handle has; `options` must be an object already. */
export function handleSettings<V>(options: HandleOptions<V>): HandleSettings<V> {
  const codec = options.codec === undefined ? (codecs.bytes as unknown as Codec<V>) : options.codec;
  if (typeof codec?.encode !== "function" || typeof codec.decode !== "function") {
    throw new OffheapError("ERR_INVALID", "codec must have encode(value) and decode(bytes)");
  }
  return {
    codec,
    decodeRange: codec.decodeRange?.bind(codec),
    clock: options.clock === undefined ? Date.now : functionArg<() => number>("clock", options.clock),
    onEvict: options.onEvict === undefined ? undefined : functionArg<(key: string, value: V, reason: EvictionReason) => void>("onEvict", options.onEvict),
    lockTimeout: lockTimeoutOption(options.lockTimeout),
    loadLease: optionalArg(options.loadLease, DEFAULT_LOAD_LEASE, (v) => integerArg("loadLease", v, { min: 1 })),
  };
}

/** Check `path` and the options of {@link ArenaCache.open}: what to ask of the file. */
export function openRequest<V>(path: string, options: ArenaOpenOptions<V>): OpenRequest {
  pathArg("path", path);
  optionsArg("options", options);
  const given = { maxBytes: options.maxBytes, ttl: options.ttl, policy: options.policy, stripes: options.stripes, maxEntries: options.maxEntries, slabBytes: options.slabBytes };
  if (given.ttl !== undefined) ttlArg("ttl", given.ttl);
  const plan = options.maxBytes === undefined ? undefined : planCache({ ...given, maxBytes: options.maxBytes }, true);
  if (plan === undefined) {
    // Without maxBytes nothing is planned, but what was given is still checked.
    for (const k of ["stripes", "maxEntries", "slabBytes"] as const) if (given[k] !== undefined) integerArg(k, given[k], { min: 1 });
    if (given.policy !== undefined) oneOfArg("policy", given.policy, POLICY_NAMES);
  }
  return { given, plan, lockTimeout: lockTimeoutOption(options.lockTimeout) };
}
