// The one wait on a shared 32-bit word (rings' and queues' followers): counted in only
// while waiting, woken by a change, ended by close with its count taken out, and a
// waiter that cannot count itself in polls instead.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { futexWake, Mapping } from "../../ffi/index.ts";
import { WordWait } from "../../src/primitives/word-wait.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const LONG = 60_000;
/** Int32 index of the waiters word (the waited-on word is index 0). */
const WAITERS = 16;

/** Run `body` with a WordWait on word 0 of an anonymous page, counted in at WAITERS unless `counted` is false. */
async function withWait(counted: boolean, body: (wait: WordWait, words: Int32Array, mapping: Mapping) => Promise<void>): Promise<void> {
  const mapping = Mapping.anonymous(4096);
  const words = new Int32Array(mapping.buffer);
  const counter = counted ? { words, index: WAITERS } : null;
  const wait = new WordWait({ mapping, offset: 0, counter: () => counter, pollMs: 10 });
  try {
    await body(wait, words, mapping);
  } finally {
    wait.close();
    mapping.close();
  }
}

/** How long `wait` took, in ms. */
async function took(wait: Promise<void>): Promise<number> {
  const started = performance.now();
  await wait;
  return performance.now() - started;
}

describe("WordWait", () => {
  test("a wait is counted in while it waits, and a change with a wake ends it", () =>
    withWait(true, async (wait, words, mapping) => {
      const done = wait.wait(0, () => words[0] !== 0, LONG);
      expect(words[WAITERS]).toBe(1);
      expect(wait.waiting).toBe(1);
      Atomics.store(words, 0, 1);
      futexWake(mapping, 0);
      await done;
      expect(words[WAITERS]).toBe(0);
      expect(wait.waiting).toBe(0);
    }));

  test("a change before the wait: it returns at once, counted out again", () =>
    withWait(true, async (wait, words) => {
      expect(await took(wait.wait(0, () => true, LONG))).toBeLessThan(1000);
      expect(words[WAITERS]).toBe(0);
    }));

  test("close ends every wait and takes its counts out", () =>
    withWait(true, async (wait, words) => {
      const waits = [wait.wait(0, () => false, LONG), wait.wait(0, () => false, LONG)];
      expect(words[WAITERS]).toBe(2);
      wait.close();
      await Promise.all(waits);
      expect(words[WAITERS]).toBe(0);
      await wait.wait(0, () => false, LONG); // closed: returns at once
    }));

  test("without a waiters word it polls: the wait ends after pollMs, not its timeout", () =>
    withWait(false, async (wait, words) => {
      expect(await took(wait.wait(0, () => false, LONG))).toBeLessThan(5000);
      expect(words[WAITERS]).toBe(0); // never counted in
    }));

  test("an aborted signal rejects the wait with its reason", () =>
    withWait(true, async (wait, words) => {
      const controller = new AbortController();
      const done = wait.wait(0, () => false, LONG, controller.signal);
      controller.abort(new Error("stop"));
      await expect(done).rejects.toThrow("stop");
      expect(words[WAITERS]).toBe(0);
    }));
});
