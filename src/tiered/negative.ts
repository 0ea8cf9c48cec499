/** The negative cache: keys the origin said do not exist, remembered for a while, bounded. */

/** Keys answered `NOT_FOUND`, each until a deadline; the oldest go first when full. */
export class NegativeCache {
  readonly #until = new Map<string, number>();
  readonly #ms: number;
  readonly #max: number;

  constructor(ms: number, maxKeys: number) {
    this.#ms = ms;
    this.#max = maxKeys;
  }

  /** Keys remembered. */
  get size(): number {
    return this.#until.size;
  }

  /** When `key` was answered not-found, if that still holds at `now`. */
  since(key: string, now: number): number | undefined {
    if (this.#until.size === 0) return undefined;
    const until = this.#until.get(key);
    if (until === undefined) return undefined;
    if (until > now) return until - this.#ms;
    this.#until.delete(key);
    return undefined;
  }

  /** Remember `key` as not found from `now` (no-op when the time is 0). */
  remember(key: string, now: number): void {
    if (this.#ms <= 0) return;
    this.#until.delete(key);
    this.#until.set(key, now + this.#ms);
    while (this.#until.size > this.#max) this.#until.delete(this.#until.keys().next().value as string);
  }

  /** Forget `key`. */
  forget(key: string): void {
    this.#until.delete(key);
  }
}
