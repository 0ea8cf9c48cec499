// The crash harness itself: what a killed child reported durable is on disk.
import { expect, test, setDefaultTimeout } from "bun:test";
import { File } from "../../ffi/index.ts";
import { ROOT, crashRun, seededRandom, tempDir, writeScript } from "./index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

test("every record a SIGKILLed child reported after datasync is on disk and intact", async () => {
  using dir = tempDir();
  const path = dir.file("log");
  const script = writeScript(
    dir.path,
    "writer",
    `
    import { File } from "${ROOT}/ffi/index.ts";
    const file = File.open(process.argv[2], { create: true });
    const record = new Uint8Array(64);
    console.log("ready");
    for (let i = 0; ; i++) {
      record.fill(i & 0xff);
      new DataView(record.buffer).setUint32(0, i, true);
      file.write(record, i * 64);
      file.datasync();
      console.log("ok " + i);
    }
    `,
  );
  const random = seededRandom(42);
  let checked = 0;
  for (let round = 0; round < 5; round++) {
    const result = await crashRun({ script, args: [path], killAfterMs: { min: 20, max: 120 }, random });
    expect(result.killedMidRun).toBe(true);
    using file = File.open(path, { readonly: true });
    const record = new Uint8Array(64);
    for (const payload of result.reported) {
      const i = Number(payload);
      expect(file.read(record, i * 64)).toBe(64);
      expect(new DataView(record.buffer).getUint32(0, true)).toBe(i);
      expect(record.subarray(4).every((b) => b === (i & 0xff))).toBe(true);
      checked++;
    }
  }
  // The rounds checked something: a harness that never saw a report would prove nothing.
  expect(checked).toBeGreaterThan(0);
});
