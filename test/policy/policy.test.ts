import { describe, expect, test, setDefaultTimeout } from "bun:test";
import {
  attachPolicy,
  ClockProPolicy,
  createPolicy,
  type EvictionPolicy,
  POLICY_NAMES,
  S3FifoPolicy,
} from "../../src/policy/index.ts";
import { seededRandom } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

/** A count-bounded cache over a policy: on a miss when full, evict, then insert. */
class Sim {
  readonly slotOf = new Map<string, number>();
  readonly keyOf: (string | undefined)[] = [];
  readonly free: number[] = [];
  readonly evicted: string[] = [];
  hits = 0;
  constructor(readonly p: EvictionPolicy, readonly cap: number) {
    for (let i = cap - 1; i >= 0; i--) this.free.push(i);
  }
  access(key: string): boolean {
    const s = this.slotOf.get(key);
    if (s !== undefined) {
      this.p.touch(s);
      this.hits++;
      return true;
    }
    if (this.slotOf.size === this.cap) {
      const v = this.p.evict();
      const k = this.keyOf[v];
      if (k === undefined) throw new Error(`evicted untracked slot ${v}`);
      this.evicted.push(k);
      this.slotOf.delete(k);
      this.keyOf[v] = undefined;
      this.free.push(v);
    }
    const slot = this.free.pop()!;
    this.slotOf.set(key, slot);
    this.keyOf[slot] = key;
    this.p.insert(slot, h(key));
    return false;
  }
  run(trace: string): this {
    for (const k of trace.split(" ")) this.access(k);
    return this;
  }
}

/** A stand-in key hash: distinct small keys, distinct hashes. */
function h(key: string): number {
  return Bun.hash.crc32(key) >>> 0;
}

describe("lru", () => {
  test("evicts the least recently used", () => {
    const s = new Sim(createPolicy("lru", 3), 3).run("A B C A D B E");
    // after A hit: A C B; D evicts B -> D A C; B evicts C -> B D A; E evicts A
    expect(s.evicted).toEqual(["B", "C", "A"]);
    expect(s.hits).toBe(1);
  });
});

describe("sieve", () => {
  test("hand skips visited entries and keeps its position (NSDI '24, Fig. 2 style)", () => {
    const s = new Sim(createPolicy("sieve", 3), 3).run("A B C A D B E");
    // A visited; D: hand at A (clears) -> B evicted, hand -> C; B: C evicted, hand -> D;
    // E: D evicted (A survives in place, unlike LRU)
    expect(s.evicted).toEqual(["B", "C", "D"]);
    expect([...s.slotOf.keys()].sort()).toEqual(["A", "B", "E"]);
  });
  test("all visited: the hand wraps, clears every bit and evicts the oldest", () => {
    const s = new Sim(createPolicy("sieve", 3), 3).run("A B C A B C D");
    expect(s.evicted).toEqual(["A"]);
  });
});

