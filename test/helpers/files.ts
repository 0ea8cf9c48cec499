/**
 * Damaging files on purpose, for corruption tests.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";

/** Invert every bit of the byte at `offset` of the file at `path`. */
export function flipByte(path: string, offset: number): void {
  const fd = openSync(path, "r+");
  try {
    const b = new Uint8Array(1);
    if (readSync(fd, b, 0, 1, offset) !== 1) throw new Error(`${path} has no byte at offset ${offset}`);
    b[0] = b[0]! ^ 0xff;
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

/** Overwrite the bytes at `offset` of the file at `path` with `bytes`. */
export function patchFile(path: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** Every file name in `dir` with a hash of its bytes, sorted: equal snapshots mean nothing changed. */
export function dirSnapshot(dir: string): Array<[string, string]> {
  return readdirSync(dir)
    .sort()
    .map((name) => [name, Bun.hash(readFileSync(join(dir, name))).toString()]);
}
