/**
 * Work a cache does in the background (stale-while-revalidate refreshes, drains that
 * finish storing a body nobody reads): at most one job per key, at most `workers` at
 * once, every promise tracked so that `close()` can wait for them.
 */

/** A bounded, per-key-deduplicated queue of background jobs. */
export class BackgroundWork {
  readonly #workers: number;
  readonly #pending = new Set<string>();
  readonly #queue: { key: string; task: () => Promise<void> }[] = [];
  readonly #tracked = new Set<Promise<unknown>>();
  #running = 0;
  #stopped = false;
  /** Called with each job's failure (the job is dropped). */
  readonly #onError: (e: unknown) => void;

  constructor(workers: number, onError: (e: unknown) => void) {
    this.#workers = workers;
    this.#onError = onError;
  }

  /** Jobs waiting for a worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Jobs running. */
  get running(): number {
    return this.#running;
  }

  /** Whether a job for `key` is queued or running. */
  has(key: string): boolean {
    return this.#pending.has(key);
  }

  /** Run `task` for `key` unless one is already queued or running for it. */
  run(key: string, task: () => Promise<void>): void {
    if (this.#stopped || this.#pending.has(key)) return;
    this.#pending.add(key);
    this.#queue.push({ key, task });
    this.#pump();
  }

  /** Keep `work` in view so that {@link stop} waits for it. */
  track(work: Promise<unknown>): void {
    this.#tracked.add(work);
    work.finally(() => this.#tracked.delete(work)).catch(() => {});
  }

  /** Drop what is queued and wait for everything running or tracked. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const job of this.#queue) this.#pending.delete(job.key);
    this.#queue.length = 0;
    while (this.#tracked.size > 0) await Promise.allSettled([...this.#tracked]);
  }

  #pump(): void {
    while (this.#running < this.#workers && this.#queue.length > 0 && !this.#stopped) {
      const job = this.#queue.shift()!;
      this.#running++;
      this.track(
        job
          .task()
          .catch((e) => this.#onError(e))
          .finally(() => {
            this.#running--;
            this.#pending.delete(job.key);
            this.#pump();
          }),
      );
    }
  }
}
