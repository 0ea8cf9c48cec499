/**
 * ZeroAhead: a Worker writes zeros over new ranges while a writer stores into them. The
 * promise is that every chunk gets its zeros and no zero lands on a byte the writer
 * stored, however the two race, and that nothing is written after close.
 *
 * The ranges start filled with 0xAA here (a real new range reads as zeros already), so
 * that a chunk the zeroing missed, or a stray write outside the ranges, shows.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { File, ZeroAhead, allocate } from "../../ffi/index.ts";
import { codeOf, tempDir } from "../helpers/index.ts";

setDefaultTimeout(120_000);

const JUNK = 0xaa;
const STORED = 0x5b;

/** A file of `bytes` bytes, every one JUNK. */
function junkFile(path: string, bytes: number): File {
  const f = File.open(path, { create: true });
  allocate(f, 0, bytes);
  const junk = new Uint8Array(Math.min(bytes, 1 << 20)).fill(JUNK);
  for (let at = 0; at < bytes; at += junk.length) f.write(junk.subarray(0, Math.min(junk.length, bytes - at)), at);
  return f;
}

function contents(f: File): Uint8Array {
  const out = new Uint8Array(f.size);
  f.read(out, 0);
  return out;
}

/** A small deterministic generator (the store pattern varies by seed). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

describe("ZeroAhead", () => {
  for (const seed of [1, 2, 3]) {
    test(`a writer racing the Worker (seed ${seed}): every chunk zeroed, every stored byte kept, nothing outside the ranges touched`, () => {
      using dir = tempDir();
      const sizes = [24 << 20, (16 << 20) + 777];
      const files = sizes.map((n, i) => junkFile(dir.file(`f${i}`), n + 100));
      const ranges = files.map((file, i) => ({ file, offset: 100, length: sizes[i]! }));
      // Small chunks: thousands of claims. The writer starts before the Worker does and
      // pauses now and then, so each passes the other.
      const zero = ZeroAhead.start(ranges, 16384 + seed * 512);
      const random = lcg(seed);
      const stored: Array<Array<[number, number]>> = ranges.map(() => []);
      ranges.forEach((r, i) => {
        let readyTo = zero.readyTo(i);
        for (let at = r.offset; at < r.offset + r.length; ) {
          const n = Math.min(1 + Math.floor(random() * 6000), r.offset + r.length - at);
          // Store every other run; the runs left out must read as zeros.
          if (random() < 0.5) {
            if (at + n > readyTo) readyTo = zero.ensure(i, at + n);
            expect(readyTo).toBeGreaterThanOrEqual(at + n);
            r.file.write(new Uint8Array(n).fill(STORED), at);
            stored[i]!.push([at, at + n]);
            if (random() < 0.002) Bun.sleepSync(1);
          }
          at += n;
        }
        expect(zero.ensure(i, r.offset + r.length)).toBe(Infinity);
      });
      zero.close();
      ranges.forEach((r, i) => {
        const bytes = contents(r.file);
        const want = new Uint8Array(bytes.length).fill(JUNK);
        want.fill(0, r.offset, r.offset + r.length);
        for (const [from, to] of stored[i]!) want.fill(STORED, from, to);
        expect(Buffer.from(bytes).equals(Buffer.from(want))).toBe(true);
        r.file.close();
      });
    });
  }

  test("close: the Worker stops, nothing is written after it returns, and what it wrote is whole chunks from the start", () => {
    using dir = tempDir();
    const size = 48 << 20;
    const file = junkFile(dir.file("big"), size);
    const chunk = 1 << 20;
    const zero = ZeroAhead.start([{ file, offset: 0, length: size }], chunk);
    Bun.sleepSync(2);
    zero.close();
    const first = contents(file);
    Bun.sleepSync(100);
    const later = contents(file);
    expect(Buffer.from(later).equals(Buffer.from(first))).toBe(true);
    // The first chunk is always written before start returns; the rest in order.
    const zeroed = first.indexOf(JUNK);
    expect(zeroed === -1 ? size : zeroed).toBeGreaterThanOrEqual(chunk);
    if (zeroed !== -1) {
      expect(zeroed % chunk).toBe(0);
      expect(first.subarray(zeroed).every((b) => b === JUNK)).toBe(true);
    }
    expect(first.subarray(0, zeroed === -1 ? size : zeroed).every((b) => b === 0)).toBe(true);
    expect(codeOf(() => zero.ensure(0, 1))).toBe("ERR_CLOSED");
    zero.close(); // idempotent
    file.close();
  });

  test("bad arguments and an unwritable file are OffheapErrors", () => {
    using dir = tempDir();
    const file = junkFile(dir.file("f"), 8192);
    expect(codeOf(() => ZeroAhead.start([{ file, offset: 0, length: 8192 }], 0))).toBe("ERR_INVALID");
    const zero = ZeroAhead.start([{ file, offset: 0, length: 8192 }], 4096);
    expect(codeOf(() => zero.ensure(1, 10))).toBe("ERR_RANGE");
    zero.close();
    file.close();
    using readonly = File.open(dir.file("f"), { readonly: true });
    expect(["ERR_READONLY", "ERR_SYSTEM"]).toContain(codeOf(() => ZeroAhead.start([{ file: readonly, offset: 0, length: 8192 }])));
  });
});
