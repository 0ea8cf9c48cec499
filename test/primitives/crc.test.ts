// The one CRC-32 against the independent `crc-32` package: every function, every
// alignment and length across the JS and native paths, and chained through each other.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import CRC32 from "crc-32";
import { crc32, crc32Aligned, crc32Range, crc32Words3 } from "../../src/primitives/crc.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const buf = new ArrayBuffer(1024);
const u8 = new Uint8Array(buf);
const u32 = new Uint32Array(buf);
for (let i = 0; i < u8.length; i++) u8[i] = (i * 131 + 7) & 0xff;
const reference = (start: number, end: number) => CRC32.buf(u8.subarray(start, end)) >>> 0;

describe("crc32", () => {
  test("every function equals crc-32 for every alignment and length, below and above the native cut-over", () => {
    for (const start of [0, 1, 2, 3, 4, 9]) {
      for (const len of [0, 1, 3, 4, 5, 31, 32, 255, 256, 600]) {
        const want = reference(start, start + len);
        expect(crc32(u8.subarray(start, start + len))).toBe(want);
        expect(crc32Range(u8, start, start + len)).toBe(want);
        expect(crc32Aligned(u8, u32, start, start + len)).toBe(want);
      }
    }
  });

  test("a CRC continues from another's result, whichever function made each part", () => {
    for (const [start, end] of [[0, 600], [3, 301], [5, 9], [8, 264]] as const) {
      const want = reference(start, end);
      const cut = start + ((end - start) >>> 1);
      expect(crc32Range(u8, cut, end, crc32Aligned(u8, u32, start, cut))).toBe(want);
      expect(crc32Aligned(u8, u32, cut, end, crc32Range(u8, start, cut))).toBe(want);
      expect(crc32(u8.subarray(cut, end), crc32Range(u8, start, cut))).toBe(want);
    }
  });

  test("crc32Words3 is the CRC of three words' twelve little-endian bytes, int32 or unsigned alike", () => {
    const view = new DataView(buf);
    for (const at of [0, 4, 100, 1008]) {
      const [a, b, c] = [0, 4, 8].map((d) => view.getUint32(at + d, true)) as [number, number, number];
      expect(crc32Words3(a, b, c)).toBe(reference(at, at + 12));
      expect(crc32Words3(a | 0, b | 0, c | 0)).toBe(reference(at, at + 12));
      // and a CRC continues from it: the slot CRC is crc32(payload, crc32Words3(header)).
      expect(crc32(u8.subarray(at + 12, at + 16), crc32Words3(a, b, c))).toBe(reference(at, at + 16));
    }
    for (const words of [[0, 0, 0], [0xffff_ffff, 1, 0x8000_0000], [-1, -2, 0x1234_5678]] as const) {
      const bytes = new Uint8Array(12);
      const v = new DataView(bytes.buffer);
      words.forEach((w, i) => v.setUint32(i * 4, w >>> 0, true));
      expect(crc32Words3(words[0], words[1], words[2])).toBe(CRC32.buf(bytes) >>> 0);
    }
  });
});
