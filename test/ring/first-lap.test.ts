/**
 * The first lap of a large new ring: its slots are written once by a Worker (ZeroAhead)
 * while the writer appends. Whatever the two race, every record of the lap reads back as
 * stored (against a plain model), in every shard, through close and reopen; a ring
 * closed before the Worker finished keeps what the next writer stores; and a writer
 * killed with the Worker still at work leaves every published record whole.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { RingBuffer, verifyRing } from "../../src/ring/index.ts";
import { ZERO_AHEAD_FROM } from "../../src/ring/files.ts";
import { SLOT_HEADER } from "../../src/ring/layout.ts";
import { ROOT, codeOf, crashRun, seededRandom, tempDir, tinyFilesystem, writeScript } from "../helpers/index.ts";

setDefaultTimeout(120_000);

const RECORD = 1024;
/** Enough slots that a new ring is zeroed by the Worker, not at create. */
const CAPACITY = Math.ceil((ZERO_AHEAD_FROM * 1.5) / (RECORD + SLOT_HEADER));

// Record id's payload in the model: its length and bytes follow from the id alone. The
// same source runs in the crash child.
const PAYLOAD = `function payload(id) {
  const n = 1 + ((id * 7919) % ${RECORD});
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) out[i] = (id + i) & 0xff;
  return out;
}`;
const payload = new Function(`${PAYLOAD}; return payload;`)() as (id: number) => Uint8Array;

// Creates the ring (so its Worker runs), then appends until killed, reporting every 256th id.
const WRITER = `
import { writeSync } from "node:fs";
import { RingBuffer } from "${ROOT}/src/ring/index.ts";
${PAYLOAD}
const ring = RingBuffer.open(process.argv[2], { recordSize: ${RECORD}, capacity: ${CAPACITY} });
writeSync(1, "ready\\n");
for (;;) {
  const id = ring.append(payload(ring.next));
  if (id % 256 === 255) writeSync(1, "ok " + id + "\\n");
}
`;

function expectLap(path: string, ids: number[]): void {
  using ring = RingBuffer.open(path, { readonly: true });
  const into = new Uint8Array(RECORD);
  let wrong = 0;
  for (const id of ids) {
    const want = payload(id);
    const n = ring.getInto(id, into);
    if (n !== want.length || !Buffer.from(into.subarray(0, n)).equals(Buffer.from(want))) wrong++;
  }
  expect(wrong).toBe(0);
}

describe("RingBuffer first lap (slots zeroed by a Worker)", () => {
  for (const shards of [1, 3]) {
    test(`${shards} shard(s): every record of the lap reads back, before and after reopen`, () => {
      using dir = tempDir();
      const path = dir.file("r");
      const ids: number[] = [];
      {
        using ring = RingBuffer.open(path, { recordSize: RECORD, capacity: CAPACITY, shards });
        for (let id = 0; id < CAPACITY; id++) {
          expect(ring.append(payload(id))).toBe(id);
          ids.push(id);
        }
        const into = new Uint8Array(RECORD);
        expect(ring.getInto(0, into)).toBe(payload(0).length);
        expect(ring.getInto(CAPACITY - 1, into)).toBe(payload(CAPACITY - 1).length);
      }
      expectLap(path, ids);
    });
  }

  test("a write far ahead of the appends, then the appends catch up: both kept", () => {
    using dir = tempDir();
    const path = dir.file("r");
    const far = CAPACITY - 3;
    {
      using ring = RingBuffer.open(path, { recordSize: RECORD, capacity: CAPACITY });
      ring.write(far, payload(far));
      Bun.sleepSync(50); // the Worker passes the far slot meanwhile
      for (let id = far + 1; id < CAPACITY; id++) ring.append(payload(id));
    }
    expectLap(path, [far, far + 1, far + 2]);
  });

  test("closed before its slots were all written, reopened by another writer: nothing it stores is zeroed later", () => {
    using dir = tempDir();
    const path = dir.file("r");
    RingBuffer.open(path, { recordSize: RECORD, capacity: CAPACITY }).close();
    const ids: number[] = [];
    {
      using ring = RingBuffer.open(path);
      for (let id = 0; id < CAPACITY; id++) ids.push(ring.append(payload(id)));
    }
    // A Worker still writing zeros would land them now.
    Bun.sleepSync(200);
    expectLap(path, ids);
  });

  test("a writer killed (kill -9) with the Worker still writing slots: every published record reads back whole", async () => {
    using dir = tempDir();
    const script = writeScript(dir.path, "writer.ts", WRITER);
    const random = seededRandom(20261203);
    for (let round = 0; round < 6; round++) {
      const path = dir.file(`r${round}`);
      // Right after the open: the Worker zeroes the ring's 24 MiB in its first ~10 ms.
      const result = await crashRun({ script, args: [path], killAfterMs: { min: 0, max: 25 }, random });
      expect(result.killedMidRun).toBe(true);
      const reported = result.reported.map(Number);
      using ring = RingBuffer.open(path);
      if (reported.length > 0) expect(ring.next).toBeGreaterThan(reported.at(-1)!);
      let wrong = 0;
      for (let id = ring.first; id < ring.next; id++) {
        const got = ring.get(id);
        if (got === undefined || !Buffer.from(got).equals(Buffer.from(payload(id)))) wrong++;
      }
      expect(wrong).toBe(0);
      ring.close();
      expect(verifyRing(path).bad).toEqual([]);
    }
  });

  test("on a disk filled right after the create (root: a tmpfs), the lap still completes: every block was got at create", () => {
    using fs = tinyFilesystem(CAPACITY * (RECORD + SLOT_HEADER) + (8 << 20));
    const path = fs.file("r");
    const ids: number[] = [];
    {
      using ring = RingBuffer.open(path, { recordSize: RECORD, capacity: CAPACITY });
      fs.fill();
      for (let id = 0; id < CAPACITY; id++) ids.push(ring.append(payload(id)));
      // No room for another ring: that is the create's ENOSPC, not a signal later.
      expect(codeOf(() => RingBuffer.open(fs.file("other"), { recordSize: RECORD, capacity: CAPACITY }))).toBe("ERR_SYSTEM");
    }
    expectLap(path, ids);
  });
});
