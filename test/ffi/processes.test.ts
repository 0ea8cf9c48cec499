// flock, Atomics and futex between real processes.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { File, FutexWaiter, Lock, Mapping, futexWake, hasFutex } from "../../ffi/index.ts";
import { Child, ROOT, codeOf, codeOfAsync, runScript, tempDir, writeScript } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);



describe("Lock between processes", () => {
  test("a child holding the lock locks the parent out until the child is killed", async () => {
    using dir = tempDir();
    const path = dir.file("lockfile");
    const script = writeScript(
      dir.path,
      "holder",
      `
      import { File, Lock } from "${ROOT}/ffi/index.ts";
      const lock = new Lock(File.open(${JSON.stringify(path)}, { create: true }));
      lock.tryLock();
      console.log("locked");
      setInterval(() => {}, 1000);
      `,
    );
    const child = new Child(script);
    await child.waitForLine((l) => l === "locked");
    using f = File.open(path);
    const lock = new Lock(f);
    expect(codeOf(() => lock.tryLock())).toBe("ERR_LOCKED");
    expect(await codeOfAsync(() => lock.lock({ timeoutMs: 50 }))).toBe("ERR_TIMEOUT");
    expect(lock.held).toBe(false);
    await child.kill("SIGKILL");
    lock.tryLock();
    expect(lock.held).toBe(true);
    lock.unlock();
    expect(lock.held).toBe(false);
  });

  test("lock() waits for a holder that lets go, without blocking the event loop", async () => {
    using dir = tempDir();
    const path = dir.file("lockfile");
    const script = writeScript(
      dir.path,
      "brief",
      `
      import { File, Lock } from "${ROOT}/ffi/index.ts";
      const lock = new Lock(File.open(${JSON.stringify(path)}, { create: true }));
      lock.tryLock();
      console.log("locked");
      for await (const line of console) { if (line === "release") { lock.unlock(); console.log("released"); } }
      `,
    );
    const child = new Child(script);
    await child.waitForLine((l) => l === "locked");
    using f = File.open(path);
    const lock = new Lock(f);
    let ticks = 0;
    const timer = setInterval(() => {
      ticks++;
      if (ticks === 3) child.send("release");
    }, 5);
    await lock.lock({ timeoutMs: 60_000 });
    clearInterval(timer);
    // The release is only sent from a timer, so the timer ran while lock() was waiting.
    expect(ticks).toBeGreaterThanOrEqual(3);
    expect(lock.held).toBe(true);
    lock.unlock();
    await child.kill();
  });

  test("shared locks coexist; an exclusive one is refused while they are held", () => {
    using dir = tempDir();
    const path = dir.file("lockfile");
    using a = File.open(path, { create: true });
    using b = File.open(path);
    using c = File.open(path);
    const s1 = new Lock(a, "shared");
    const s2 = new Lock(b, "shared");
    s1.tryLock();
    s2.tryLock();
    const x = new Lock(c, "exclusive");
    expect(codeOf(() => x.tryLock())).toBe("ERR_LOCKED");
    expect(codeOf(() => x.lockSync(20))).toBe("ERR_TIMEOUT");
    s1.unlock();
    s2.unlock();
    x.lockSync(1000);
    expect(x.held).toBe(true);
  });

  test("a closed file's lock is released; aborting a wait throws the abort reason", async () => {
    using dir = tempDir();
    const path = dir.file("lockfile");
    const first = File.open(path, { create: true });
    new Lock(first).tryLock();
    using second = File.open(path);
    const lock = new Lock(second);
    const controller = new AbortController();
    const waiting = lock.lock({ timeoutMs: 60_000, signal: controller.signal });
    controller.abort(new Error("stop waiting"));
    await expect(waiting).rejects.toThrow("stop waiting");
    first.close();
    lock.tryLock();
    expect(lock.held).toBe(true);
  });
});

