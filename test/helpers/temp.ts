/**
 * Temporary directories for tests: created under the OS temp dir, removed on dispose.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A temporary directory that removes itself when disposed. */
export interface TempDir {
  /** Absolute path of the directory. */
  readonly path: string;
  /** `join(path, ...parts)`. */
  file(...parts: string[]): string;
  /** Remove the directory and everything in it. Idempotent. */
  remove(): void;
  [Symbol.dispose](): void;
}

/**
 * Make a fresh temporary directory. Use with `using dir = tempDir()` so it is removed at
 * the end of the block, even when the test fails.
 */
export function tempDir(prefix = "offheap-test-"): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  const remove = () => rmSync(path, { recursive: true, force: true });
  return { path, file: (...parts) => join(path, ...parts), remove, [Symbol.dispose]: remove };
}
