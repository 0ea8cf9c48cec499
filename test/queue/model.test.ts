/**
 * Model-based test: 10,000 random operations on a DurableQueue with tiny segments,
 * checked step by step against a plain in-memory model, with reopens in between; once
 * with the per-call lock and once with an `exclusive` handle.
 */
import { expect, test, setDefaultTimeout } from "bun:test";
import { readdirSync } from "node:fs";
import { DurableQueue } from "../../src/queue/index.ts";
import { seededRandom, tempDir } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

function randomBytes(random: () => number, max: number): Uint8Array {
  const out = new Uint8Array(Math.floor(random() * (max + 1)));
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

for (const exclusive of [false, true]) test(`10,000 random operations agree with an in-memory model${exclusive ? " (exclusive handle)" : ""}`, () => {
  using dir = tempDir();
  const random = seededRandom(20261121);
  const options = { segmentBytes: 512, segmentItems: 12, exclusive } as const;
  let q = DurableQueue.open(dir.path, options);
  const model = new Map<number, Uint8Array>();
  let next = 0;
  let floor = 0; // the model's first: lowest live index, or next
  const first = () => {
    while (floor < next && !model.has(floor)) floor++;
    return floor;
  };
  const liveBytes = () => [...model.values()].reduce((n, v) => n + v.length, 0);
  const segmentsHoldLiveItems = () => {
    const bases = readdirSync(dir.path)
      .filter((n) => n.endsWith(".idx"))
      .map((n) => Number(n.slice("queue-".length, -4)))
      .sort((a, b) => a - b);
    bases.forEach((base, k) => {
      const end = bases[k + 1] ?? next;
      let live = false;
      for (let i = base; i < end && !live; i++) live = model.has(i);
      expect({ base, live }).toEqual({ base, live: true });
    });
  };

  for (let op = 0; op < 10_000; op++) {
    const r = random();
    if (r < 0.3) {
      const item = randomBytes(random, 120);
      expect(q.append(item)).toBe(next);
      model.set(next++, item);
    } else if (r < 0.38) {
      const items = Array.from({ length: Math.floor(random() * 6) }, () => randomBytes(random, 90));
      expect(q.appendMany(items)).toBe(next);
      for (const item of items) model.set(next++, item);
    } else if (r < 0.55) {
      const i = Math.floor(random() * (next + 3));
      expect(q.get(i)).toEqual(model.get(i));
    } else if (r < 0.67) {
      const picks = Array.from({ length: 1 + Math.floor(random() * 3) }, () => Math.floor(random() * (next + 2)));
      const unique = new Set(picks);
      let expected = 0;
      for (const i of unique) if (model.delete(i)) expected++;
      expect(q.delete(picks.length === 1 ? picks[0]! : picks)).toBe(expected);
    } else if (r < 0.8) {
      const f = first();
      const want = model.get(f);
      model.delete(f);
      expect(q.shift()).toEqual(want);
    } else if (r < 0.82) {
      const n = Math.floor(random() * 5);
      const want: Uint8Array[] = [];
      while (want.length < n && first() < next) {
        want.push(model.get(first())!);
        model.delete(first());
      }
      expect(q.shiftMany(n)).toEqual(want);
    } else if (r < 0.85) {
      expect(q.peek()).toEqual(model.get(first()));
    } else if (r < 0.87) {
      const before = first() + Math.floor(random() * (next - first() + 1));
      q.truncate(before);
      for (const i of [...model.keys()]) if (i < before) model.delete(i);
    } else if (r < 0.9) {
      q.close();
      q = DurableQueue.open(dir.path, random() < 0.5 ? options : { exclusive });
    } else {
      const i = Math.max(0, first() - 1 + Math.floor(random() * 4));
      expect(q.get(i)).toEqual(model.get(i));
    }
    expect(q.next).toBe(next);
    expect(q.first).toBe(first());
    expect(q.length).toBe(model.size);
    if (op % 25 === 0) {
      expect(q.bytes).toBe(liveBytes());
      segmentsHoldLiveItems();
    }
  }
  q.close();
  // A last reopen sees exactly the model.
  using again = DurableQueue.open(dir.path, { exclusive });
  expect(again.length).toBe(model.size);
  for (const [i, item] of model) expect(again.get(i)).toEqual(item);
  segmentsHoldLiveItems();
}, 60_000); // 10,000 operations and ~300 reopens: past the default 5 s on a loaded 2-core machine
