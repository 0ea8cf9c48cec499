/**
 * ArenaCache: an in-process cache whose keys and values live as bytes in arenas and whose
 * index lives in typed arrays, so the garbage collector sees a handful of objects however
 * many entries it holds. See shard.ts for the storage, ../policy for eviction.
 *
 * Longer than 500 lines because the class holds three things that share its private
 * state: the option types and the three backings (in memory, Worker-shared, a shared
 * file), the stripe lock's begin/end/repair around every operation, and getOrLoad's
 * in-process flights with the cross-process lease. Moving the option types and backings
 * to their own files is the next split (issue 14); until then this header says so.
 */
import { OffheapError } from "../errors.ts";
import { futexWake, futexWait, Mapping } from "../../ffi/index.ts";
import { describeValue, functionArg, integerArg, objectArg, oneOfArg, optionalArg, optionsArg, pathArg, signalArg, stringArg } from "../primitives/arguments.ts";
import { lockTimeoutOption } from "../primitives/common-options.ts";
import { type Allocator, sharedAllocator } from "../primitives/carver.ts";
import { POLICY_NAMES, type PolicyName } from "../policy/index.ts";
import { codecs, type Codec } from "./codecs.ts";
import { type CachePlan, planCache, ttlArg } from "./config.ts";
import { openCacheFile, planOf, type MappedCache } from "./file.ts";
import { hashKey, keyByteLength, MAX_KEY_BYTES } from "./keys.ts";
import { endLease, LEASE_NONE, LEASE_TAKEN, staleLease, takeLease } from "./lease.ts";
import { atomicsWaiter, lockSlow, type LockWaiter, OwnerRegistry, unlockShared } from "../primitives/shared-mutex.ts";
import { describeStats } from "../metrics/describe.ts";
import { renderMetrics } from "../metrics/render.ts";
import { ARENA_METRICS, type ArenaStats } from "./stats.ts";
import {
  C_BYTES,
  C_COMPACTIONS,
  C_EVICT,
  C_HITS,
  C_MISSES,
  C_MOVED,
  C_REJECTED,
  C_RESET_DROPS,
  C_RESETS,
  C_SETS,
  C_TAKEOVERS,
  DELETED,
  DIRTY,
  entryCost,
  EXPIRED,
  type EvictionReason,
  LEASES_HELD,
  LOCK,
  REASONS,
  Shard,
  type ShardBuffers,
  type ShardConfig,
} from "./shard.ts";
import { abortReason, untilAborted } from "../primitives/signals.ts";

export type { EvictionReason } from "./shard.ts";

