/**
 * Which offheap structure a path holds, and the tools the CLI has for it. Files are
 * recognised by their header's kind tag, directories by the header file inside them.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { File } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";
import { decodeAnyHeader } from "../primitives/header.ts";
import type { Description, VerifyReport } from "../primitives/inspection.ts";


/** One record printed by `tail`. */
export interface TailRecord {
  id: number;
  data: Uint8Array;
}

/** The CLI's tools for one kind of structure. */
export interface KindTools {
  /** Human name, e.g. "ring buffer". */
  name: string;
  describe(path: string): Description;
  verify?(path: string, onProgress?: (done: number, total: number) => void): VerifyReport;
  tail?(path: string, options: { from?: number; follow: boolean; signal: AbortSignal }): AsyncIterable<TailRecord>;
}

const byKind = new Map<string, KindTools>();
const directoryProbes: Array<{ matches(dir: string): boolean; kind: string }> = [];

/** Register the tools for a header kind tag. */
export function registerTools(kind: string, tools: KindTools): void {
  byKind.set(kind, tools);
}

/** Register how to recognise a directory that holds structure `kind`. */
export function registerDirectory(kind: string, matches: (dir: string) => boolean): void {
  directoryProbes.push({ kind, matches });
}

/** Read the kind tag of the offheap file at `path`. */
export function kindOfFile(path: string): string {
  using file = File.open(path, { readonly: true });
  const head = new Uint8Array(4096);
  const n = file.read(head, 0);
  return decodeAnyHeader(head.subarray(0, n), path).kind;
}

/**
 * Find what `path` holds. Throws `OffheapError` (`ERR_SYSTEM`/`ENOENT` for a missing path,
 * `ERR_FORMAT` for something that is not ours).
 */
export function detect(path: string): { kind: string; tools: KindTools } {
  if (!existsSync(path)) {
    throw new OffheapError("ERR_SYSTEM", `${path} does not exist`, { errno: "ENOENT", path, syscall: "stat" });
  }
  let kind: string | undefined;
  if (statSync(path).isDirectory()) {
    kind = directoryProbes.find((p) => p.matches(path))?.kind;
    if (kind === undefined) {
      const entries = readdirSync(path).slice(0, 5).map((e) => join(path, e));
      throw new OffheapError("ERR_FORMAT", `${path} is a directory that holds no offheap queue or file store (${entries.length} entries looked at)`, { path });
    }
  } else {
    kind = kindOfFile(path);
  }
  const tools = byKind.get(kind);
  if (!tools) throw new OffheapError("ERR_FORMAT", `${path} is an offheap file of kind ${JSON.stringify(kind)}, which this CLI does not know`, { path });
  return { kind, tools };
}
