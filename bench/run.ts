/**
 * `bun run bench`: runs every `bench/*.bench.ts` in turn (or those named on the command
 * line, e.g. `bun run bench ring queue`), each in its own process so one peer's memory
 * does not weigh on the next.
 */
import { Glob } from "bun";
import { basename } from "node:path";

const wanted = process.argv.slice(2);
const files = [...new Glob("*.bench.ts").scanSync({ cwd: import.meta.dir })]
  .sort()
  .filter((f) => wanted.length === 0 || wanted.includes(basename(f, ".bench.ts")));
let failed = 0;
for (const file of files) {
  console.log(`\n=== bench/${file} ===`);
  const proc = Bun.spawn([process.execPath, `${import.meta.dir}/${file}`], { stdout: "inherit", stderr: "inherit" });
  if ((await proc.exited) !== 0) {
    failed++;
    console.log(`bench/${file} exited with ${proc.exitCode}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