describe("s3-fifo", () => {
  test("small queue: twice-read entries move to main, others go to the ghost", () => {
    const p = createPolicy("s3-fifo", 10) as S3FifoPolicy;
    const s = new Sim(p, 10).run("1 2 3 4 5 6 7 8 9 10 1 1 2");
    s.run("11"); // tail 1 has freq 2 -> main; 2 (freq 1) -> ghost
    expect(s.evicted).toEqual(["2"]);
    expect(p.mainSize).toBe(1);
    s.run("12"); // 3 -> ghost
    expect(s.evicted).toEqual(["2", "3"]);
    expect(p.inGhost(h("2"))).toBe(true);
    s.run("2"); // ghost hit: 4 evicted from small, 2 inserted into main, leaves the ghost
    expect(s.evicted).toEqual(["2", "3", "4"]);
    expect(p.mainSize).toBe(2);
    expect(p.inGhost(h("2"))).toBe(false);
    expect(p.inGhost(h("3"))).toBe(true);
  });
  test("main queue: reinsertion with freq - 1 (2-bit clock)", () => {
    const p = createPolicy("s3-fifo", 3) as S3FifoPolicy;
    const s = new Sim(p, 3).run("A B C A A D");
    expect(s.evicted).toEqual(["B"]); // A (freq 2) promoted, B to the ghost
    s.run("B"); // C (freq 0) leaves small for the ghost; B is a ghost hit -> main
    expect(s.evicted).toEqual(["B", "C"]);
    expect(p.mainSize).toBe(2);
    expect(p.smallSize).toBe(1);
    // A read once more; D read twice. E: D moves to main, small is empty, so main evicts:
    // A (freq 1) is reinserted with freq 0, then B (freq 0) goes.
    s.run("A D D E");
    expect(s.evicted).toEqual(["B", "C", "B"]);
    expect([...s.slotOf.keys()].sort()).toEqual(["A", "D", "E"]);
  });
  test("ghost is bounded to 90% of the resident entries", () => {
    const p = createPolicy("s3-fifo", 10) as S3FifoPolicy;
    const s = new Sim(p, 10);
    for (let i = 0; i < 100; i++) s.access(`k${i}`);
    let ghosts = 0;
    for (let i = 0; i < 100; i++) if (p.inGhost(h(`k${i}`))) ghosts++;
    expect(ghosts).toBe(9);
    expect(p.inGhost(h("k89"))).toBe(true);
    expect(p.inGhost(h("k80"))).toBe(false);
  });
});

describe("clock-pro", () => {
  test("hand-checked trace: cold eviction, test period, promotion, test expiry", () => {
    const p = createPolicy("clock-pro", 2) as ClockProPolicy;
    const s = new Sim(p, 2).run("A B C");
    // m = 2, coldTarget starts at 1: HAND_cold demotes A (unreferenced cold) to a test entry
    expect(s.evicted).toEqual(["A"]);
    expect(p.inTest(h("A"))).toBe(true);
    expect([p.hotCount, p.coldCount, p.testCount]).toEqual([0, 2, 1]);
    s.run("B"); // hit: B's reference bit
    s.run("A");
    // HAND_cold: B referenced -> hot (hot 1 <= m - coldTarget 1, so HAND_hot rests);
    // next cold page C is unreferenced -> demoted. A is then found in its test period:
    // it comes back hot and coldTarget grows to 2.
    expect(s.evicted).toEqual(["A", "C"]);
    expect(p.coldTarget).toBe(2);
    expect(p.inTest(h("C"))).toBe(true);
    expect(p.inTest(h("A"))).toBe(false);
    expect([p.hotCount, p.coldCount, p.testCount]).toEqual([2, 0, 1]);
    s.run("D");
    // m - coldTarget = 0 < 2 hot: HAND_hot demotes unreferenced hot pages to cold (it meets
    // HAND_test first, which ends C's test period: coldTarget back to 1); HAND_cold evicts.
    expect(s.evicted).toEqual(["A", "C", "A"]);
    expect(p.inTest(h("C"))).toBe(false);
    expect(p.coldTarget).toBe(1);
  });
  test("a re-access within the test period comes back hot", () => {
    const p = createPolicy("clock-pro", 4) as ClockProPolicy;
    const s = new Sim(p, 4).run("A B C D E");
    expect(s.evicted).toEqual(["A"]);
    expect(p.inTest(h("A"))).toBe(true);
    const coldTarget = p.coldTarget;
    s.run("A");
    expect(p.hotCount).toBeGreaterThanOrEqual(1);
    expect(p.inTest(h("A"))).toBe(false);
    expect(p.coldTarget).toBeLessThanOrEqual(Math.max(coldTarget, 4));
  });
});