/** Options of every kind of handle: how this thread encodes, listens and waits. */
interface HandleOptions<V> {
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

interface InFlight<V> {
  promise: Promise<V>;
  ctrl: AbortController;
  waiters: number;
  /** A set/delete of the key during the load: its result must not overwrite that. */
  stale: boolean;
  /** This handle holds the key's load lease (shared caches). */
  leased: boolean;
}

/** The memory behind a cache: its stripes and, when shared, who may lock them and how to wait. */
interface Backing {
  plan: CachePlan;
  shards: Shard[];
  shared: { registry: OwnerRegistry; buffer: ArrayBufferLike; waiters: LockWaiter[]; name: string } | null;
  mappings: Mapping[];
}

const DEFAULT_LOAD_LEASE = 10_000;
/** Threads that may attach to one Worker-shared cache. */
const WORKER_REGISTRY_SLOTS = 256;
/** How often a thread waiting for another's load asks the OS whether that one still runs. */
const LOAD_HOLDER_CHECK_MS = 50;

function bad(message: string): OffheapError {
  return new OffheapError("ERR_INVALID", message);
}

/** Ends registrations of handles that were dropped without close(). */
const unregisterOnGc = new FinalizationRegistry<{ registry: OwnerRegistry; token: number }>(({ registry, token }) => {
  try {
    registry.unregister(token);
  } catch {
    // its memory is gone already: nothing left to release
  }
});

/** A private or Worker-shared cache's memory. */
function inMemory(options: ArenaCacheOptions<unknown>): Backing {
  const shared = optionalArg(options.shared, false, (v) => {
    if (typeof v !== "boolean") throw bad(`shared must be true or false; got ${String(v)}`);
    return v;
  });
  const plan = planCache(options, shared);
  const mappings: Mapping[] = [];
  // Private caches keep everything in anonymous mmap: outside the JS heap and its GC
  // accounting, and unmapped at close. Shared ones need SharedArrayBuffers.
  const allocate: Allocator = shared
    ? sharedAllocator
    : (bytes) => {
        const m = Mapping.anonymous(bytes);
        mappings.push(m);
        return m.buffer;
      };
  const shards: Shard[] = [];
  try {
    for (let i = 0; i < plan.stripes; i++) shards.push(new Shard(plan.shard, allocate));
  } catch (e) {
    for (const m of mappings) m.close();
    if (e instanceof OffheapError) throw e;
    // An ArrayBuffer that can't be allocated at that size.
    throw new OffheapError("ERR_TOO_LARGE", `cannot allocate a cache of ${plan.maxBytes} bytes and ${plan.shard.maxEntries * plan.stripes} entries: ${(e as Error).message}`, { cause: e });
  }
  if (!shared) return { plan, shards, shared: null, mappings };
  const buffer = new SharedArrayBuffer(OwnerRegistry.bytes(WORKER_REGISTRY_SLOTS));
  return {
    plan,
    shards,
    shared: { registry: new OwnerRegistry(buffer, WORKER_REGISTRY_SLOTS), buffer, waiters: shards.map((sh) => atomicsWaiter(sh.st, LOCK)), name: "a Worker-shared cache" },
    mappings,
  };
}

/** A Worker's view of a cache from its handle. */
function fromHandle(handle: ArenaHandle): Backing {
  try {
    const plan: CachePlan = { maxBytes: handle.maxBytes, ttl: handle.ttl, policy: handle.policy, stripes: handle.shards.length, shard: handle.shard };
    const shards = handle.shards.map((b) => new Shard(handle.shard, sharedAllocator, b));
    const registry = new OwnerRegistry(handle.registry, handle.registrySlots);
    return { plan, shards, shared: { registry, buffer: handle.registry, waiters: shards.map((sh) => atomicsWaiter(sh.st, LOCK)), name: "a Worker-shared cache" }, mappings: [] };
  } catch (e) {
    throw new OffheapError("ERR_FORMAT", `the handle's buffers don't match its layout: ${(e as Error).message}`, { cause: e });
  }
}

/** A process's view of a cache file, from its mappings. */
function fromFile(path: string, m: MappedCache): Backing {
  const plan = planOf(m.layout);
  const shards = m.stripes.map((s) => new Shard(plan.shard, sharedAllocator, { meta: s.meta.buffer, policy: s.policy.buffer, arena: s.arena.buffer }));
  if (m.fresh) for (const sh of shards) sh.reset();
  // The lock word is the first of each stripe's meta part: a futex word in the file's pages.
  const waiters: LockWaiter[] = m.stripes.map((s) => ({
    wait: (expected, ms) => void futexWait(s.meta, LOCK * 4, expected, Math.max(1, Math.ceil(ms))),
    wake: () => void futexWake(s.meta, LOCK * 4, 1),
  }));
  const buffer = m.registry.buffer;
  return { plan, shards, shared: { registry: new OwnerRegistry(buffer, m.layout.registrySlots), buffer, waiters, name: path }, mappings: m.all };
}

/**
 * A cache of string keys to values stored as bytes off the JS heap: private to this thread
 * (`new ArenaCache`), shared with Workers (`shared: true`, then {@link attach}), or shared by
 * every process that opens one file ({@link ArenaCache.open}).
 *
 * @example
 * ```ts
 * using cache = new ArenaCache<string>({ maxBytes: 64 << 20, ttl: 60_000, codec: codecs.string });
 * cache.set("user:1", "Ada");
 * cache.get("user:1");                                     // "Ada"
 * const v = await cache.getOrLoad("user:2", async (k) => fetchName(k));
 * ```
 */
export class ArenaCache<V = Uint8Array> {
  /** The policy ordering evictions. */
  readonly policy: PolicyName;
  /** The configured byte bound. */
  readonly maxBytes: number;
  /** The file this cache lives in, for {@link ArenaCache.open}; undefined otherwise. */
  readonly path: string | undefined;
  private readonly shards: Shard[];
  private readonly nshards: number;
  private readonly shared: boolean;
  private readonly codec: Codec<V>;
  private readonly decodeRange: ((buf: Uint8Array, start: number, end: number) => V) | undefined;
  private readonly defaultTtl: number;
  private readonly clock: () => number;
  private readonly onEvict: ((key: string, value: V, reason: EvictionReason) => void) | undefined;
  private readonly events: Array<string | Uint8Array | number> | null;
  private readonly inflight = new Map<string, InFlight<V>>();
  private readonly mappings: Mapping[];
  private readonly plan: CachePlan;
  /** Shared caches: who may hold locks, and this handle's registration in it. */
  private readonly registry: OwnerRegistry | undefined;
  private readonly registryBuffer: ArrayBufferLike | undefined;
  private readonly token: number;
  /** Shared caches with a policy whose hits relink (LRU): a hit is a change. */
  private readonly relinkOnHit: boolean;
  private readonly loadLease: number;
  private loads = 0;
  private loadErrors = 0;
  private loadWaits = 0;
  private wasClosed = false;
  private flushing = false;

