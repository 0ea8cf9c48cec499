/**
 * Crash safety: a child appends with `sync: "always"` and reports each id the call
 * returned; it is SIGKILLed at a random moment; the ring is reopened and checked: every
 * reported record is present and intact, every id the head covers reads back exactly, the
 * CRC scan finds nothing damaged. 30+ rounds on one ring, alternating I/O modes.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { RingBuffer, verifyRing } from "../../src/ring/index.ts";
import { ROOT, crashRun, seededRandom, tempDir, writeScript } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const WRITER = `
import { writeSync } from "node:fs";
import { RingBuffer } from "${ROOT}/src/ring/index.ts";
const [path, io] = process.argv.slice(2);
const expected = (id) => "rec:" + id + ":" + "abcdefghijklmnopqrstuvwxyz0123456789".slice(0, id % 37);
const ring = RingBuffer.open(path, { io, sync: "always" });
writeSync(1, "ready\\n");
for (let n = 0; ; n++) {
  if (n % 10 === 9) {
    const start = ring.next;
    const first = ring.appendMany([expected(start), expected(start + 1), expected(start + 2)]);
    writeSync(1, "ok " + first + "\\nok " + (first + 1) + "\\nok " + (first + 2) + "\\n");
  } else {
    const id = ring.append(expected(ring.next));
    writeSync(1, "ok " + id + "\\n");
  }
}
`;

const expected = (id: number) => `rec:${id}:${"abcdefghijklmnopqrstuvwxyz0123456789".slice(0, id % 37)}`;
const ROUNDS = 32;

describe("RingBuffer crash safety", () => {
  test(`SIGKILL mid-append, ${ROUNDS} rounds: reported records survive intact, nothing wrong is returned`, async () => {
    using dir = tempDir();
    const path = dir.file("crash.ring");
    RingBuffer.open(path, { recordSize: 64, capacity: 1 << 16 }).close();
    const script = writeScript(dir.path, "writer.ts", WRITER);
    const random = seededRandom(7);
    let totalReported = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const io = round % 2 === 0 ? "mmap" : "pread";
      const result = await crashRun({ script, args: [path, io], killAfterMs: { min: 2, max: 120 }, random });
      expect(result.killedMidRun).toBe(true);
      const reported = result.reported.map(Number);
      totalReported += reported.length;
      using ring = RingBuffer.open(path, { io: round % 3 === 0 ? "pread" : "mmap" });
      const next = ring.next;
      if (reported.length > 0) expect(next).toBeGreaterThan(reported.at(-1)!);
      for (const id of reported) expect(new TextDecoder().decode(ring.get(id))).toBe(expected(id));
      // Every id the head covers was complete before it was published.
      for (let id = ring.first; id < next; id++) {
        const data = ring.get(id);
        expect(data === undefined ? `missing ${id}` : new TextDecoder().decode(data)).toBe(expected(id));
      }
      ring.close();
      expect(verifyRing(path).bad).toEqual([]);
    }
    expect(totalReported).toBeGreaterThan(ROUNDS);
  }, 60_000); // 32 child processes: past the default 5 s on a loaded 2-core machine
});