describe("every policy", () => {
  for (const name of POLICY_NAMES) {
    test(`${name}: random ops keep slots consistent with a set model`, () => {
      const cap = 64;
      const p = createPolicy(name, cap);
      const rnd = seededRandom(42);
      const live = new Set<number>();
      for (let i = 0; i < 20_000; i++) {
        const r = rnd();
        const slot = Math.floor(rnd() * cap);
        if (r < 0.4) {
          if (!live.has(slot)) {
            p.insert(slot, Math.floor(rnd() * 200));
            live.add(slot);
          }
        } else if (r < 0.75) {
          if (live.has(slot)) p.touch(slot);
        } else if (r < 0.85) {
          p.remove(slot);
          live.delete(slot);
        } else {
          const v = p.evict();
          if (live.size === 0) expect(v).toBe(-1);
          else {
            expect(live.has(v)).toBe(true);
            live.delete(v);
          }
        }
        if (p.size !== live.size) throw new Error(`${name}: size ${p.size} != model ${live.size} at op ${i}`);
      }
      // Draining returns every tracked slot exactly once.
      const drained = new Set<number>();
      for (let v = p.evict(); v !== -1; v = p.evict()) drained.add(v);
      expect(drained).toEqual(live);
      expect(p.size).toBe(0);
      p.clear();
      expect(p.evict()).toBe(-1);
    });

    test(`${name}: a Zipf hot set survives better than random`, () => {
      const cap = 100;
      const s = new Sim(createPolicy(name, cap), cap);
      const rnd = seededRandom(7);
      for (let i = 0; i < 50_000; i++) s.access(`k${Math.floor(Math.pow(rnd(), 3) * 1000)}`);
      // Uniform over 1000 keys would hit ~10%; the skewed trace must do far better.
      expect(s.hits / 50_000).toBeGreaterThan(0.3);
    });

    test(`${name}: shared state is visible through attachPolicy`, () => {
      const p = createPolicy(name, 8, { shared: true });
      expect(p.buffer).toBeInstanceOf(SharedArrayBuffer);
      p.insert(3, 1);
      p.insert(5, 2);
      const q = attachPolicy(name, 8, p.buffer);
      expect(q.size).toBe(2);
      const a = q.evict();
      expect([3, 5]).toContain(a);
      expect(p.size).toBe(1);
      expect(p.evict()).toBe(a === 3 ? 5 : 3);
    });
  }

  test("scan resistance: s3-fifo and clock-pro keep a hot set through a scan, lru does not", () => {
    const run = (name: "lru" | "s3-fifo" | "clock-pro") => {
      const s = new Sim(createPolicy(name, 20), 20);
      for (let r = 0; r < 20; r++) for (let k = 0; k < 10; k++) s.access(`hot${k}`);
      for (let k = 0; k < 100; k++) s.access(`scan${k}`);
      let kept = 0;
      for (let k = 0; k < 10; k++) if (s.slotOf.has(`hot${k}`)) kept++;
      return kept;
    };
    expect(run("lru")).toBe(0);
    expect(run("s3-fifo")).toBe(10);
    expect(run("clock-pro")).toBeGreaterThanOrEqual(5);
  });

  test("a slot outside 0..capacity-1 is ERR_RANGE, one that is no integer ERR_INVALID, on insert, touch and remove", () => {
    for (const name of POLICY_NAMES) {
      const p = createPolicy(name, 4);
      for (const call of [(s: number) => p.insert(s, 1), (s: number) => p.touch(s), (s: number) => p.remove(s)]) {
        for (const bad of [-1, 4, 9]) expect(() => call(bad)).toThrow(expect.objectContaining({ code: "ERR_RANGE" }));
        for (const bad of [1.5, Number.NaN, "1" as unknown as number]) expect(() => call(bad)).toThrow(expect.objectContaining({ code: "ERR_INVALID" }));
      }
      p.insert(2, 7);
      expect(p.size).toBe(1);
      expect(p.evict()).toBe(2);
    }
  });

  test("bad name or capacity is ERR_INVALID", () => {
    expect(() => createPolicy("fifo" as never, 8)).toThrow(expect.objectContaining({ code: "ERR_INVALID" }));
    expect(() => createPolicy("lru", 0)).toThrow(expect.objectContaining({ code: "ERR_INVALID" }));
    expect(() => createPolicy("lru", 1.5)).toThrow(expect.objectContaining({ code: "ERR_INVALID" }));
  });
});