  /**
   * A new cache.
   * @throws `ERR_INVALID` when `options` is not an object or an option is bad (naming it),
   * `ERR_TOO_LARGE` for an arena that can't be allocated.
   */
  constructor(options: ArenaCacheOptions<V>);
  /** @internal a cache over memory that exists already (attach, open) */
  constructor(options: AttachOptions<V>, backing: object, path?: string);
  constructor(options: ArenaCacheOptions<V> | AttachOptions<V>, backing?: object, path?: string) {
    objectArg("options", options);
    this.codec = options.codec === undefined ? (codecs.bytes as unknown as Codec<V>) : options.codec;
    if (typeof this.codec?.encode !== "function" || typeof this.codec.decode !== "function") {
      throw bad("codec must have encode(value) and decode(bytes)");
    }
    this.decodeRange = this.codec.decodeRange?.bind(this.codec);
    this.clock = options.clock === undefined ? Date.now : functionArg<() => number>("clock", options.clock);
    this.onEvict = options.onEvict === undefined ? undefined : functionArg<(key: string, value: V, reason: EvictionReason) => void>("onEvict", options.onEvict);
    this.events = this.onEvict ? [] : null;
    const lockTimeout = lockTimeoutOption(options.lockTimeout);
    this.loadLease = optionalArg(options.loadLease, DEFAULT_LOAD_LEASE, (v) => integerArg("loadLease", v, { min: 1 }));

    const b = (backing as Backing | undefined) ?? inMemory(options as ArenaCacheOptions<unknown>);
    this.plan = b.plan;
    this.maxBytes = b.plan.maxBytes;
    this.policy = b.plan.policy;
    this.defaultTtl = b.plan.ttl;
    this.shards = b.shards;
    this.nshards = b.shards.length;
    this.mappings = b.mappings;
    this.path = path;
    this.shared = b.shared !== null;
    this.relinkOnHit = this.shared && (this.shards[0]?.policy.touchRelinks ?? false);
    if (b.shared !== null) {
      const { registry, buffer, waiters, name } = b.shared;
      this.registry = registry;
      this.registryBuffer = buffer;
      try {
        this.token = registry.register();
      } catch (e) {
        for (const m of this.mappings) m.close();
        throw e;
      }
      unregisterOnGc.register(this, { registry, token: this.token }, this);
      this.shards.forEach((sh, i) => {
        sh.lockCtx = { registry, waiter: waiters[i]!, timeoutMs: lockTimeout, name: `stripe ${i} of ${name}` };
      });
    } else {
      this.token = 0;
    }
    for (const s of this.shards) s.events = this.events;
  }

