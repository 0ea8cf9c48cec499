/**
 * Directory operations (list, rename, link, unlink, mkdir) with node:fs errors turned into
 * `OffheapError("ERR_SYSTEM")`, and the atomic "write a temp file, then publish it under
 * its name" step every queue file is created with.
 */
import { linkSync, mkdirSync, readdirSync, renameSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { File, allocate, errnoOfNodeError, nodeSystemError, syncDirectory } from "../../ffi/index.ts";



/** The names in `dir`. */
export function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    throw nodeSystemError("readdir", dir, e);
  }
}

/** `mkdir -p`. */
export function makeDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw nodeSystemError("mkdir", dir, e);
  }
}

/** Remove a file; a file already gone is fine. */
export function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if (errnoOfNodeError(e) === "ENOENT") return;
    throw nodeSystemError("unlink", path, e);
  }
}


let tmpCounter = 0;

/**
 * Create `dir/name` holding `header` at offset 0 and `size` bytes in all (the rest zero,
 * allocated: queue files are written through mappings, and a store into a hole of a full
 * disk is SIGBUS), so that no process ever sees the file half made: it is written under a temp
 * name and then published. With `replace` false an existing file wins and `false` is
 * returned; with `durable` the file and the directory are flushed first.
 */
export function publishFile(dir: string, name: string, header: Uint8Array, size: number, durable: boolean, replace = false): boolean {
  const final = join(dir, name);
  const tmp = join(dir, `${name}.tmp-${process.pid}-${++tmpCounter}`);
  const file = File.open(tmp, { create: true, exclusive: true });
  try {
    allocate(file, 0, Math.max(size, header.length));
    file.write(header, 0);
    if (durable) file.sync();
  } catch (e) {
    file.close();
    removeFile(tmp);
    throw e;
  }
  file.close();
  let published = true;
  try {
    if (replace) renameSync(tmp, final);
    else linkSync(tmp, final);
  } catch (e) {
    removeFile(tmp);
    if (!replace && errnoOfNodeError(e) === "EEXIST") return false;
    throw nodeSystemError(replace ? "rename" : "link", final, e);
  }
  if (!replace) removeFile(tmp);
  if (durable) syncDirectory(dir);
  return published;
}
