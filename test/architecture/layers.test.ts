// The layout the code promises (ARCHITECTURE.md): ffi/ at the bottom importing nothing
// from src/, shared primitives that know no structure, structures that point at no other
// structure except where listed, no import cycles, and no long file without a reason.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { ROOT } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const files = [...new Bun.Glob("{src,ffi}/**/*.ts").scanSync({ cwd: ROOT })].sort();

/** Every relative import or re-export of `file` (value and type alike), as repo paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*"(\.[^"]+)"|import\(\s*"(\.[^"]+)"\s*\)|(?:^|\n)\s*import\s*"(\.[^"]+)"/g)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec === undefined || !spec.endsWith(".ts")) continue;
    out.push(relative(ROOT, resolve(ROOT, dirname(file), spec)));
  }
  return out;
}

const graph = new Map(files.map((f) => [f, importsOf(f)]));

/** The layer a file belongs to: its top folder under src/, or "ffi". */
function area(file: string): string {
  if (file.startsWith("ffi/")) return "ffi";
  const parts = file.split("/");
  return parts.length > 2 ? parts[1]! : "src";
}

const STRUCTURES = ["ring", "queue", "records", "arena", "tiered"];
/** Structures that build on another one, and why. */
const ALLOWED_BETWEEN_STRUCTURES: Record<string, string[]> = {
  tiered: ["arena"], // MemoryStore is an ArenaCache
};

describe("layers", () => {
  test("ffi/ imports nothing from src/", () => {
    const up = files.filter((f) => area(f) === "ffi").flatMap((f) => graph.get(f)!.filter((i) => !i.startsWith("ffi/")).map((i) => `${f} -> ${i}`));
    expect(up).toEqual([]);
  });

  test("shared primitives know no structure", () => {
    const bad = files
      .filter((f) => area(f) === "primitives")
      .flatMap((f) => graph.get(f)!.filter((i) => !i.startsWith("ffi/") && area(i) !== "primitives" && i !== "src/errors.ts").map((i) => `${f} -> ${i}`));
    expect(bad).toEqual([]);
  });

  test("a structure points at no other structure (except where listed), nor at the CLI or the index", () => {
    const bad: string[] = [];
    for (const f of files) {
      const from = area(f);
      if (!STRUCTURES.includes(from) && from !== "policy" && from !== "metrics") continue;
      for (const i of graph.get(f)!) {
        const to = area(i);
        const otherStructure = STRUCTURES.includes(to) && to !== from && !(ALLOWED_BETWEEN_STRUCTURES[from] ?? []).includes(to);
        if (otherStructure || to === "cli" || i === "src/index.ts" || i === "src/cli.ts") bad.push(`${f} -> ${i}`);
      }
    }
    expect(bad).toEqual([]);
  });

  test("no import cycles, type-only imports included", () => {
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, "open");
      stack.push(f);
      for (const i of graph.get(f) ?? []) {
        if (state.get(i) === "open") cycles.push([...stack.slice(stack.indexOf(i)), i].join(" -> "));
        else if (!state.has(i)) visit(i);
      }
      stack.pop();
      state.set(f, "done");
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });
});

describe("files", () => {
  test("every import names a file that exists", () => {
    const missing = [...graph].flatMap(([f, is]) => is.filter((i) => !graph.has(i)).map((i) => `${f} -> ${i}`));
    expect(missing).toEqual([]);
  });

  test("no file in src/ or ffi/ over 500 lines unless its header says why", () => {
    const long = files.filter((f) => {
      const text = readFileSync(join(ROOT, f), "utf8");
      const lines = text.split("\n").length;
      return lines > 500 && !/^\/\*\*[\s\S]*?Longer than 500 lines because[\s\S]*?\*\//.test(text);
    });
    expect(long).toEqual([]);
  });
});

describe("ARCHITECTURE.md", () => {
  const doc = readFileSync(join(ROOT, "ARCHITECTURE.md"), "utf8");
  // A structure's paragraph: "**Name (`src/<folder>/`).** …" up to the next blank line.
  const paragraphs = [...doc.matchAll(/\*\*[A-Za-z]+ \(`(src\/[a-z]+\/)`\)\.\*\*([\s\S]*?)(?:\n\n|$)/g)].map((m) => ({ folder: m[1]!, text: m[2]! }));

  test("has a paragraph for every structure", () => {
    expect(paragraphs.map((p) => p.folder).sort()).toEqual(STRUCTURES.map((s) => `src/${s}/`).sort());
  });

  test("each structure's paragraph names every file at the top of its folder, and only files that exist", () => {
    const problems: string[] = [];
    for (const { folder, text } of paragraphs) {
      const named = new Set([...text.matchAll(/`([a-z0-9-]+\/)?([a-z0-9-]+\.ts)`/g)].map((m) => `${m[1] ?? ""}${m[2]}`));
      const own = files.filter((f) => f.startsWith(folder) && !f.slice(folder.length).includes("/")).map((f) => f.slice(folder.length));
      for (const f of own) if (f !== "index.ts" && f !== "stats.ts" && !named.has(f)) problems.push(`${folder}${f} is not described`);
      for (const f of named) if (!files.includes(`${folder}${f}`)) problems.push(`${folder}${f} is named but does not exist`);
    }
    expect(problems).toEqual([]);
  });

  test("every file it names with a path exists", () => {
    const named = [...doc.matchAll(/`((?:src|ffi)\/[a-z0-9/-]+\.ts)`/g)].map((m) => m[1]!);
    expect(named.filter((f) => !files.includes(f))).toEqual([]);
  });
});