  /**
   * Open the cache kept in the file at `path` (usually under `/dev/shm`), creating it when
   * missing or empty (then `maxBytes` is required): every process and thread that opens the
   * same path shares its entries, policy state, TTLs and counters. The codec, `onEvict`,
   * `clock`, `lockTimeout` and `loadLease` are this handle's own.
   *
   * Each stripe's lock records its holder. A process killed while it holds one (or a Worker
   * terminated mid-call) is detected by the next thread that waits for it, within a few
   * milliseconds, and the stripe is taken over; if the holder died in the middle of a change,
   * the stripe's entries are dropped (a cache may forget; it never returns bytes it can't
   * vouch for, and never waits without end). `getOrLoad` makes one load per key across all
   * of them (see {@link loadLease}).
   *
   * @throws `ERR_INVALID` for a bad path or option (naming it), `ERR_FORMAT` for a file that is not a shared ArenaCache, `ERR_MISMATCH` when
   * given options differ from the file's (the file is left as it was), `ERR_CORRUPT` for a
   * damaged header or a file of the wrong size, `ERR_SYSTEM` when the file can't be made
   * (ENOSPC, EACCES, …), `ERR_TIMEOUT` when another process holds the file's open lock
   * past `lockTimeout`.
   */
  static open<V = Uint8Array>(path: string, options: ArenaOpenOptions<V> = {}): ArenaCache<V> {
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
    const lockTimeout = lockTimeoutOption(options.lockTimeout);
    return openCacheFile(path, { given, plan, lockTimeout }, (m) => new ArenaCache<V>(options, fromFile(path, m), path));
  }

  /**
   * Attach to a shared cache from another thread. `handle` comes from
   * {@link ArenaCache.handle} via `postMessage`; the codec is per thread and must match.
   * @throws `ERR_FORMAT` for anything but such a handle, `ERR_INVALID` for bad options.
   */
  static attach<V = Uint8Array>(handle: ArenaHandle, options: AttachOptions<V> = {}): ArenaCache<V> {
    if (handle === null || typeof handle !== "object" || handle.kind !== "offheap.arena" || handle.version !== 2 || !Array.isArray(handle.shards)) {
      throw new OffheapError("ERR_FORMAT", `expected an ArenaCache handle (kind "offheap.arena", version 2); got ${describeValue(handle)}${typeof handle === "object" && handle !== null ? ` of kind ${describeValue((handle as { kind?: unknown }).kind)}` : ""}`);
    }
    optionsArg("options", options);
    return new ArenaCache<V>(options, fromHandle(handle));
  }

  /**
   * What {@link ArenaCache.attach} needs, for a cache created with `shared: true`.
   * @throws `ERR_INVALID` for a cache that is not Worker-shared (created without `shared: true`, or opened from a file: open the file instead), `ERR_CLOSED`.
   */
  handle(): ArenaHandle {
    this.check();
    if (!this.shared || this.path !== undefined) throw bad("handle() needs a cache created with shared: true (a cache opened from a file is attached by opening the file)");
    return {
      kind: "offheap.arena",
      version: 2,
      maxBytes: this.maxBytes,
      ttl: this.defaultTtl,
      policy: this.policy,
      shard: this.plan.shard,
      shards: this.shards.map((s) => s.buffers),
      registry: this.registryBuffer!,
      registrySlots: this.registry!.slots,
    };
  }

  /** Live entries (expired ones not yet reclaimed included). */
  get size(): number {
    this.check();
    let n = 0;
    for (const s of this.shards) n += s.count;
    return n;
  }

  /** Bytes charged for the entries held: keys, values and per-entry overhead. */
  get bytes(): number {
    this.check();
    let n = 0;
    for (const s of this.shards) n += s.ctr[C_BYTES]!;
    return n;
  }

  /**
   * The value for `key`, or undefined when absent or expired. Counts as a use.
   * @throws `ERR_INVALID` for a key that is not a string, `ERR_TOO_LARGE` for one over {@link MAX_KEY_BYTES} bytes, `ERR_CLOSED`; `ERR_TIMEOUT` when a shared stripe stays locked past `lockTimeout`; what the codec throws.
   */
  get(key: string): V | undefined {
    return this.read(key, true);
  }

  /**
   * Like {@link get} but neither a use for the policy nor a hit or miss.
   * @throws as {@link get}.
   */
  peek(key: string): V | undefined {
    return this.read(key, false);
  }

