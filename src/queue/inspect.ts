/**
 * `describeQueue` / `verifyQueue` for the CLI: what a queue holds, and a CRC scan of every
 * live item that lists bad ones instead of throwing.
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { nodeSystemError } from "../../ffi/index.ts";
import { functionOption, pathArg } from "../primitives/arguments.ts";
import { OffheapError } from "../errors.ts";
import type { Description, VerifyReport } from "../primitives/inspection.ts";
import { listDir } from "../primitives/publish.ts";
import { DIR_SPEC, dirFileName, parseSegmentName, segmentPrefix } from "./layout.ts";
import { DurableQueue } from "./queue.ts";
import { Segment } from "./segment.ts";

/**
 * The queue a path names: a directory holding one queue, or a queue's `.qdir` file.
 * Throws `ERR_FORMAT` when it names no queue or several, `ERR_CORRUPT` when a queue's
 * segments are there without its directory file.
 */
export function locateQueue(path: string): { dir: string; prefix: string } {
  pathArg("path", path);
  if (path.endsWith(".qdir")) return { dir: dirname(path), prefix: basename(path, ".qdir") };
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw nodeSystemError("stat", path, e);
  }
  if (!isDir) throw new OffheapError("ERR_FORMAT", `${path} is not a queue: expected a directory or a .qdir file`, { path });
  if (existsSync(join(path, "queue.qdir"))) return { dir: path, prefix: "queue" };
  const names = listDir(path);
  const found = names.filter((n) => n.endsWith(".qdir"));
  if (found.length === 0) {
    const orphans = new Set(names.map(segmentPrefix).filter((p) => p !== undefined));
    if (orphans.size > 0) {
      const prefix = [...orphans][0]!;
      throw new OffheapError("ERR_CORRUPT", `${path} holds segment files of queue "${prefix}" but not its directory file ${dirFileName(prefix)}: it was lost`, { path });
    }
  }
  if (found.length !== 1) {
    throw new OffheapError("ERR_FORMAT", `${path}: expected one queue (a .qdir file), found ${found.length}; name the .qdir file`, { path });
  }
  return { dir: path, prefix: basename(found[0]!, ".qdir") };
}

/** Whether `dir` holds a queue, or what is left of one (its segment files). */
export function holdsQueue(dir: string): boolean {
  return listDir(dir).some((name) => name.endsWith(".qdir") || segmentPrefix(name) !== undefined);
}

/**
 * Header, options and counts of the queue at `path` (a directory or its `.qdir` file).
 * @throws `ERR_INVALID` for a bad path, `ERR_FORMAT` for a directory that holds no queue (or several: name the `.qdir`), `ERR_CORRUPT`, `ERR_SYSTEM` as `DurableQueue.open` read-only.
 */
export function describeQueue(path: string): Description {
  const { dir, prefix } = locateQueue(path);
  using queue = DurableQueue.open(dir, { prefix, readonly: true });
  const stats = queue.stats();
  const readers = listDir(dir).filter((n) => n.startsWith(`${prefix}.reader-`) && !n.includes(".tmp-")).length;
  return {
    kind: DIR_SPEC.kind,
    version: DIR_SPEC.version,
    options: {
      prefix,
      segmentBytes: queue.segmentBytes,
      segmentItems: queue.segmentItems,
      maxBytes: Number.isFinite(queue.maxBytes) ? queue.maxBytes : 0,
    },
    counts: { length: stats.length, bytes: stats.bytes, first: stats.first, next: stats.next, segments: stats.segments, readers },
  };
}

/**
 * Check every live item's bounds and CRC. Opens read-only; a bad item or segment is
 * listed (`id` is the item's index, or a segment's first index), never thrown. Throws
 * only when the queue as a whole cannot be read.
 * @throws as {@link describeQueue} when the queue as a whole cannot be read; `ERR_INVALID` for an `onProgress` that is not a function.
 */
export function verifyQueue(
  path: string,
  onProgress?: (done: number, total: number) => void,
): VerifyReport {
  const { dir, prefix } = locateQueue(path);
  functionOption("onProgress", onProgress);
  using queue = DurableQueue.open(dir, { prefix, readonly: true });
  const first = queue.first;
  const geometry = { segmentBytes: queue.segmentBytes, segmentItems: queue.segmentItems };
  const bases = listDir(dir)
    .map((n) => parseSegmentName(prefix, n))
    .filter((p): p is { base: number; ext: "idx" } => p?.ext === "idx")
    .map((p) => p.base)
    .sort((a, b) => a - b);
  const bad: Array<{ id: number; reason: string }> = [];
  let checked = 0;
  bases.forEach((base, k) => {
    let segment: Segment;
    try {
      segment = Segment.open(dir, prefix, base, geometry, true);
    } catch (e) {
      bad.push({ id: base, reason: `segment ${base}: ${e instanceof Error ? e.message : String(e)}` });
      onProgress?.(k + 1, bases.length);
      return;
    }
    try {
      const following = bases[k + 1];
      const room = following === undefined ? segment.limit : Math.min(segment.limit, following - base);
      for (let pos = 0; pos < room; pos++) {
        if (!segment.entryOk(pos)) {
          // An unset flags word ends the entries written; a set one that fails its check is damage.
          if (!segment.damaged(pos)) break;
          bad.push({ id: base + pos, reason: `index entry ${pos} is damaged: its check does not match its offset, length, CRC and flags` });
          continue;
        }
        if (!segment.isLive(pos) || base + pos < first) continue;
        checked++;
        const reason = segment.check(pos);
        if (reason !== undefined) bad.push({ id: base + pos, reason });
      }
    } finally {
      segment.close();
    }
    onProgress?.(k + 1, bases.length);
  });
  return { checked, bad };
}
