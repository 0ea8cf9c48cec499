/**
 * Model-based test: random appends, writes, deletes, gets, ranges and reopens against a
 * plain in-memory model of the ring's contract, for several capacities and record sizes,
 * in both I/O modes (switching mode on some reopens), with a read-only handle checked too.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { RingBuffer } from "../../src/ring/index.ts";
import { OffheapError } from "../../src/errors.ts";
import { seededRandom, tempDir } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

/** The contract, in memory: ids in [max(0, next - capacity), next) are held. */
class Model {
  readonly records = new Map<number, Uint8Array>();
  next = 0;
  constructor(readonly capacity: number) {}
  get first(): number {
    return Math.max(0, this.next - this.capacity);
  }
  get(id: number): Uint8Array | undefined {
    return id >= this.first && id < this.next ? this.records.get(id) : undefined;
  }
  put(id: number, data: Uint8Array): void {
    this.records.set(id, data);
    if (id >= this.next) this.next = id + 1;
    for (const k of this.records.keys()) if (k < this.first) this.records.delete(k);
  }
  delete(id: number): boolean {
    if (this.get(id) === undefined) return false;
    this.records.delete(id);
    return true;
  }
}

function randomBytes(random: () => number, max: number): Uint8Array {
  const n = Math.floor(random() * (max + 1));
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 256);
  return out;
}

const configs = [
  { capacity: 1, recordSize: 8 },
  { capacity: 7, recordSize: 13 },
  { capacity: 64, recordSize: 128, shards: 3 },
  { capacity: 500, recordSize: 1000 },
];
const OPS = 10_000;

describe("RingBuffer against an in-memory model", () => {
  for (const io of ["mmap", "pread"] as const) {
    for (const config of configs) {
      test(`${io}, capacity ${config.capacity}, recordSize ${config.recordSize}`, () => {
        using dir = tempDir();
        const path = dir.file("model.ring");
        const random = seededRandom(config.capacity * 1000 + config.recordSize + (io === "mmap" ? 0 : 7));
        const model = new Model(config.capacity);
        let mode: "mmap" | "pread" = io;
        let ring = RingBuffer.open(path, { ...config, io: mode });
        let reader = RingBuffer.open(path, { readonly: true, io: mode === "mmap" ? "pread" : "mmap" });
        const pickId = () => {
          const r = random();
          if (r < 0.05) return model.next + Math.floor(random() * config.capacity * 3);
          const lo = Math.max(0, model.first - 3);
          return lo + Math.floor(random() * (model.next + 4 - lo));
        };
        const scratch = new Uint8Array(config.recordSize);
        const counts = { append: 0, write: 0, delete: 0, get: 0, range: 0, reopen: 0, many: 0 };
        try {
          for (let op = 0; op < OPS; op++) {
            const r = random();
            if (r < 0.3) {
              const data = randomBytes(random, config.recordSize);
              const id = ring.append(data);
              expect(id).toBe(model.next);
              model.put(id, data);
              counts.append++;
            } else if (r < 0.35) {
              const batch = Array.from({ length: 1 + Math.floor(random() * 5) }, () => randomBytes(random, config.recordSize));
              const id = ring.appendMany(batch);
              expect(id).toBe(model.next);
              batch.forEach((d, i) => model.put(id + i, d));
              counts.many++;
            } else if (r < 0.45) {
              const id = Math.min(pickId(), model.next + 2 * config.capacity);
              const data = randomBytes(random, config.recordSize);
              if (id < model.first) {
                expect(() => ring.write(id, data)).toThrow(expect.objectContaining({ code: "ERR_RANGE" }));
              } else {
                ring.write(id, data);
                model.put(id, data);
              }
              counts.write++;
            } else if (r < 0.55) {
              const id = pickId();
              expect(ring.delete(id)).toBe(model.delete(id));
              counts.delete++;
            } else if (r < 0.94) {
              const id = pickId();
              const want = model.get(id);
              const handle = random() < 0.3 ? reader : ring;
              if (random() < 0.5) {
                const got = handle.get(id);
                expect(got === undefined ? undefined : Array.from(got)).toEqual(want === undefined ? undefined : Array.from(want));
              } else {
                const n = handle.getInto(id, scratch);
                expect(n).toBe(want === undefined ? -1 : want.length);
                if (want) expect(Array.from(scratch.subarray(0, n))).toEqual(Array.from(want));
              }
              counts.get++;
            } else if (r < 0.985) {
              const from = Math.max(0, model.first - 2 + Math.floor(random() * 4));
              const got = [...ring.range(from)].map((x) => x.id);
              const want = [...model.records.keys()].filter((k) => k >= from && model.get(k) !== undefined).sort((a, b) => a - b);
              expect(got).toEqual(want);
              expect(ring.first).toBe(model.first);
              expect(ring.next).toBe(model.next);
              expect(reader.next).toBe(model.next);
              expect(ring.size).toBe(model.next - model.first);
              counts.range++;
            } else {
              ring.close();
              reader.close();
              if (random() < 0.5) mode = mode === "mmap" ? "pread" : "mmap";
              ring = RingBuffer.open(path, random() < 0.5 ? { io: mode } : { ...config, io: mode });
              reader = RingBuffer.open(path, { readonly: true, io: mode });
              expect(ring.next).toBe(model.next);
              counts.reopen++;
            }
          }
          // A final full comparison.
          for (let id = Math.max(0, model.first - 2); id < model.next + 2; id++) {
            const want = model.get(id);
            const got = ring.get(id);
            expect(got === undefined ? undefined : Array.from(got)).toEqual(want === undefined ? undefined : Array.from(want));
          }
          expect(counts.reopen).toBeGreaterThan(20);
          expect(counts.get).toBeGreaterThan(3000);
        } finally {
          ring.close();
          reader.close();
        }
      });
    }
  }

  test("a write before first is ERR_RANGE and changes nothing", () => {
    using dir = tempDir();
    using ring = RingBuffer.open(dir.file("r"), { recordSize: 4, capacity: 2 });
    ring.appendMany(["a", "b", "c"]);
    try {
      ring.write(0, "x");
      throw new Error("no error");
    } catch (e) {
      expect(e).toBeInstanceOf(OffheapError);
      expect((e as OffheapError).code).toBe("ERR_RANGE");
    }
    expect([...ring.range()].map((r) => new TextDecoder().decode(r.data))).toEqual(["b", "c"]);
  });
});