  /**
   * Whether `key` holds a live (unexpired) value. Not a use.
   * @throws as {@link get}.
   */
  has(key: string): boolean {
    this.check();
    const h = this.hashOf(key);
    const sh = this.shardOf(h);
    this.lock(sh);
    let found = false;
    try {
      const r = sh.lookup(key, h);
      if (r >= 0) {
        if (sh.expiredRecord(r, this.clock())) {
          this.begin(sh);
          sh.remove(sh.slotOf(r), EXPIRED, false);
          this.end(sh);
        } else found = true;
      }
    } finally {
      this.unlock(sh);
    }
    if (this.events !== null && this.events.length > 0) this.flush();
    return found;
  }

  /**
   * Store `value` under `key`. Returns false when the entry can never fit (larger than a
   * slab or than maxBytes / stripes); then any previous value of `key` is gone too.
   * @throws `ERR_TOO_LARGE` for a key over {@link MAX_KEY_BYTES} bytes; `ERR_INVALID` for a
   * key that is not a string, a value the codec can't encode or bad options; `ERR_CLOSED`.
   */
  set(key: string, value: V, options?: SetOptions): boolean {
    this.check();
    if (options !== undefined) optionsArg("options", options);
    if (this.inflight.size !== 0) this.invalidate(key);
    return this.store(key, value, options?.ttl, false);
  }

  /**
   * Remove `key`; true when it was there (even if expired).
   * @throws as {@link get}.
   */
  delete(key: string): boolean {
    this.check();
    if (this.inflight.size !== 0) this.invalidate(key);
    const h = this.hashOf(key);
    const sh = this.shardOf(h);
    this.lock(sh);
    let found = false;
    try {
      if (this.shared && sh.st[LEASES_HELD] !== 0) staleLease(sh, h);
      const r = sh.lookup(key, h);
      if (r >= 0) {
        this.begin(sh);
        sh.remove(sh.slotOf(r), sh.expiredRecord(r, this.clock()) ? EXPIRED : DELETED, false);
        this.end(sh);
        found = true;
      }
    } finally {
      this.unlock(sh);
    }
    if (this.events !== null && this.events.length > 0) this.flush();
    return found;
  }

  /**
   * Remove every entry (reason "deleted"). Loads in flight anywhere don't store their results.
   * @throws `ERR_CLOSED`; `ERR_TIMEOUT` as {@link get}.
   */
  clear(): void {
    this.check();
    for (const f of this.inflight.values()) f.stale = true;
    for (const sh of this.shards) {
      this.lock(sh);
      try {
        this.begin(sh);
        sh.clear();
        this.end(sh);
      } finally {
        this.unlock(sh);
      }
    }
    if (this.events !== null && this.events.length > 0) this.flush();
  }

  /**
   * The cached value, or the result of `loader` stored with `ttl`. One load per key runs at
   * a time in this handle: concurrent callers share it. In a shared cache one load per key
   * runs at a time across every thread and process too: a caller that misses while another
   * one loads the key waits (polling every 1 to 8 ms, never holding a lock) until the value is
   * stored, that load fails or ends, its thread dies, or {@link loadLease} ms pass; then it
   * loads itself. A rejected load is not cached and rejects every caller of this handle.
   * `signal` aborts only this caller's wait; when every caller has stopped waiting, the
   * loader's own signal aborts.
   * @throws (the promise rejects) `ERR_INVALID` when `loader` is not a function, the key
   * not a string or an option bad; `ERR_CLOSED`; whatever the loader threw.
   */
  async getOrLoad(key: string, loader: Loader<V>, options: LoadOptions = {}): Promise<V> {
    functionArg("loader", loader);
    optionsArg("options", options);
    const signal = signalArg("signal", options.signal);
    if (options.ttl !== undefined) ttlArg("ttl", options.ttl);
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    if (signal?.aborted) throw abortReason(signal);
    let f = this.inflight.get(key);
    if (f === undefined) f = this.startLoad(key, loader, options.ttl);
    f.waiters++;
    try {
      return await untilAborted(f.promise, signal);
    } finally {
      f.waiters--;
      if (f.waiters === 0 && signal?.aborted && this.inflight.get(key) === f) {
        this.inflight.delete(key);
        f.ctrl.abort(abortReason(signal));
      }
    }
  }