describe("Atomics on a shared file mapping", () => {
  test("Atomics.add from two processes gives the exact total", async () => {
    using dir = tempDir();
    const path = dir.file("counter");
    const f = File.open(path, { create: true });
    f.truncate(4096);
    f.close();
    const perChild = 200_000;
    const script = writeScript(
      dir.path,
      "adder",
      `
      import { File, Mapping } from "${ROOT}/ffi/index.ts";
      const m = Mapping.file(File.open(${JSON.stringify(path)}));
      const words = new Int32Array(m.buffer);
      for (let i = 0; i < ${perChild}; i++) Atomics.add(words, 1, 1);
      console.log("done");
      `,
    );
    const results = await Promise.all([runScript(script), runScript(script)]);
    for (const r of results) expect(r.exitCode).toBe(0);
    using rf = File.open(path, { readonly: true });
    using m = Mapping.file(rf);
    expect(Atomics.load(new Int32Array(m.buffer), 1)).toBe(2 * perChild);
  });
});

describe("futex across processes", () => {
  test("platform has futex on Linux", () => {
    expect(hasFutex).toBe(process.platform === "linux");
  });

  test("a waiter in this process is woken by another process", async () => {
    using dir = tempDir();
    const path = dir.file("word");
    using f = File.open(path, { create: true });
    f.truncate(4096);
    using m = Mapping.file(f);
    const words = new Int32Array(m.buffer);
    const script = writeScript(
      dir.path,
      "waker",
      `
      import { File, Mapping, futexWake } from "${ROOT}/ffi/index.ts";
      const m = Mapping.file(File.open(${JSON.stringify(path)}));
      const words = new Int32Array(m.buffer);
      for await (const line of console) {
        if (line === "wake") {
          Atomics.store(words, 2, 1);
          console.log("woke " + futexWake(m, 8));
        }
      }
      `,
    );
    const child = new Child(script);
    using waiter = new FutexWaiter();
    // A long timeout: only a wake (or the value changing first) ends this wait early.
    const waiting = waiter.wait(m, 8, 0, 60_000);
    // Give the worker time to start sleeping, then ask the other process to wake it.
    await Bun.sleep(200);
    child.send("wake");
    const result = await waiting;
    expect(["woken", "changed"]).toContain(result);
    expect(Atomics.load(words, 2)).toBe(1);
    const line = await child.waitForLine((l) => l.startsWith("woke "));
    // Either the child's wake reached our sleeping worker, or the worker saw the new value.
    expect(result === "changed" || line === "woke 1").toBe(true);
    await child.kill();
  });

  test("a process sleeping in futexWait is woken by this process", async () => {
    using dir = tempDir();
    const path = dir.file("word");
    using f = File.open(path, { create: true });
    f.truncate(4096);
    using m = Mapping.file(f);
    const script = writeScript(
      dir.path,
      "sleeper",
      `
      import { File, Mapping, futexWait } from "${ROOT}/ffi/index.ts";
      const m = Mapping.file(File.open(${JSON.stringify(path)}));
      console.log("sleeping");
      console.log(futexWait(m, 0, 0, 60_000));
      `,
    );
    const child = new Child(script);
    await child.waitForLine((l) => l === "sleeping");
    // Wake until the child reports; a wake sent before it sleeps finds nobody.
    let woken = 0;
    while (child.lines.length < 2 && woken === 0) {
      await Bun.sleep(20);
      woken = futexWake(m, 0);
    }
    const result = await child.waitForLine((l) => l !== "sleeping");
    expect(woken).toBe(1);
    expect(result).toBe("woken");
    await child.exited();
  });

  test("wait returns 'changed' at once when the word differs, 'timeout' when nobody wakes", async () => {
    using m = Mapping.anonymous(4096);
    new Int32Array(m.buffer)[0] = 5;
    using waiter = new FutexWaiter();
    expect(await waiter.wait(m, 0, 4, 60_000)).toBe("changed");
    expect(await waiter.wait(m, 0, 5, 30)).toBe("timeout");
    expect(codeOf(() => futexWake(m, 2))).toBe("ERR_INVALID");
    waiter.close();
    expect(await codeOfAsync(() => waiter.wait(m, 0, 5, 10))).toBe("ERR_CLOSED");
  });
});
