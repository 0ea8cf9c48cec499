/**
 * The loads behind `ArenaCache.getOrLoad`: one load per key at a time in a handle (its
 * callers share it), and in a shared cache one per key across every thread and process,
 * by a load lease kept in the key's stripe (lease.ts): a caller that finds the lease
 * taken polls until the value is stored, that load ends or its thread dies, or the lease
 * runs out; then it loads itself.
 */
import { OffheapError } from "../errors.ts";
import type { OwnerRegistry } from "../primitives/shared-mutex.ts";
import { abortReason, untilAborted } from "../primitives/signals.ts";
import { endLease, LEASE_NONE, LEASE_TAKEN, takeLease } from "./lease.ts";
import type { Loader } from "./options.ts";
import type { Shard } from "./shard.ts";
import { lockStripe, unlockStripe } from "./stripe-lock.ts";

/** One load under way in this handle. */
interface InFlight<V> {
  promise: Promise<V>;
  ctrl: AbortController;
  waiters: number;
  /** A set/delete of the key during the load: its result must not overwrite that. */
  stale: boolean;
  /** This handle holds the key's load lease (shared caches). */
  leased: boolean;
}

/** What the loads need of their cache handle. */
export interface LoadHost<V> {
  isClosed(): boolean;
  /** The value held, not counted as a use. */
  peek(key: string): V | undefined;
  /** The key's hash (checking the key) and its stripe. */
  hashOf(key: string): number;
  shardOf(h: number): Shard;
  /** Store a loaded value; `leased`: only while this handle's lease of the key stands, ending it. */
  store(key: string, value: V, ttl: number | undefined, leased: boolean): void;
}

/** Shared caches: who may hold leases, this handle's token, and how long a lease lasts. */
export interface LeaseContext {
  registry: OwnerRegistry;
  token: number;
  loadLease: number;
  clock: () => number;
}

/** How often a thread waiting for another's load asks the OS whether that one still runs. */
const LOAD_HOLDER_CHECK_MS = 50;

/** A handle's loads in flight and their counters. */
export class Loads<V> {
  /** The loads under way, by key. */
  readonly inflight = new Map<string, InFlight<V>>();
  /** Loads this handle ran, failed (not aborted), and waited for another thread's. */
  started = 0;
  failed = 0;
  waited = 0;
  readonly #host: LoadHost<V>;
  readonly #lease: LeaseContext | undefined;

  /** `lease`: undefined for a private cache (no other thread loads). */
  constructor(host: LoadHost<V>, lease: LeaseContext | undefined) {
    this.#host = host;
    this.#lease = lease;
  }

  /** Join the load of `key` under way, or start one; resolve with its value (see `getOrLoad`). */
  async load(key: string, loader: Loader<V>, ttl: number | undefined, signal: AbortSignal | undefined): Promise<V> {
    let f = this.inflight.get(key);
    if (f === undefined) f = this.#start(key, loader, ttl);
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

  /** A set or delete of `key`: a load under way must not store its older result. */
  invalidate(key: string): void {
    const f = this.inflight.get(key);
    if (f !== undefined) f.stale = true;
  }

  /** A clear: no load under way stores its result. */
  invalidateAll(): void {
    for (const f of this.inflight.values()) f.stale = true;
  }

  /** The handle closes: release every lease, then abort every load with `err`. */
  close(err: OffheapError): void {
    for (const [key, f] of this.inflight) this.#releaseLease(key, f);
    for (const f of this.inflight.values()) f.ctrl.abort(err);
    this.inflight.clear();
  }

  #start(key: string, loader: Loader<V>, ttl: number | undefined): InFlight<V> {
    const host = this.#host;
    const ctrl = new AbortController();
    const f: InFlight<V> = { promise: undefined as unknown as Promise<V>, ctrl, waiters: 0, stale: false, leased: false };
    const run = async (): Promise<V> => {
      try {
        if (this.#lease !== undefined) {
          const theirs = await this.#awaitOtherLoad(this.#lease, key, f, ctrl.signal);
          if (theirs !== undefined) return theirs;
        }
        this.started++;
        const v = await untilAborted(Promise.resolve().then(() => loader(key, { signal: ctrl.signal })), ctrl.signal);
        if (!f.stale && !host.isClosed() && v !== undefined) {
          const leased = f.leased;
          f.leased = false;
          host.store(key, v, ttl, leased);
        }
        return v;
      } catch (e) {
        if (!ctrl.signal.aborted) this.failed++;
        throw e;
      } finally {
        if (!host.isClosed()) this.#releaseLease(key, f);
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
   * thread that holds it and resolve with the value it stored.
   */
  async #awaitOtherLoad(lease: LeaseContext, key: string, f: InFlight<V>, signal: AbortSignal): Promise<V | undefined> {
    const host = this.#host;
    const h = host.hashOf(key);
    const sh = host.shardOf(h);
    let dead = 0;
    const began = performance.now();
    let waited = false;
    let nextCheck = performance.now() + LOAD_HOLDER_CHECK_MS;
    for (;;) {
      let holder: number;
      lockStripe(sh, lease.token);
      try {
        const now = lease.clock();
        holder = takeLease(sh, lease.registry, h, lease.token, now, now + lease.loadLease, dead);
      } finally {
        unlockStripe(sh);
      }
      if (holder === LEASE_TAKEN) {
        f.leased = true;
        return undefined;
      }
      if (holder === LEASE_NONE) return undefined;
      if (!waited) {
        waited = true;
        this.waited++;
      }
      // Look every millisecond at first (a load is often a few ms: the wait should end soon
      // after it), then back off slowly to every 8 ms; each look is a lock hold of ~1 µs.
      await untilAborted(Bun.sleep(Math.min(1 + Math.floor((performance.now() - began) / 25), 8)), signal);
      if (host.isClosed()) throw new OffheapError("ERR_CLOSED", "the cache was closed while loading");
      const v = host.peek(key);
      if (v !== undefined) return v;
      if (f.stale) return undefined; // a set or delete here meanwhile: load what is current
      if (performance.now() >= nextCheck) {
        if (lease.registry.liveness(holder) === "dead") dead = holder;
        nextCheck = performance.now() + LOAD_HOLDER_CHECK_MS;
      }
    }
  }

  /** End `f`'s lease of `key` if it holds one (a load that failed, was aborted or closed). */
  #releaseLease(key: string, f: InFlight<V>): void {
    if (!f.leased || this.#lease === undefined) return;
    f.leased = false;
    const h = this.#host.hashOf(key);
    const sh = this.#host.shardOf(h);
    try {
      lockStripe(sh, this.#lease.token);
    } catch {
      return; // a stuck holder: the lease runs out by itself
    }
    try {
      endLease(sh, h, this.#lease.token);
    } finally {
      unlockStripe(sh);
    }
  }
}