  /**
   * Flat numbers: counters since creation (shared by every handle of a shared cache) and gauges.
   * @throws `ERR_CLOSED`.
   */
  stats(): ArenaStats {
    this.check();
    const sum = (i: number) => {
      let n = 0;
      for (const s of this.shards) n += s.ctr[i]!;
      return n;
    };
    let entries = 0;
    for (const s of this.shards) entries += s.count;
    const ev = REASONS.map((_, r) => sum(C_EVICT + r));
    const cfg = this.plan.shard;
    return {
      entries,
      bytes: sum(C_BYTES),
      maxBytes: this.maxBytes,
      maxEntries: cfg.maxEntries * this.nshards,
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
      loads: this.loads,
      loadErrors: this.loadErrors,
      loadsInFlight: this.inflight.size,
      loadWaits: this.loadWaits,
      stripes: this.nshards,
      slabBytes: cfg.slabBytes,
      arenaBytes: cfg.slabBytes * cfg.slabs * this.nshards,
    };
  }

  /**
   * This cache's stats as Prometheus text (format 0.0.4), as `renderMetrics` gives them:
   * `<prefix>_arena_hits_total`, `<prefix>_arena_evictions_total{reason=...}`, … with
   * `structure` set to `name`.
   * @throws `ERR_INVALID` for a name or prefix that is not a valid metric name part, `ERR_CLOSED`.
   */
  metrics(name = "arena", prefix = "offheap"): string {
    this.check();
    stringArg("name", name);
    return renderMetrics({ [name]: this }, { prefix });
  }

  /**
   * Bytes an entry of this key and value size is charged.
   * @throws `ERR_INVALID` unless both sizes are integers >= 0.
   */
  static entryBytes(keyBytes: number, valueBytes: number): number {
    return entryCost(integerArg("keyBytes", keyBytes, { min: 0 }), integerArg("valueBytes", valueBytes, { min: 0 }));
  }

  /** True once {@link close} was called on this handle. */
  get closed(): boolean {
    return this.wasClosed;
  }

