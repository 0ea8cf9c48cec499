/**
 * Origin fetches under way, one per key: a caller that misses while another is asking the
 * origin for the same key joins that fetch instead of asking again.
 */
import type { SharedFill } from "./fill.ts";
import type { EntryMeta } from "./types.ts";

/** How an origin fetch ended, for the callers that waited for it. */
export type FlightOutcome = { kind: "published" } | { kind: "renewed" } | { kind: "abandoned" } | { kind: "not-found" } | { kind: "error"; error: unknown };

/** An origin fetch under way for one key. */
export interface Flight {
  outcome: Promise<FlightOutcome>;
  /** Set once the origin answered with a body: callers that come meanwhile read it too. */
  fill?: SharedFill;
  meta?: EntryMeta;
  /** Resolves when `fill` is set or the flight settled, whichever comes first. */
  ready: Promise<void>;
}

/** The flights of one cache, by key. */
export class Flights {
  readonly #byKey = new Map<string, Flight>();

  /** Flights under way. */
  get size(): number {
    return this.#byKey.size;
  }

  /** The flight under way for `key`, if any. */
  get(key: string): Flight | undefined {
    return this.#byKey.size === 0 ? undefined : this.#byKey.get(key);
  }

  /**
   * A new flight for `key`, registered for others to join when `register`.
   * `settle(undefined)` marks it ready (its fill can be joined); `settle(outcome)` ends it,
   * once, and unregisters it.
   */
  start(key: string, register: boolean): { flight: Flight; settle: (o: FlightOutcome | undefined) => void } {
    let resolveOutcome!: (o: FlightOutcome) => void;
    let markReady!: () => void;
    const flight: Flight = {
      outcome: new Promise((r) => (resolveOutcome = r)),
      ready: new Promise<void>((r) => (markReady = r)),
    };
    if (register) this.#byKey.set(key, flight);
    let settled = false;
    const settle = (o: FlightOutcome | undefined) => {
      markReady();
      if (o === undefined || settled) return;
      settled = true;
      if (this.#byKey.get(key) === flight) this.#byKey.delete(key);
      resolveOutcome(o);
    };
    return { flight, settle };
  }
}
