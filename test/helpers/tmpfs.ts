/**
 * A tiny filesystem for disk-full tests: a tmpfs mounted on a temp directory (root only;
 * CI runs as root), with a filler file that takes every free byte and gives it back.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A mounted tmpfs that unmounts and removes itself when disposed. */
export interface TinyFilesystem {
  /** The mount point. */
  readonly path: string;
  /** `join(path, ...parts)`. */
  file(...parts: string[]): string;
  /** Take every free byte with a filler file `.filler` (idempotent until {@link free}). */
  fill(): void;
  /** Remove the filler file `.filler`. */
  free(): void;
  /** Remount read-only (`true`) or read-write again (`false`). */
  setReadonly(readonly: boolean): void;
  [Symbol.dispose](): void;
}

/** Whether this process may mount filesystems (the tests that need it fail without). */
export const canMount = process.getuid?.() === 0;

/** Append to `path` until the filesystem is full (ENOSPC): the file takes every free byte. */
export function fillDisk(path: string): void {
  const fd = openSync(path, "a");
  const chunk = new Uint8Array(4096).fill(0xaa);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOSPC") throw e;
  } finally {
    closeSync(fd);
  }
}

function run(cmd: string[]): void {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (${r.exitCode}): ${r.stderr.toString()}`);
}

/**
 * Mount a tmpfs of `bytes` (default 2 MiB) on a fresh temp directory. Throws, saying why,
 * when not root: a disk-full test must fail loudly rather than pass without running.
 */
export function tinyFilesystem(bytes = 2 << 20): TinyFilesystem {
  if (!canMount) {
    throw new Error("this test mounts a tmpfs to fill a disk and must run as root (CI does); it cannot run as uid " + process.getuid?.());
  }
  const path = mkdtempSync(join(tmpdir(), "offheap-tmpfs-"));
  run(["mount", "-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", path]);
  const filler = join(path, ".filler");
  let filled = false;
  return {
    path,
    file: (...parts) => join(path, ...parts),
    fill() {
      if (filled) return;
      filled = true;
      fillDisk(filler);
    },
    free() {
      filled = false;
      rmSync(filler, { force: true }); // also a filler a child process made (the same name)
    },
    setReadonly(readonly: boolean) {
      run(["mount", "-o", `remount,${readonly ? "ro" : "rw"}`, path]);
    },
    [Symbol.dispose]() {
      run(["umount", "-l", path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}
