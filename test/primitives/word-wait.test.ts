// The one wait on a shared 32-bit word (rings' and queues' followers): counted in only
// while waiting, woken by a change, ended by close with its count taken out, and a
// waiter that cannot count itself in polls instead.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { futexWake, Mapping } from "../../ffi/index.ts";
import { WordWait } from "../../src/primitives/word-wait.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

/** A word at byte 0 and a waiters word at byte 64 of one anonymous page. */
function page() {
  const mapping = Mapping.anonymous(4096);
  const words = new Int32Array(mapping.buffer);
  return { mapping, words, counter: { words, index: 16 } };
}

describe("WordWait", () => {
  test("a wait is counted in while it waits, and a change with a wake ends it", async () => {
    const { mapping, words, counter } = page();
    const wait = new WordWait({ mapping, offset: 0, counter: () => counter, pollMs: 10 });
    const done = wait.wait(0, () => words[0] !== 0, 60_000);
    expect(words[16]).toBe(1);
    expect(wait.waiting).toBe(1);
    Atomics.store(words, 0, 1);
    futexWake(mapping, 0);
    await done;
    expect(words[16]).toBe(0);
    expect(wait.waiting).toBe(0);
    wait.close();
    mapping.close();
  });

  test("a change before the wait: it returns at once, counted out again", async () => {
    const { mapping, words, counter } = page();
    const wait = new WordWait({ mapping, offset: 0, counter: () => counter, pollMs: 10 });
    const started = performance.now();
    await wait.wait(0, () => true, 60_000);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(words[16]).toBe(0);
    wait.close();
    mapping.close();
  });

  test("close ends every wait and takes its counts out", async () => {
    const { mapping, words, counter } = page();
    const wait = new WordWait({ mapping, offset: 0, counter: () => counter, pollMs: 10 });
    const waits = [wait.wait(0, () => false, 60_000), wait.wait(0, () => false, 60_000)];
    expect(words[16]).toBe(2);
    wait.close();
    await Promise.all(waits);
    expect(words[16]).toBe(0);
    await wait.wait(0, () => false, 60_000); // closed: returns at once
    mapping.close();
  });

  test("without a waiters word it polls: the wait ends after pollMs, not its timeout", async () => {
    const { mapping, words } = page();
    const wait = new WordWait({ mapping, offset: 0, counter: () => null, pollMs: 10 });
    const started = performance.now();
    await wait.wait(0, () => false, 60_000);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(words[16]).toBe(0);
    wait.close();
    mapping.close();
  });

  test("an aborted signal rejects the wait with its reason", async () => {
    const { mapping, counter, words } = page();
    const wait = new WordWait({ mapping, offset: 0, counter: () => counter, pollMs: 10 });
    const controller = new AbortController();
    const done = wait.wait(0, () => false, 60_000, controller.signal);
    controller.abort(new Error("stop"));
    await expect(done).rejects.toThrow("stop");
    expect(words[16]).toBe(0);
    wait.close();
    mapping.close();
  });
});
