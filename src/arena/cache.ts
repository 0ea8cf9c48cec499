/**
 * ArenaCache: an in-process cache whose keys and values live as bytes in arenas and whose
 * index lives in typed arrays, so the garbage collector sees a handful of objects however
 * many entries it holds. See shard.ts for the storage, ../policy for eviction.
 */
import { booleanOption, describeValue, functionArg, functionOption, integerArg, objectArg, oneOfArg, optionsArg, signalArg, stringArg } from "../arguments.ts";
import { OffheapError } from "../errors.ts";
import { Mapping } from "../../ffi/index.ts";
import { type Allocator, sharedAllocator } from "../policy/memory.ts";
import { POLICY_NAMES, type PolicyName } from "../policy/index.ts";
import { codecs, type Codec } from "./codecs.ts";
import { hashKey, keyByteLength, MAX_KEY_BYTES } from "./keys.ts";
import { lockWord, unlockWord } from "./lock.ts";
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
  C_SETS,
  DELETED,
  entryCost,
  EXPIRED,
  type EvictionReason,
  LOCK,
  REASONS,
  Shard,
  type ShardBuffers,
  type ShardConfig,
} from "./shard.ts";
import { abortReason, untilAborted } from "../signals.ts";

export type { EvictionReason } from "./shard.ts";

/** Options for {@link ArenaCache}. */
export interface ArenaCacheOptions<V> {
  /** Upper bound of {@link ArenaCache.bytes}: keys, values and per-entry overhead. */
  maxBytes: number;
  /** Default time to live in ms for every entry; 0 or omitted: entries don't expire. */
  ttl?: number;
  /** Eviction policy. Default `"s3-fifo"`. */
  policy?: PolicyName;
  /** How values become bytes. Default {@link codecs.bytes}. */
  codec?: Codec<V>;
  /** Called after an entry leaves the cache, outside any lock. */
  onEvict?: (key: string, value: V, reason: EvictionReason) => void;
  /**
   * Keep everything in SharedArrayBuffers so Workers can {@link ArenaCache.attach}. Each
   * stripe is guarded by an Atomics mutex held only inside one call; a Worker terminated
   * in the middle of a call can leave its stripe locked, so end Workers between calls.
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
  /** Clock in ms, for tests. Default `Date.now`. */
  now?: () => number;
}

/** Options for {@link ArenaCache.attach}. */
export interface AttachOptions<V> {
  codec?: Codec<V>;
  onEvict?: (key: string, value: V, reason: EvictionReason) => void;
  now?: () => number;
}

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
  readonly kind: "offheap.arena";
  readonly version: 1;
  readonly maxBytes: number;
  readonly ttl: number;
  readonly policy: PolicyName;
  readonly shards: readonly ShardBuffers[];
  readonly shard: ShardConfig;
}


interface InFlight<V> {
  promise: Promise<V>;
  ctrl: AbortController;
  waiters: number;
  /** A set/delete of the key during the load: its result must not overwrite that. */
  stale: boolean;
}

const MAX_SHARD_ARENA = 0xfff00000; // offsets are u32; INVALID is 0xffffffff

function bad(message: string): OffheapError {
  return new OffheapError("ERR_INVALID", message);
}

function positiveInt(name: string, v: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > max) {
    throw bad(`${name} must be an integer in 1..${max}; got ${String(v)}`);
  }
  return v;
}

function ttlOf(name: string, v: unknown): number {
  if (v === undefined) return 0;
  if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v)) throw bad(`${name} must be a finite number of ms >= 0; got ${String(v)}`);
  return v;
}