  /**
   * Release this handle. Pending loads are aborted (their callers get `ERR_CLOSED`) and
   * their leases released. Other handles of a shared cache keep working. Idempotent.
   * @throws nothing.
   */
  close(): void {
    if (this.wasClosed) return;
    const err = new OffheapError("ERR_CLOSED", "the cache was closed while loading");
    for (const [key, f] of this.inflight) this.releaseLease(key, f);
    this.wasClosed = true;
    for (const f of this.inflight.values()) f.ctrl.abort(err);
    this.inflight.clear();
    if (this.registry !== undefined) {
      this.registry.unregister(this.token);
      unregisterOnGc.unregister(this);
    }
    // Every method checks `closed` first, so nothing reads the unmapped (detached) views.
    for (const m of this.mappings) m.close();
    this.mappings.length = 0;
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  private read(key: string, use: boolean): V | undefined {
    this.check();
    const h = this.hashOf(key);
    const sh = this.shardOf(h);
    const shared = this.shared;
    if (shared) this.lock(sh);
    let out: V | undefined;
    let copy: Uint8Array | undefined;
    try {
      const relink = use && this.relinkOnHit;
      if (relink) this.begin(sh);
      const r = sh.lookup(key, h, use);
      if (r < 0) {
        if (use) sh.ctr[C_MISSES]!++;
        if (relink) this.end(sh);
      } else if (sh.expiredRecord(r, this.clock())) {
        if (!relink) this.begin(sh);
        sh.remove(sh.slotOf(r), EXPIRED, false);
        this.end(sh);
        if (use) sh.ctr[C_MISSES]!++;
      } else {
        if (relink) this.end(sh);
        if (use) sh.ctr[C_HITS]!++;
        // Decoding changes nothing: a codec that throws here leaves the stripe whole.
        const start = sh.valueStart(r);
        const end = start + sh.valueLength(r);
        if (shared && this.decodeRange === undefined) copy = sh.u8.slice(start, end);
        else out = this.decodeRange !== undefined ? this.decodeRange(sh.u8, start, end) : this.codec.decode(sh.u8.subarray(start, end));
      }
    } finally {
      if (shared) this.unlock(sh);
    }
    // A user codec decodes outside the lock, from a private copy.
    if (copy !== undefined) out = this.codec.decode(copy);
    if (this.events !== null && this.events.length > 0) this.flush();
    return out;
  }

  /**
   * Encode and store. `leased`: the result of this handle's load under a lease, stored only
   * if the lease still stands (no set or delete of the key meanwhile), ended in the same
   * hold of the lock.
   */
  private store(key: string, value: V, ttl: number | undefined, leased: boolean): boolean {
    const h = this.hashOf(key);
    const keyBytes = keyByteLength(key);
    const bytes = this.codec.encode(value);
    if (!(bytes instanceof Uint8Array)) throw bad(`${this.codec.name === undefined ? "the codec" : `codec ${this.codec.name}`} must encode to a Uint8Array`);
    const life = ttl === undefined ? this.defaultTtl : ttlArg("ttl", ttl);
    const now = this.clock();
    const sh = this.shardOf(h);
    this.lock(sh);
    let ok = false;
    try {
      if (this.shared && (leased ? endLease(sh, h, this.token) : (sh.st[LEASES_HELD] !== 0 && staleLease(sh, h), true))) {
        this.begin(sh);
        ok = sh.set(key, h, keyBytes, bytes, life > 0 ? now + life : 0, now);
        this.end(sh);
      } else if (!this.shared) {
        ok = sh.set(key, h, keyBytes, bytes, life > 0 ? now + life : 0, now);
      }
    } finally {
      this.unlock(sh);
    }
    if (this.events !== null && this.events.length > 0) this.flush();
    return ok;
  }

  private startLoad(key: string, loader: Loader<V>, ttl: number | undefined): InFlight<V> {
    const ctrl = new AbortController();
    const f: InFlight<V> = { promise: undefined as unknown as Promise<V>, ctrl, waiters: 0, stale: false, leased: false };
    const run = async (): Promise<V> => {
      try {
        if (this.shared) {
          const theirs = await this.awaitOtherLoad(key, f, ctrl.signal);
          if (theirs !== undefined) return theirs;
        }
        this.loads++;
        const v = await untilAborted(Promise.resolve().then(() => loader(key, { signal: ctrl.signal })), ctrl.signal);
        if (!f.stale && !this.wasClosed && v !== undefined) {
          const leased = f.leased;
          f.leased = false;
          this.store(key, v, ttl, leased);
        }
        return v;
      } catch (e) {
        if (!ctrl.signal.aborted) this.loadErrors++;
        throw e;
      } finally {
        if (!this.wasClosed) this.releaseLease(key, f);
        if (this.inflight.get(key) === f) this.inflight.delete(key);
      }
    };
    f.promise = run();
    // Callers may all have stopped waiting; a rejection nobody awaits must not crash.
    f.promise.catch(() => {});
    this.inflight.set(key, f);
    return f;
  }

  /**
   * Shared caches: take `key`'s load lease (then resolve undefined: load), or wait for the
   * thread that holds it and resolve with the value it stored. See {@link getOrLoad}.
   */
  private async awaitOtherLoad(key: string, f: InFlight<V>, signal: AbortSignal): Promise<V | undefined> {
    const h = this.hashOf(key);
    const sh = this.shardOf(h);
    let dead = 0;
    const began = performance.now();
    let waited = false;
    let nextCheck = performance.now() + LOAD_HOLDER_CHECK_MS;
    for (;;) {
      let holder: number;
      this.lock(sh);
      try {
        const now = this.clock();
        holder = takeLease(sh, this.registry!, h, this.token, now, now + this.loadLease, dead);
      } finally {
        this.unlock(sh);
      }
      if (holder === LEASE_TAKEN) {
        f.leased = true;
        return undefined;
      }
      if (holder === LEASE_NONE) return undefined;
      if (!waited) {
        waited = true;
        this.loadWaits++;
      }
      // Look every millisecond at first (a load is often a few ms: the wait should end soon
      // after it), then back off slowly to every 8 ms; each look is a lock hold of ~1 µs.
      await untilAborted(Bun.sleep(Math.min(1 + Math.floor((performance.now() - began) / 25), 8)), signal);
      if (this.wasClosed) throw new OffheapError("ERR_CLOSED", "the cache was closed while loading");
      const v = this.peek(key);
      if (v !== undefined) return v;
      if (f.stale) return undefined; // a set or delete here meanwhile: load what is current
      if (performance.now() >= nextCheck) {
        if (this.registry!.liveness(holder) === "dead") dead = holder;
        nextCheck = performance.now() + LOAD_HOLDER_CHECK_MS;
      }
    }
  }

  /** End `f`'s lease of `key` if it holds one (a load that failed, was aborted or closed). */
  private releaseLease(key: string, f: InFlight<V>): void {
    if (!f.leased) return;
    f.leased = false;
    const h = this.hashOf(key);
    const sh = this.shardOf(h);
    try {
      this.lock(sh);
    } catch {
      return; // a stuck holder: the lease runs out by itself
    }
    try {
      endLease(sh, h, this.token);
    } finally {
      this.unlock(sh);
    }
  }

  private invalidate(key: string): void {
    const f = this.inflight.get(key);
    if (f !== undefined) f.stale = true;
  }

  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    const ev = this.events!;
    let first: unknown;
    let failed = false;
    try {
      while (ev.length > 0) {
        const batch = ev.splice(0, ev.length);
        for (let i = 0; i < batch.length; i += 3) {
          try {
            this.onEvict!(batch[i] as string, this.codec.decode(batch[i + 1] as Uint8Array), REASONS[batch[i + 2] as number]!);
          } catch (e) {
            if (!failed) {
              failed = true;
              first = e;
            }
          }
        }
      }
    } finally {
      this.flushing = false;
    }
    if (failed) throw first;
  }

