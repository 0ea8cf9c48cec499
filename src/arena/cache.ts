/**
 * ArenaCache: an in-process cache whose keys and values live as bytes in arenas and whose
 * index lives in typed arrays, so the garbage collector sees a handful of objects however
 * many entries it holds. Storage: shard.ts; eviction: ../policy; memory: backing.ts;
 * options: options.ts; getOrLoad's loads: loads.ts; shared stripes' locks: stripe-lock.ts.
 */
import { OffheapError } from "../errors.ts";
import type { Mapping } from "../../ffi/index.ts";
import { describeValue, functionArg, integerArg, objectArg, optionsArg, signalArg, stringArg } from "../primitives/arguments.ts";
import type { OwnerRegistry } from "../primitives/shared-mutex.ts";
import type { PolicyName } from "../policy/index.ts";
import type { Codec } from "./codecs.ts";
import { type Backing, fromFile, fromHandle, inMemory } from "./backing.ts";
import { type CachePlan, ttlArg } from "./config.ts";
import { openCacheFile } from "./file.ts";
import { keyByteLength, keyHash, MAX_KEY_BYTES } from "./keys.ts";
import { endLease, staleLease } from "./lease.ts";
import { Loads } from "./loads.ts";
import { handleSettings, openRequest } from "./options.ts";
import type { ArenaCacheOptions, ArenaHandle, ArenaOpenOptions, AttachOptions, Loader, LoadOptions, SetOptions } from "./options.ts";
import { describeStats } from "../metrics/describe.ts";
import { renderMetrics } from "../metrics/render.ts";
import { ARENA_METRICS, arenaStats, type ArenaStats } from "./stats.ts";
import { EXPIRED, DELETED, entryCost, LEASES_HELD, C_BYTES, C_HITS, C_MISSES, Shard } from "./shard.ts";
import { EvictionEvents } from "./evictions.ts";
import { beginChange, endChange, lockStripe, unlockStripe } from "./stripe-lock.ts";
import { abortReason } from "../primitives/signals.ts";

export type { EvictionReason } from "./shard.ts";
export type { ArenaCacheOptions, ArenaHandle, ArenaOpenOptions, AttachOptions, Loader, LoadOptions, SetOptions } from "./options.ts";

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
  private readonly events: Array<string | Uint8Array | number> | null;
  private readonly evictions: EvictionEvents<V> | null;
  /** The loads of getOrLoad under way in this handle (see loads.ts). */
  private readonly loads: Loads<V>;
  private readonly mappings: Mapping[];
  private readonly plan: CachePlan;
  /** Shared caches: who may hold locks, and this handle's registration in it. */
  private readonly registry: OwnerRegistry | undefined;
  private readonly registryBuffer: ArrayBufferLike | undefined;
  private readonly token: number;
  /** Shared caches with a policy whose hits relink (LRU): a hit is a change. */
  private readonly relinkOnHit: boolean;
  private wasClosed = false;

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
    const settings = handleSettings(options);
    this.codec = settings.codec;
    this.decodeRange = settings.decodeRange;
    this.clock = settings.clock;
    this.evictions = settings.onEvict ? new EvictionEvents(settings.onEvict, this.codec) : null;
    this.events = this.evictions?.pending ?? null;

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
        sh.lockCtx = { registry, waiter: waiters[i]!, timeoutMs: settings.lockTimeout, name: `stripe ${i} of ${name}` };
      });
    } else {
      this.token = 0;
    }
    const host = { isClosed: () => this.wasClosed, peek: (key: string) => this.peek(key), hashOf: keyHash, shardOf: (h: number) => this.shardOf(h), store: (key: string, value: V, ttl: number | undefined, leased: boolean) => void this.store(key, value, ttl, leased) };
    this.loads = new Loads<V>(host, this.registry === undefined ? undefined : { registry: this.registry, token: this.token, loadLease: settings.loadLease, clock: this.clock });
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
    return openCacheFile(path, openRequest(path, options), (m) => new ArenaCache<V>(options, fromFile(path, m), path));
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
    const h = keyHash(key);
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
    if (this.events !== null && this.events.length > 0) this.evictions!.deliver();
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
    if (this.loads.inflight.size !== 0) this.loads.invalidate(key);
    return this.store(key, value, options?.ttl, false);
  }

  /**
   * Remove `key`; true when it was there (even if expired).
   * @throws as {@link get}.
   */
  delete(key: string): boolean {
    this.check();
    if (this.loads.inflight.size !== 0) this.loads.invalidate(key);
    const h = keyHash(key);
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
    if (this.events !== null && this.events.length > 0) this.evictions!.deliver();
    return found;
  }

  /**
   * Remove every entry (reason "deleted"). Loads in flight anywhere don't store their results.
   * @throws `ERR_CLOSED`; `ERR_TIMEOUT` as {@link get}.
   */
  clear(): void {
    this.check();
    this.loads.invalidateAll();
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
    if (this.events !== null && this.events.length > 0) this.evictions!.deliver();
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
    return this.loads.load(key, loader, options.ttl, signal);
  }

  /**
   * Flat numbers: counters since creation (shared by every handle of a shared cache) and gauges.
   * @throws `ERR_CLOSED`.
   */
  stats(): ArenaStats {
    this.check();
    const loads = this.loads;
    return arenaStats(this.shards, this.plan, { loads: loads.started, loadErrors: loads.failed, loadsInFlight: loads.inflight.size, loadWaits: loads.waited });
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
    // Closed before the loads are aborted: a loader that sees its signal finds the handle closed.
    this.wasClosed = true;
    this.loads.close(new OffheapError("ERR_CLOSED", "the cache was closed while loading"));
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
    const h = keyHash(key);
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
    if (this.events !== null && this.events.length > 0) this.evictions!.deliver();
    return out;
  }

  /**
   * Encode and store. `leased`: the result of this handle's load under a lease, stored only
   * if the lease still stands (no set or delete of the key meanwhile), ended in the same
   * hold of the lock.
   */
  private store(key: string, value: V, ttl: number | undefined, leased: boolean): boolean {
    const h = keyHash(key);
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
    if (this.events !== null && this.events.length > 0) this.evictions!.deliver();
    return ok;
  }

  private shardOf(h: number): Shard {
    return this.nshards === 1 ? this.shards[0]! : this.shards[((h >>> 16) * this.nshards) >>> 16]!;
  }

  /** Take `sh`'s lock (shared caches): see {@link lockStripe}. */
  private lock(sh: Shard): void {
    if (this.shared) lockStripe(sh, this.token);
  }

  private unlock(sh: Shard): void {
    if (this.shared) unlockStripe(sh);
  }

  /** Mark `sh` as changing (shared caches): see {@link beginChange}. */
  private begin(sh: Shard): void {
    if (this.shared) beginChange(sh);
  }

  /** `sh` is whole again. */
  private end(sh: Shard): void {
    if (this.shared) endChange(sh);
  }

  private check(): void {
    if (this.wasClosed) throw new OffheapError("ERR_CLOSED", "the ArenaCache handle is closed");
  }
}

export { MAX_KEY_BYTES };

describeStats(ArenaCache, ARENA_METRICS);
