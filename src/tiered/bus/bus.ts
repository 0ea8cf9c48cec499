/**
 * The invalidation bus: how TieredCache instances on several machines (or processes) tell
 * each other that a key changed, so each drops its local copy (memory, file tiers) while
 * the shared tiers (Redis, S3) hold the one truth.
 *
 * A cache publishes a key when it deletes or sets it, when an unsafe HTTP method
 * invalidates it, and when a revalidation brought a new version. A bus that is not
 * connected can't promise the cache heard everything, so the cache then trusts its local
 * copies only briefly (`busFallbackFresh`), and when the bus connects (again) every local
 * copy older than that moment is validated with the origin once before it is served.
 */

/** What the cache does with what the bus hears. */
export interface BusListener {
  /** Another instance changed `key`: drop it from the local tiers. */
  invalidate(key: string): void;
  /** Another instance lost track (it dropped messages): distrust every local copy. */
  invalidateAll(): void;
  /** The bus connected (`true`) or lost its connection (`false`). */
  connection(up: boolean): void;
}

/** A channel that carries invalidations between cache instances. */
export interface InvalidationBus {
  /** Whether messages are being received now. */
  readonly connected: boolean;
  /** Begin receiving; called once by the cache that owns the bus. */
  start(listener: BusListener): void;
  /** Tell the other instances that `key` changed. Never throws for a string key; kept and sent later while disconnected. */
  publish(key: string): void;
  /** Stop and release connections. Idempotent. */
  close(): Promise<void>;
}
