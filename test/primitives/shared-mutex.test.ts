// The registry behind shared locks: who holds a token, and whether that thread still runs.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { CONTENDED, OwnerRegistry } from "../../src/primitives/shared-mutex.ts";
import { codeOf } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const REGISTRY = JSON.stringify(new URL("../../src/primitives/shared-mutex.ts", import.meta.url).href);

/** Register in a Worker (a thread of its own), which then stays alive until terminated. */
async function workerToken(buffer: SharedArrayBuffer, slots: number): Promise<{ worker: Worker; token: number }> {
  const src = `import { OwnerRegistry } from ${REGISTRY};
    self.onmessage = (e) => postMessage(new OwnerRegistry(e.data.buffer, e.data.slots).register());`;
  const worker = new Worker(URL.createObjectURL(new Blob([src], { type: "text/javascript" })));
  const token = await new Promise<number>((resolve, reject) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => reject(e);
    worker.postMessage({ buffer, slots });
  });
  return { worker, token };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await Bun.sleep(5);
}

describe("OwnerRegistry", () => {
  test("tokens are distinct, non-zero and below the CONTENDED bit; an ended registration is dead", () => {
    const r = new OwnerRegistry(new SharedArrayBuffer(OwnerRegistry.bytes(8)), 8);
    const tokens = Array.from({ length: 8 }, () => r.register());
    expect(new Set(tokens).size).toBe(8);
    for (const t of tokens) {
      expect(t).toBeGreaterThan(0);
      expect(t).toBeLessThan(CONTENDED);
      expect(r.liveness(t)).toBe("alive");
      expect(r.liveness(t, false)).toBe("unknown");
      expect(r.describe(t)).toBe(`pid ${process.pid}`);
    }
    expect(codeOf(() => r.register())).toBe("ERR_FULL");
    r.unregister(tokens[3]!);
    expect(r.liveness(tokens[3]!)).toBe("dead");
    const again = r.register();
    expect(again).not.toBe(tokens[3]);
    // The slot's old token stays dead once it is reused: a generation tells them apart.
    expect(r.liveness(tokens[3]!)).toBe("dead");
    expect(r.liveness(again)).toBe("alive");
    expect(r.liveness(0)).toBe("dead");
    expect(r.liveness(0x3ff)).toBe("dead");
  });

  test("a terminated Worker's registration reads as dead, and its slot is reclaimed when the registry is full", async () => {
    const buffer = new SharedArrayBuffer(OwnerRegistry.bytes(2));
    const r = new OwnerRegistry(buffer, 2);
    const mine = r.register();
    const { worker, token } = await workerToken(buffer, 2);
    expect(r.liveness(token)).toBe("alive");
    expect(r.describe(token)).toMatch(new RegExp(`^pid ${process.pid} \\(thread \\d+\\)$`));
    expect(codeOf(() => r.register())).toBe("ERR_FULL");
    worker.terminate();
    await until(() => r.liveness(token) === "dead");
    expect(r.liveness(token)).toBe("dead");
    const reclaimed = r.register();
    expect(r.liveness(reclaimed)).toBe("alive");
    expect(r.liveness(token)).toBe("dead");
    expect(r.liveness(mine)).toBe("alive");
  });

  test("a buffer too small for its slots is ERR_FORMAT", () => {
    expect(codeOf(() => new OwnerRegistry(new SharedArrayBuffer(16), 2))).toBe("ERR_FORMAT");
    expect(codeOf(() => new OwnerRegistry(new SharedArrayBuffer(1 << 16), 2000))).toBe("ERR_FORMAT");
  });
});
