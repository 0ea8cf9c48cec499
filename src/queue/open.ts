/**
 * Opening a queue's directory file (`<prefix>.qdir`): made, with the wake file, unless
 * the open is read-only; then read, checked against the options and mapped. What it maps
 * is the queue's shared state (see shared-state.ts); the segments come after.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { File, Mapping } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";
import { assertSameOptions, decodeHeader, encodeHeader } from "../primitives/header.ts";
import { listDir, makeDir, publishFile } from "../primitives/publish.ts";
import { DIR_FILE_BYTES, DIR_SPEC, dirFileName, HEADER_ROOM, parseSegmentName, WAKE_FILE_BYTES, WAKE_SPEC, wakeFileName } from "./layout.ts";
import { impossibleLayout, layoutToCreate, type CheckedOptions, type StoredLayout } from "./options.ts";

/** An open directory file: the caller owns `file` and `mapping` (close both on failure). */
export interface OpenedDirectory {
  file: File;
  mapping: Mapping;
  /** The layout stored at creation. */
  stored: StoredLayout;
}

/**
 * Open (and, unless read-only, first make) the directory file of the queue `prefix` in
 * `dir`. Throws with nothing left open: `ERR_FORMAT` when `dir` is a file, `ERR_MISMATCH`
 * when a layout option differs from the stored one, `ERR_CORRUPT` for a damaged or lost
 * directory file, `ERR_SYSTEM`.
 */
export function openDirectory(dir: string, options: CheckedOptions): OpenedDirectory {
  const { prefix, readonly } = options;
  const path = join(dir, dirFileName(prefix));
  assertNotAFile(dir);
  if (!readonly) createFiles(dir, prefix, options.layout);
  const file = File.open(path, { readonly });
  try {
    const head = new Uint8Array(HEADER_ROOM);
    const got = file.read(head, 0);
    // It was published whole (written, then renamed into place): empty is damage.
    if (got === 0) throw new OffheapError("ERR_CORRUPT", `${path}: the queue's directory file is empty`, { path });
    const stored = decodeHeader(DIR_SPEC, head.subarray(0, got), path);
    assertSameOptions(path, "the queue", stored, options.layout);
    const impossible = impossibleLayout(stored);
    if (impossible !== undefined) throw new OffheapError("ERR_CORRUPT", `${path}: ${impossible}`, { path });
    const size = file.size;
    if (size < DIR_FILE_BYTES) {
      throw new OffheapError("ERR_CORRUPT", `${path}: directory file cut short: expected ${DIR_FILE_BYTES} bytes, found ${size}`, { path });
    }
    return { file, mapping: Mapping.file(file, { length: DIR_FILE_BYTES, readonly }), stored };
  } catch (e) {
    file.close();
    throw e;
  }
}

/** Make the directory, the directory file and the wake file where they are missing. */
function createFiles(dir: string, prefix: string, given: Partial<StoredLayout>): void {
  makeDir(dir);
  if (!existsSync(join(dir, dirFileName(prefix)))) {
    // Segments without their directory file: it was lost, not never made. A new one
    // would forget the floors (and with them which items were removed).
    const orphan = listDir(dir).find((name) => parseSegmentName(prefix, name) !== undefined);
    if (orphan !== undefined) {
      const path = join(dir, dirFileName(prefix));
      throw new OffheapError("ERR_CORRUPT", `${path} is missing, but ${join(dir, orphan)} and maybe other segment files are there: the queue's directory file was lost`, { path });
    }
    const header = new Uint8Array(DIR_FILE_BYTES);
    header.set(encodeHeader(DIR_SPEC, layoutToCreate(given)));
    publishFile(dir, dirFileName(prefix), header, DIR_FILE_BYTES, true);
  }
  if (!existsSync(join(dir, wakeFileName(prefix)))) {
    const wake = new Uint8Array(HEADER_ROOM);
    wake.set(encodeHeader(WAKE_SPEC, { reserved: 0 }));
    publishFile(dir, wakeFileName(prefix), wake, WAKE_FILE_BYTES, false);
  }
}

/** `ERR_FORMAT` when `dir` exists but is not a directory (a file is no queue, and mkdir would say EEXIST). */
function assertNotAFile(dir: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    return; // missing (made, or ENOENT from the open), or unreadable: the open says why
  }
  if (!isDir) throw new OffheapError("ERR_FORMAT", `${dir} is a file, not a queue directory (a queue is a directory of files)`, { path: dir });
}
