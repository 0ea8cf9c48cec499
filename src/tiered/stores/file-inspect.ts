/**
 * CLI support for a {@link FileStore} directory: describe it (kind, version, counts) and
 * verify every entry (header, key, trailer, body CRC) without opening it for writing.
 */
import { crc32 } from "../../primitives/crc.ts";
import { readdirSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { File, nodeSystemError } from "../../../ffi/index.ts";
import { OffheapError, isOffheapError } from "../../errors.ts";
import { readHead } from "./file-entry.ts";
import { FILE_STORE_SPEC, STORE_FILE, readStoreHeader } from "./file-dir.ts";
import { keyHash } from "./key-hash.ts";
import type { Description, VerifyReport } from "../../primitives/inspection.ts";


const SUB_RE = /^[0-9a-f]{2}$/;
const ENTRY_RE = /^[0-9a-f]{30}$/;
const TEMP_RE = /^[0-9a-f]{16}\.tmp$/;

function entryFiles(dir: string): string[] {
  const out: string[] = [];
  for (const sub of readdirSync(dir).sort()) {
    if (!SUB_RE.test(sub)) continue;
    for (const f of readdirSync(join(dir, sub)).sort()) if (ENTRY_RE.test(f)) out.push(join(dir, sub, f));
  }
  return out;
}

/** The store directory for `path`: the directory itself, or the directory of its header file. */
function storeDir(path: string): string {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw nodeSystemError("stat", path, e);
  }
  if (isDir) return path;
  if (basename(path) === STORE_FILE) return dirname(path);
  throw new OffheapError("ERR_FORMAT", `${path} is not a file store directory (nor its ${STORE_FILE} file)`, { path });
}

/**
 * Kind, version, options and counts (`entries`, `bytes`, `tempFiles`) of the file store in
 * `path` (its directory or the directory's `offheap-filestore` file). Throws `ERR_FORMAT` / `ERR_CORRUPT` when `dir` is not a readable file store.
 */
export function describeFileStore(path: string): Description {
  const dir = storeDir(path);
  const header = readStoreHeader(dir);
  let entries = 0;
  let bytes = 0;
  for (const path of entryFiles(dir)) {
    try {
      bytes += statSync(path).size;
      entries++;
    } catch {
      // Evicted while we listed: not there any more.
    }
  }
  let tempFiles = 0;
  try {
    tempFiles = readdirSync(join(dir, "tmp")).filter((f) => TEMP_RE.test(f)).length;
  } catch {
    tempFiles = 0;
  }
  return {
    kind: FILE_STORE_SPEC.kind,
    version: FILE_STORE_SPEC.version,
    options: { fanout: header.fanout, layout: "<2 hex>/<30 hex> per entry", header: STORE_FILE },
    counts: { entries, bytes, tempFiles },
  };
}

/**
 * Check every entry in `dir`: header, key (its hash must be the file's name), trailer and
 * body CRC. Never throws for a bad entry — it is listed with its index in scan order and
 * the reason; throws `OffheapError` only when `dir` is not a readable file store.
 */
export function verifyFileStore(path: string, onProgress?: (done: number, total: number) => void): VerifyReport {
  const dir = storeDir(path);
  readStoreHeader(dir);
  const files = entryFiles(dir);
  const bad: Array<{ id: number; reason: string }> = [];
  files.forEach((path, id) => {
    try {
      using f = File.open(path, { readonly: true });
      const head = readHead(f, path);
      const name = path.slice(-33).replace(/[/\\]/, "");
      if (keyHash(head.key).name !== name) {
        bad.push({ id, reason: `${path}: holds key ${JSON.stringify(head.key.slice(0, 80))}, whose hash is not the file's name` });
        return;
      }
      let crc = 0;
      const buf = new Uint8Array(Math.min(1 << 20, Math.max(1, head.bodyBytes)));
      for (let off = 0; off < head.bodyBytes; ) {
        const n = Math.min(buf.length, head.bodyBytes - off);
        const part = buf.subarray(0, n);
        if (f.read(part, head.bodyStart + off) !== n) throw new OffheapError("ERR_CORRUPT", `${path}: body cut short`, { path });
        crc = crc32(part, crc);
        off += n;
      }
      if ((crc >>> 0) !== head.bodyCrc) bad.push({ id, reason: `${path}: body checksum mismatch` });
    } catch (e) {
      if (isOffheapError(e, "ERR_CORRUPT") || isOffheapError(e, "ERR_FORMAT")) bad.push({ id, reason: e.message });
      else if (!(isOffheapError(e) && e.errno === "ENOENT")) bad.push({ id, reason: `${path}: ${(e as Error).message}` });
    }
    onProgress?.(id + 1, files.length);
  });
  return { checked: files.length, bad };
}
