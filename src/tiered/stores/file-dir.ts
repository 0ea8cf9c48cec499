/**
 * A file store's directory: its header file (kind "TFST", which also holds the writer's
 * lock), the fan-out of entry subdirectories, the temp directory, and what an open finds
 * there. node:fs failures surface as `ERR_SYSTEM` with errno, syscall and path.
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { File, isNotFound, viaNodeFs } from "../../../ffi/index.ts";
import { OffheapError } from "../../errors.ts";
import { readHeader, registerKind, type HeaderSpec } from "../../primitives/header.ts";

/** The store directory's header. `fanout`: number of entry subdirectories (256, by the first two hex digits). */
export const FILE_STORE_SPEC: HeaderSpec<"fanout"> = { kind: "TFST", name: "tiered cache file store", version: 1, fields: ["fanout"] };
registerKind(FILE_STORE_SPEC);

/** Name of the header file inside a store directory. */
export const STORE_FILE = "offheap-filestore";
/** Entry subdirectories: the first two hex digits of an entry's name. */
export const FANOUT = 256;

const TEMP_RE = /^[0-9a-f]{16}\.tmp$/;
const SUB_RE = /^[0-9a-f]{2}$/;
const ENTRY_RE = /^[0-9a-f]{30}$/;

/** `mkdir -p`. */
export const makeDir = (path: string) => void viaNodeFs("mkdir", path, () => fs.mkdirSync(path, { recursive: true }));
/** Rename `from` to `to`. */
export const rename = (from: string, to: string) => viaNodeFs("rename", to, () => fs.renameSync(from, to));
/** Remove a file; one already gone is fine. */
export const removeFile = (path: string) => viaNodeFs("unlink", path, () => fs.rmSync(path, { force: true }));
/** Unlink a file (`ENOENT` when it is gone). */
export const unlink = (path: string) => viaNodeFs("unlink", path, () => fs.unlinkSync(path));
const readdir = (path: string) => viaNodeFs("readdir", path, () => fs.readdirSync(path));
const stat = (path: string) => viaNodeFs("stat", path, () => fs.statSync(path));

/**
 * Before anything is written: `dir` is missing, empty, or holds a store's header file.
 * Anything else (a file, a queue's directory, someone's photos) is `ERR_FORMAT`, and
 * nothing is made in it.
 */
export function assertStoreDir(dir: string, headerPath: string): void {
  let st: fs.Stats;
  try {
    st = viaNodeFs("stat", dir, () => fs.statSync(dir));
  } catch (e) {
    // Missing, or under a file: making it is what fails, and says so.
    if (isNotFound(e) || (e as { errno?: unknown }).errno === "ENOTDIR") return;
    throw e;
  }
  if (!st.isDirectory()) throw new OffheapError("ERR_FORMAT", `${dir} is a file, not a file store's directory`, { path: dir });
  if (fs.existsSync(headerPath)) return;
  const names = viaNodeFs("readdir", dir, () => fs.readdirSync(dir));
  if (names.length > 0) {
    throw new OffheapError(
      "ERR_FORMAT",
      `${dir} is not a file store: it holds ${names.length} entries (${names.slice(0, 3).join(", ")}${names.length > 3 ? ", …" : ""}) but no ${STORE_FILE}; give an empty or missing directory to make one`,
      { path: dir },
    );
  }
}

/** Read a store header file and check it is one this code can use (its fanout). */
export function checkStoreHeader(file: File): { fanout: number } {
  const h = readHeader(FILE_STORE_SPEC, file);
  if (h.fanout !== FANOUT) throw new OffheapError("ERR_FORMAT", `${file.path}: fanout ${h.fanout}, this offheap uses ${FANOUT}`, { path: file.path });
  return h;
}

/** The store header file of `dir`, read-only; throws ERR_FORMAT / ERR_CORRUPT / ERR_SYSTEM. */
export function readStoreHeader(dir: string): { fanout: number } {
  using f = File.open(join(dir, STORE_FILE), { readonly: true });
  return checkStoreHeader(f);
}

/** Remove the temp files a crashed writer left in `tmp`; returns how many. */
export function sweepTemps(tmp: string): number {
  let swept = 0;
  for (const f of readdir(tmp)) {
    if (!TEMP_RE.test(f)) continue;
    removeFile(join(tmp, f));
    swept++;
  }
  return swept;
}

/** An entry file an open found. */
export interface FoundEntry {
  /** The entry's 32-hex name (subdirectory + file name). */
  name: string;
  size: number;
  mtime: number;
}

/**
 * Every entry file under `dir`, oldest first (so recency-based policies evict the oldest
 * first); `onSubdir` hears of each entry subdirectory found.
 */
export function scanEntries(dir: string, onSubdir: (path: string) => void): FoundEntry[] {
  const found: FoundEntry[] = [];
  for (const sub of readdir(dir)) {
    if (!SUB_RE.test(sub)) continue;
    onSubdir(join(dir, sub));
    for (const f of readdir(join(dir, sub))) {
      if (!ENTRY_RE.test(f)) continue;
      try {
        const st = stat(join(dir, sub, f));
        found.push({ name: sub + f, size: st.size, mtime: st.mtimeMs });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
  }
  return found.sort((a, b) => a.mtime - b.mtime);
}
