// The OS layer inside a single-file binary from `bun build --compile`.
import { expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync } from "node:fs";
import { ROOT, runScript, tempDir, writeScript } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

test("a compiled binary maps, locks, writes, reads and waits through ffi/", async () => {
  using dir = tempDir();
  const script = writeScript(
    dir.path,
    "app",
    `
    import { File, FutexWaiter, Lock, Mapping } from "${ROOT}/ffi/index.ts";
    import { OffheapError } from "${ROOT}/src/errors.ts";
    const path = process.argv[2] + "/data";
    const file = File.open(path, { create: true });
    const lock = new Lock(file);
    lock.tryLock();
    file.truncate(8192);
    const map = Mapping.file(file);
    map.bytes.set(new TextEncoder().encode("compiled!"), 4096);
    map.sync();
    const back = new Uint8Array(9);
    file.read(back, 4096);
    let locked = "";
    try { new Lock(File.open(path)).tryLock(); } catch (e) { locked = (e as OffheapError).code; }
    const waiter = new FutexWaiter();
    const waited = await waiter.wait(map, 0, 0, 20);
    waiter.close();
    map.close();
    lock.unlock();
    file.close();
    console.log(JSON.stringify({ text: new TextDecoder().decode(back), locked, waited }));
    `,
  );
  const binary = dir.file("app-bin");
  const build = Bun.spawnSync([process.execPath, "build", "--compile", script, "--outfile", binary], { stderr: "pipe", stdout: "pipe" });
  expect({ exitCode: build.exitCode, stderr: build.stderr.toString() }).toEqual({ exitCode: 0, stderr: "" });
  const run = Bun.spawnSync([binary, dir.path], { stderr: "pipe", stdout: "pipe" });
  expect({ exitCode: run.exitCode, stderr: run.stderr.toString() }).toEqual({ exitCode: 0, stderr: "" });
  expect(JSON.parse(run.stdout.toString())).toEqual({ text: "compiled!", locked: "ERR_LOCKED", waited: "timeout" });
  // The same script under `bun` prints the same.
  mkdirSync(dir.file("plain"));
  const plain = await runScript(script, [dir.file("plain")]);
  expect(plain.exitCode).toBe(0);
  expect(JSON.parse(plain.stdout[0]!)).toEqual({ text: "compiled!", locked: "ERR_LOCKED", waited: "timeout" });
});
