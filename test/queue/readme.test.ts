/**
 * The README example for DurableQueue runs as written (with the package import pointed at
 * the source tree, since `src/index.ts` is wired by the lead).
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, runScript, tempDir, writeScript } from "../helpers/index.ts";

test("the README example runs and prints what its comments say", async () => {
  const readme = readFileSync(join(ROOT, "src/queue/README.md"), "utf8");
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  using dir = tempDir();
  const script = writeScript(dir.path, "example.ts", code!.replace(`from "offheap"`, `from "${ROOT}/src/queue/index.ts"`));
  const { exitCode, stdout, stderr } = await runScript(script);
  expect(stderr).toBe("");
  expect(exitCode).toBe(0);
  expect(stdout).toEqual([
    'audit 0 {"job":"resize","id":1}',
    'audit 1 {"job":"resize","id":2}',
    'audit 2 {"job":"resize","id":3}',
    'audit 3 {"job":"resize","id":4}',
    'item 2 is {"job":"resize","id":3}',
    "done 1",
    "done 2",
    "done 3",
    "done 4",
    "left 0 next index 4",
    "followed 4 late 1",
    "followed 5 late 2",
  ]);
}, 60_000);
