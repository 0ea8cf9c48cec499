/**
 * Fences order the writes of one key: a fill (an origin fetch, a promotion, a refresh, an
 * HTTP revalidation) takes a fence when it *starts*, before the origin is even asked, and
 * publishes through it. A `delete` or `set` of the key that comes at any moment after
 * that supersedes the fence, so the fill publishes nothing; and because a publish that
 * already began is awaited by the `delete` (or ordered before the `set`'s own commit), an
 * older body can never land after the newer state.
 */

/** One write's claim on a key. Release it when the write ended, however it ended. */
export class Fence {
  #superseded = false;
  #committing: Promise<unknown> | undefined;
  #barrier: Promise<unknown> | undefined;
  readonly #release: (fence: Fence) => void;

  /** @internal Made by {@link Fences.begin}. */
  constructor(release: (fence: Fence) => void, barrier: Promise<unknown> | undefined) {
    this.#release = release;
    this.#barrier = barrier;
  }

  /** True once a later `delete` or `set` of the key means this write must not publish. */
  get superseded(): boolean {
    return this.#superseded;
  }

  /**
   * Run `commit` unless superseded: after the publishes this fence superseded have landed,
   * and registered so that a `delete` arriving meanwhile waits for it. Resolves to whether
   * `commit` ran.
   */
  async publish(commit: () => Promise<void>): Promise<boolean> {
    if (this.#barrier !== undefined) {
      await this.#barrier;
      this.#barrier = undefined;
    }
    if (this.#superseded) return false;
    const running = commit();
    this.#committing = running;
    try {
      await running;
    } finally {
      if (this.#committing === running) this.#committing = undefined;
    }
    return true;
  }

  /** End the claim. Idempotent. */
  release(): void {
    this.#release(this);
  }

  /** @internal Mark superseded; the publish in flight, if any. */
  supersede(): Promise<unknown> | undefined {
    this.#superseded = true;
    return this.#committing;
  }
}

/** The fences of every key with a write in flight. */
export class Fences {
  readonly #byKey = new Map<string, Set<Fence>>();

  /**
   * A fence on `key` from now. With `supersede` (a `set` or `writer`), the fences already
   * held are superseded first and this one publishes only after their publishes landed.
   */
  begin(key: string, supersede = false): Fence {
    const barrier = supersede ? this.supersede(key) : undefined;
    let set = this.#byKey.get(key);
    if (set === undefined) this.#byKey.set(key, (set = new Set()));
    const fence = new Fence((f) => this.#end(key, f), barrier);
    set.add(fence);
    return fence;
  }

  /**
   * Supersede every fence on `key`; resolves once the publishes already under way have
   * landed, so whatever the caller does next comes after them. Undefined when none were.
   */
  supersede(key: string): Promise<unknown> | undefined {
    const set = this.#byKey.get(key);
    if (set === undefined) return undefined;
    const running: Promise<unknown>[] = [];
    for (const fence of set) {
      const p = fence.supersede();
      if (p !== undefined) running.push(p.catch(() => {}));
    }
    return running.length === 0 ? undefined : Promise.all(running);
  }

  /** Number of keys with a fence held (for stats). */
  get size(): number {
    return this.#byKey.size;
  }

  #end(key: string, fence: Fence): void {
    const set = this.#byKey.get(key);
    if (set === undefined || !set.delete(fence)) return;
    if (set.size === 0) this.#byKey.delete(key);
  }
}