/**
 * An in-process cache of string keys to values stored as bytes off the JS heap.
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
  private readonly shards: Shard[];
  private readonly nshards: number;
  private readonly shared: boolean;
  private readonly codec: Codec<V>;
  private readonly decodeRange: ((buf: Uint8Array, start: number, end: number) => V) | undefined;
  private readonly defaultTtl: number;
  private readonly now: () => number;
  private readonly onEvict: ((key: string, value: V, reason: EvictionReason) => void) | undefined;
  private readonly events: Array<string | Uint8Array | number> | null;
  private readonly inflight = new Map<string, InFlight<V>>();
  private readonly mappings: Mapping[] = [];
  private readonly shardCfg: ShardConfig;
  private loads = 0;
  private loadErrors = 0;
  private closed = false;
  private flushing = false;

  /**
   * A new cache.
   * @throws `ERR_INVALID` when `options` is not an object or an option is bad (naming it),
   * `ERR_TOO_LARGE` for an arena that can't be allocated.
   */
  constructor(options: ArenaCacheOptions<V>);
  /** @internal attach path */
  constructor(options: ArenaCacheOptions<V>, handle: ArenaHandle);
  constructor(options: ArenaCacheOptions<V>, handle?: ArenaHandle) {
    objectArg("options", options);
    this.codec = options.codec === undefined ? (codecs.bytes as unknown as Codec<V>) : options.codec;
    if (typeof this.codec?.encode !== "function" || typeof this.codec.decode !== "function") {
      throw bad("codec must have encode(value) and decode(bytes)");
    }
    this.decodeRange = this.codec.decodeRange?.bind(this.codec);
    this.now = functionOption<() => number>("now", options.now) ?? Date.now;
    this.onEvict = options.onEvict;
    if (this.onEvict !== undefined && typeof this.onEvict !== "function") throw bad("onEvict must be a function");
    this.events = this.onEvict ? [] : null;

    if (handle) {
      this.maxBytes = handle.maxBytes;
      this.policy = handle.policy;
      this.defaultTtl = handle.ttl;
      this.shared = true;
      this.shardCfg = handle.shard;
      try {
        this.shards = handle.shards.map((b) => new Shard(handle.shard, sharedAllocator, b));
      } catch (e) {
        throw new OffheapError("ERR_FORMAT", `the handle's buffers don't match its layout: ${(e as Error).message}`, { cause: e });
      }
    } else {
      this.maxBytes = positiveInt("maxBytes", options.maxBytes);
      this.defaultTtl = ttlOf("ttl", options.ttl);
      this.policy = options.policy === undefined ? "s3-fifo" : oneOfArg("policy", options.policy, POLICY_NAMES);
      this.shared = booleanOption("shared", options.shared);
      const stripes =
        options.stripes !== undefined
          ? positiveInt("stripes", options.stripes, 256)
          : this.shared
            ? Math.max(1, Math.min(16, Math.floor(this.maxBytes / (256 << 10))))
            : 1;
      const shardMax = Math.floor(this.maxBytes / stripes);
      if (shardMax < 64) throw bad(`maxBytes / stripes must be at least 64; got ${shardMax}`);
      const maxEntries = Math.ceil(
        (options.maxEntries !== undefined ? positiveInt("maxEntries", options.maxEntries, 2 ** 30) : Math.max(16, this.maxBytes / 128)) / stripes,
      );
      const slabBytes =
        options.slabBytes !== undefined
          ? positiveInt("slabBytes", options.slabBytes, 1 << 30)
          : Math.min(4 << 20, Math.max(256, Math.ceil(shardMax / 8)));
      const slab = (slabBytes + 7) & ~7;
      const slabs = Math.ceil(shardMax / slab) + 2;
      if (slab * slabs > MAX_SHARD_ARENA) {
        throw new OffheapError("ERR_TOO_LARGE", `one stripe's arena may be at most ${MAX_SHARD_ARENA} bytes; maxBytes ${this.maxBytes} over ${stripes} stripes needs ${slab * slabs}: use more stripes`);
      }
      this.shardCfg = { maxBytes: shardMax, maxEntries, slabBytes: slab, slabs, policy: this.policy };
      this.shards = [];
      // Private caches keep everything in anonymous mmap: outside the JS heap and its GC
      // accounting, and unmapped at close. Shared ones need SharedArrayBuffers.
      const allocate: Allocator = this.shared
        ? sharedAllocator
        : (bytes) => {
            const m = Mapping.anonymous(bytes);
            this.mappings.push(m);
            return m.buffer;
          };
      try {
        for (let i = 0; i < stripes; i++) this.shards.push(new Shard(this.shardCfg, allocate));
      } catch (e) {
        for (const m of this.mappings) m.close();
        if (e instanceof OffheapError) throw e;
        // An ArrayBuffer that can't be allocated at that size.
        throw new OffheapError("ERR_TOO_LARGE", `cannot allocate a cache of ${this.maxBytes} bytes and ${maxEntries * stripes} entries: ${(e as Error).message}`, { cause: e });
      }
    }
    this.nshards = this.shards.length;
    for (const s of this.shards) s.events = this.events;
  }

  /**
   * Attach to a shared cache from another thread. `handle` comes from
   * {@link ArenaCache.handle} via `postMessage`; the codec is per thread and must match.
   * @throws `ERR_FORMAT` for anything but such a handle, `ERR_INVALID` for bad options.
   */
  static attach<V = Uint8Array>(handle: ArenaHandle, options: AttachOptions<V> = {}): ArenaCache<V> {
    if (handle === null || typeof handle !== "object" || handle.kind !== "offheap.arena" || handle.version !== 1 || !Array.isArray(handle.shards)) {
      throw new OffheapError("ERR_FORMAT", `expected an ArenaCache handle (kind "offheap.arena", version 1); got ${describeValue(handle)}${typeof handle === "object" && handle !== null ? ` of kind ${describeValue((handle as { kind?: unknown }).kind)}` : ""}`);
    }
    optionsArg("options", options);
    return new ArenaCache<V>({ maxBytes: handle.maxBytes, ...options }, handle);
  }

  /** What {@link ArenaCache.attach} needs, for a cache created with `shared: true`. */
  handle(): ArenaHandle {
    this.check();
    if (!this.shared) throw bad("handle() needs a cache created with shared: true");
    return {
      kind: "offheap.arena",
      version: 1,
      maxBytes: this.maxBytes,
      ttl: this.defaultTtl,
      policy: this.policy,
      shard: this.shardCfg,
      shards: this.shards.map((s) => s.buffers),
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

  /** The value for `key`, or undefined when absent or expired. Counts as a use. */
  get(key: string): V | undefined {
    return this.read(key, true);
  }

  /** Like {@link get} but neither a use for the policy nor a hit or miss. */
  peek(key: string): V | undefined {
    return this.read(key, false);
  }

  /** Whether `key` holds a live (unexpired) value. Not a use. */
  has(key: string): boolean {
    this.check();
    const h = this.hashOf(key);
    const sh = this.shardOf(h);
    this.lock(sh);
    let found = false;
    try {
      const s = sh.lookup(key, h);
      if (s >= 0) {
        if (sh.expired(s, this.now())) sh.remove(s, EXPIRED, false);
        else found = true;
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
   * Throws `ERR_TOO_LARGE` for a key over {@link MAX_KEY_BYTES} bytes.
   * @throws `ERR_INVALID` for a key that is not a string, a value the codec can't encode
   * or bad options; `ERR_TOO_LARGE`; `ERR_CLOSED`.
   */
  set(key: string, value: V, options?: SetOptions): boolean {
    this.check();
    if (options !== undefined) optionsArg("options", options);
    if (this.inflight.size !== 0) this.invalidate(key);
    return this.store(key, value, options?.ttl);
  }

  /** Remove `key`; true when it was there (even if expired). */
  delete(key: string): boolean {
    this.check();
    if (this.inflight.size !== 0) this.invalidate(key);
    const h = this.hashOf(key);
    const sh = this.shardOf(h);
    this.lock(sh);
    let found = false;
    try {
      const s = sh.lookup(key, h);
      if (s >= 0) {
        sh.remove(s, sh.expired(s, this.now()) ? EXPIRED : DELETED, false);
        found = true;
      }
    } finally {
      this.unlock(sh);
    }
    if (this.events !== null && this.events.length > 0) this.flush();
    return found;
  }

  /** Remove every entry (reason "deleted"). */
  clear(): void {
    this.check();
    for (const f of this.inflight.values()) f.stale = true;
    for (const sh of this.shards) {
      this.lock(sh);
      try {
        sh.clear();
      } finally {
        this.unlock(sh);
      }
    }
    if (this.events !== null && this.events.length > 0) this.flush();
  }

  /**
   * The cached value, or the result of `loader` stored with `ttl`. One load per key runs at
   * a time in this handle: concurrent callers share it. A rejected load is not cached and
   * rejects every caller. `signal` aborts only this caller's wait; when every caller has
   * stopped waiting, the loader's own signal aborts.
   * @throws (the promise rejects) `ERR_INVALID` when `loader` is not a function, the key
   * not a string or an option bad; `ERR_CLOSED`; whatever the loader threw.
   */
  async getOrLoad(key: string, loader: Loader<V>, options: LoadOptions = {}): Promise<V> {
    functionArg("loader", loader);
    optionsArg("options", options);
    const signal = signalArg("signal", options.signal);
    if (options.ttl !== undefined) ttlOf("ttl", options.ttl);
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

  /** Flat numbers: counters since creation (shared across threads when shared) and gauges. */
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
    return {
      entries,
      bytes: sum(C_BYTES),
      maxBytes: this.maxBytes,
      maxEntries: this.shardCfg.maxEntries * this.nshards,
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
      loads: this.loads,
      loadErrors: this.loadErrors,
      loadsInFlight: this.inflight.size,
      stripes: this.nshards,
      slabBytes: this.shardCfg.slabBytes,
      arenaBytes: this.shardCfg.slabBytes * this.shardCfg.slabs * this.nshards,
    };
  }

  /**
   * This cache's stats as Prometheus text (format 0.0.4), as `renderMetrics` gives them:
   * `<prefix>_arena_hits_total`, `<prefix>_arena_evictions_total{reason=...}`, … with
   * `structure` set to `name`.
   */
  metrics(name = "arena", prefix = "offheap"): string {
    this.check();
    stringArg("name", name);
    return renderMetrics({ [name]: this }, { prefix });
  }

  /** Bytes an entry of this key and value size is charged. */
  static entryBytes(keyBytes: number, valueBytes: number): number {
    return entryCost(integerArg("keyBytes", keyBytes, { min: 0 }), integerArg("valueBytes", valueBytes, { min: 0 }));
  }

  /**
   * Release this handle. Pending loads are aborted (their callers get `ERR_CLOSED`). Other
   * threads attached to a shared cache keep working. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const err = new OffheapError("ERR_CLOSED", "the cache was closed while loading");
    for (const f of this.inflight.values()) f.ctrl.abort(err);
    this.inflight.clear();
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
    if (shared) lockWord(sh.st, LOCK);
    let out: V | undefined;
    let copy: Uint8Array | undefined;
    try {
      const s = sh.lookup(key, h);
      if (s < 0) {
        if (use) sh.ctr[C_MISSES]!++;
      } else if (sh.expireAt(s) !== 0 && sh.expired(s, this.now())) {
        sh.remove(s, EXPIRED, false);
        if (use) sh.ctr[C_MISSES]!++;
      } else {
        if (use) {
          sh.policy.touch(s);
          sh.ctr[C_HITS]!++;
        }
        const start = sh.valueStart(s);
        const end = start + sh.valueLength(s);
        if (shared && this.decodeRange === undefined) copy = sh.u8.slice(start, end);
        else out = this.decodeRange !== undefined ? this.decodeRange(sh.u8, start, end) : this.codec.decode(sh.u8.subarray(start, end));
      }
    } finally {
      if (shared) unlockWord(sh.st, LOCK);
    }
    // A user codec decodes outside the lock, from a private copy.
    if (copy !== undefined) out = this.codec.decode(copy);
    if (this.events !== null && this.events.length > 0) this.flush();
    return out;
  }

  private store(key: string, value: V, ttl: number | undefined): boolean {
    const h = this.hashOf(key);
    const keyBytes = keyByteLength(key);
    const bytes = this.codec.encode(value);
    if (!(bytes instanceof Uint8Array)) throw bad(`codec ${this.codec.name} must encode to a Uint8Array`);
    const life = ttl === undefined ? this.defaultTtl : ttlOf("ttl", ttl);
    const now = this.now();
    const sh = this.shardOf(h);
    this.lock(sh);
    let ok: boolean;
    try {
      ok = sh.set(key, h, keyBytes, bytes, life > 0 ? now + life : 0, now);
    } finally {
      this.unlock(sh);
    }
    if (this.events !== null && this.events.length > 0) this.flush();
    return ok;
  }

  private startLoad(key: string, loader: Loader<V>, ttl: number | undefined): InFlight<V> {
    const ctrl = new AbortController();
    const f: InFlight<V> = { promise: undefined as unknown as Promise<V>, ctrl, waiters: 0, stale: false };
    this.loads++;
    const run = async (): Promise<V> => {
      try {
        const v = await untilAborted(Promise.resolve().then(() => loader(key, { signal: ctrl.signal })), ctrl.signal);
        if (!f.stale && !this.closed && v !== undefined) this.store(key, v, ttl);
        return v;
      } catch (e) {
        if (!ctrl.signal.aborted) this.loadErrors++;
        throw e;
      } finally {
        if (this.inflight.get(key) === f) this.inflight.delete(key);
      }
    };
    f.promise = run();
    // Callers may all have stopped waiting; a rejection nobody awaits must not crash.
    f.promise.catch(() => {});
    this.inflight.set(key, f);
    return f;
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

  private lock(sh: Shard): void {
    if (this.shared) lockWord(sh.st, LOCK);
  }

  private unlock(sh: Shard): void {
    if (this.shared) unlockWord(sh.st, LOCK);
  }

  private check(): void {
    if (this.closed) throw new OffheapError("ERR_CLOSED", "the ArenaCache handle is closed");
  }
}

export { MAX_KEY_BYTES };

describeStats(ArenaCache, ARENA_METRICS);
