/**
 * The README's examples run as written. Every ```ts example block is run as a script in a
 * fresh temp directory (its working directory), with `from "offheap"` pointed at this
 * checkout; when a ```text block follows it, the script must print exactly that.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tempDir, writeScript } from "./helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

interface Example {
  line: number;
  code: string;
  output: string | undefined;
}

function examples(markdown: string): Example[] {
  const fence = /^```(\S*)(?: (\S+))?\n([\s\S]*?)^```\n/gm;
  const blocks: Array<{ lang: string; tag: string | undefined; body: string; index: number }> = [];
  for (let m = fence.exec(markdown); m; m = fence.exec(markdown)) {
    blocks.push({ lang: m[1]!, tag: m[2], body: m[3]!, index: m.index });
  }
  const out: Example[] = [];
  blocks.forEach((b, i) => {
    if (b.lang !== "ts" || b.tag !== "example") return;
    const next = blocks[i + 1];
    const between = next ? markdown.slice(b.index, next.index).split("```").length - 1 : 0;
    const followed = next !== undefined && next.lang === "text" && between === 2;
    out.push({ line: markdown.slice(0, b.index).split("\n").length, code: b.body, output: followed ? next.body : undefined });
  });
  return out;
}

const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const found = examples(readme);

describe("README examples", () => {
  test("there are runnable examples for every structure", () => {
    const all = found.map((e) => e.code).join("\n");
    for (const name of ["RingBuffer", "DurableQueue", "RecordStore", "ArenaCache", "TieredCache", "metricsHandler"]) {
      expect(all).toContain(name);
    }
  });

  for (const example of found) {
    test(`the example at README.md line ${example.line} runs${example.output ? " and prints what the README shows" : ""}`, async () => {
      using dir = tempDir("offheap-readme-");
      const script = writeScript(dir.path, "example.ts", example.code.replaceAll(`from "offheap"`, `from "${ROOT}/src/index.ts"`));
      const proc = Bun.spawn([process.execPath, script], { cwd: dir.path, stdout: "pipe", stderr: "pipe" });
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
      if (example.output !== undefined) expect(stdout).toBe(example.output);
    }, 60_000);
  }
});
