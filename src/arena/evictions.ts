/**
 * `onEvict` delivery. Shards record removed entries as flat triples in one array while they
 * hold their stripe (no callback may run under a lock, and no object per event is built);
 * the cache hands them to `onEvict` once the call's locks are released.
 */
import type { Codec } from "./codecs.ts";
import { REASONS, type EvictionReason } from "./shard.ts";

/** The entries removed by this handle's calls and not yet passed to `onEvict`. */
export class EvictionEvents<V> {
  /** Flat triples (key, value bytes, reason index) as shards push them. */
  readonly pending: Array<string | Uint8Array | number> = [];
  #delivering = false;

  constructor(
    private readonly onEvict: (key: string, value: V, reason: EvictionReason) => void,
    private readonly codec: Codec<V>,
  ) {}

  /**
   * Call `onEvict` for every pending entry, those that its calls add included. A call from
   * inside `onEvict` returns at once (the outer delivery reaches its entries). Every entry is
   * delivered even when one callback throws; the first error is rethrown after.
   */
  deliver(): void {
    if (this.#delivering) return;
    this.#delivering = true;
    const pending = this.pending;
    let first: unknown;
    let failed = false;
    try {
      while (pending.length > 0) {
        const batch = pending.splice(0, pending.length);
        for (let i = 0; i < batch.length; i += 3) {
          try {
            this.onEvict(batch[i] as string, this.codec.decode(batch[i + 1] as Uint8Array), REASONS[batch[i + 2] as number]!);
          } catch (e) {
            if (!failed) {
              failed = true;
              first = e;
            }
          }
        }
      }
    } finally {
      this.#delivering = false;
    }
    if (failed) throw first;
  }
}
