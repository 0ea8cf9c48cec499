/**
 * A mutex in one Int32 word of shared memory (Drepper's "futexes are tricky" mutex over
 * Atomics): 0 free, 1 held, 2 held with waiters. Short critical sections, so a waiter
 * spins briefly before sleeping in `Atomics.wait`.
 */

const SPINS = 64;

/** Take the lock at `lock[index]`. */
export function lockWord(lock: Int32Array, index: number): void {
  let c = Atomics.compareExchange(lock, index, 0, 1);
  if (c === 0) return;
  for (let i = 0; i < SPINS; i++) {
    if (c !== 2) {
      c = Atomics.compareExchange(lock, index, 0, 1);
      if (c === 0) return;
    }
  }
  if (c !== 2) c = Atomics.exchange(lock, index, 2);
  while (c !== 0) {
    Atomics.wait(lock, index, 2, 50);
    c = Atomics.exchange(lock, index, 2);
  }
}

/** Release the lock at `lock[index]`, waking one waiter if there are any. */
export function unlockWord(lock: Int32Array, index: number): void {
  if (Atomics.sub(lock, index, 1) !== 1) {
    Atomics.store(lock, index, 0);
    Atomics.notify(lock, index, 1);
  }
}