  private hashOf(key: string): number {
    if (typeof key !== "string") throw bad(`key must be a string; got ${typeof key}`);
    if (key.length > MAX_KEY_BYTES / 3) {
      const n = keyByteLength(key);
      if (n > MAX_KEY_BYTES) throw new OffheapError("ERR_TOO_LARGE", `a key may be at most ${MAX_KEY_BYTES} bytes of UTF-8; got ${n}`);
    }
    return hashKey(key);
  }

  private shardOf(h: number): Shard {
    return this.nshards === 1 ? this.shards[0]! : this.shards[((h >>> 16) * this.nshards) >>> 16]!;
  }

  /**
   * Take `sh`'s lock (shared caches). One compare-and-swap when free; otherwise
   * {@link lockSlow} waits, or takes the lock over from a holder that died. A stripe whose
   * last holder died in the middle of a change is emptied before anything reads it.
   */
  private lock(sh: Shard): void {
    if (!this.shared) return;
    if (Atomics.compareExchange(sh.st, LOCK, 0, this.token) !== 0 && lockSlow(sh.st, LOCK, this.token, sh.lockCtx!)) sh.ctr[C_TAKEOVERS]!++;
    if (sh.st[DIRTY] !== 0) this.repair(sh);
  }

  private unlock(sh: Shard): void {
    if (this.shared) unlockShared(sh.st, LOCK, sh.lockCtx!.waiter);
  }

  /** Mark `sh` as changing (shared caches): see {@link DIRTY}. */
  private begin(sh: Shard): void {
    if (this.shared) Atomics.store(sh.st, DIRTY, 1);
  }

  /** `sh` is whole again. */
  private end(sh: Shard): void {
    if (this.shared) Atomics.store(sh.st, DIRTY, 0);
  }

  /**
   * The last holder of `sh`'s lock died mid-change: nothing in the stripe can be trusted,
   * so it starts empty (its entries are dropped without `onEvict`: their bytes may be torn).
   */
  private repair(sh: Shard): void {
    const dropped = sh.count;
    sh.reset();
    sh.ctr[C_RESETS]!++;
    sh.ctr[C_RESET_DROPS]! += dropped > 0 ? dropped : 0;
    Atomics.store(sh.st, DIRTY, 0);
  }

  private check(): void {
    if (this.wasClosed) throw new OffheapError("ERR_CLOSED", "the ArenaCache handle is closed");
  }
}

export { MAX_KEY_BYTES };

describeStats(ArenaCache, ARENA_METRICS);
