/**
 * `FileStore`: a tier of one file per entry in a directory.
 *
 * Layout of `dir`:
 * ```
 * offheap-filestore     the store's header (kind "TFST"); holds the exclusive lock
 * tmp/<16 hex>.tmp      writes in progress (swept on open)
 * <2 hex>/<30 hex>      entries; the 32 hex digits are a 128-bit hash of the key
 * ```
 * Each entry file is in the format of `file-entry.ts`, written by `file-writer.ts`. The
 * key is checked on read, so a hash collision reads as a miss; key and metadata are
 * checked against their CRC (a damaged ETag must never be served); the body CRC is
 * checked as the body is read. A damaged entry reads as a miss and is removed.
 *
 * A write goes to a temp file, is fsynced, renamed into place and the directory fsynced:
 * a reader sees the old entry or the new one, never part of one, and a crash leaves at
 * worst a temp file, removed on the next open. Readers hold no lock: small bodies are read
 * whole and the file closed before the stream is returned; large ones keep their own
 * descriptor, which a later rename or eviction does not disturb.
 */
import { DEFAULT_LOCK_TIMEOUT, lockTimeoutOption, syncOption, type SyncMode } from "../../primitives/common-options.ts";
import { join } from "node:path";
import { File, Lock, isNotFound, syncDirectory } from "../../../ffi/index.ts";
import { OffheapError, isOffheapError } from "../../errors.ts";
import { encodeHeader } from "../../primitives/header.ts";
import { POLICY_NAMES, type PolicyName } from "../../policy/index.ts";
import { EntryIndex } from "./file-index.ts";
import { booleanArg, integerArg, oneOfArg, optionsArg, pathArg } from "../../primitives/arguments.ts";
import { BytesEntry } from "../body.ts";
import { keyArg, keyHash } from "./key-hash.ts";
import { entryMetaArg } from "../meta.ts";
import { readHead, type EntryHead } from "./file-entry.ts";
import { assertStoreDir, checkStoreHeader, FANOUT, FILE_STORE_SPEC, makeDir, removeFile, rename, scanEntries, STORE_FILE, sweepTemps, unlink } from "./file-dir.ts";
import { checkWholeEntry, entryBodyStream, OpenEntries } from "./file-reader.ts";
import { FileWriter, type FileWriterHost } from "./file-writer.ts";
import { FILE_STORE_METRICS, type FileStoreStats } from "../stats.ts";
import { describeStats } from "../../metrics/describe.ts";
import type { EntryMeta, StoredEntry, Store, StoreWriter } from "../types.ts";

/** Options of a {@link FileStore}. */
export interface FileStoreOptions {
  /** Total bytes of entry files kept; beyond it the policy evicts. Default 1 GiB. */
  maxBytes?: number;
  /** Most entries kept (the policy's slot count). Default 65 536. */
  maxEntries?: number;
  /** Eviction policy. Default `"lru"`. */
  policy?: PolicyName;
  /**
   * When entries reach the disk (see {@link SyncMode}; each entry is one write, so
   * `"batch"` is `"always"`). `"always"`: each entry and its directory are fsynced before
   * the entry is published. `"none"`: the OS writes back; after a power loss an entry may
   * be missing or read as a miss. Default `"always"`.
   */
  sync?: SyncMode;
  /** How long the open waits for another writer's lock on the directory, in ms (then `ERR_TIMEOUT`); 0: `ERR_LOCKED` at once. Default 5000 ({@link DEFAULT_LOCK_TIMEOUT}). */
  lockTimeout?: number;
  /**
   * Descriptors of recently read entries kept open, so a hit is one `pread`. Safe because
   * the store holds the directory's exclusive lock: only this handle replaces or removes
   * entries, and it closes the cached descriptor when it does. Default 256; 0 disables.
   */
  openFiles?: number;
  /**
   * Open without the lock, for reading only (another process may hold the store open for
   * writing): no sweep, no index; each get opens the entry file. Writes throw `ERR_READONLY`.
   */
  readonly?: boolean;
}

/** Bodies up to this size are read whole and the file closed before the stream is handed out. */
const WHOLE_READ = 256 * 1024;
/** Bytes copied per read when `touch` rewrites an entry. */
const CHUNK = 256 * 1024;

/**
 * A tier of one file per entry. See the module comment for the layout and guarantees.
 * Open it with {@link FileStore.open}.
 */
export class FileStore implements Store {
  readonly name = "file";
  /** The directory. */
  readonly dir: string;
  /** Opened with `readonly: true`. */
  readonly readonly: boolean;
  readonly #maxBytes: number;
  readonly #sync: boolean;
  readonly #lockFile: File;
  readonly #lock: Lock | undefined;
  readonly #tmp: string;
  /** `dir` with a trailing slash, for building entry paths without `join` on the hot path. */
  readonly #root: string;

  readonly #index: EntryIndex;
  #closed = false;
  readonly #writers = new Set<FileWriter>();
  readonly #fds: OpenEntries;
  readonly #madeDirs = new Set<string>();
  readonly #stats = { hits: 0, misses: 0, writes: 0, aborts: 0, evictions: 0, corrupt: 0, sweptTemps: 0, tooLarge: 0, deletes: 0, touches: 0 };

  /**
   * Open (creating when missing) the store in `dir`: takes the directory's lock, sweeps
   * leftover temp files and indexes the entries. Throws `ERR_LOCKED` when another handle
   * has the directory open for writing, `ERR_FORMAT` when its header file is not a file
   * store's, `ERR_SYSTEM` when it can't be read or made.
   *
   * @throws `ERR_INVALID` for a bad `dir` or option; `ERR_FORMAT` when `dir` is a file, or
   * a non-empty directory without a store's header (a queue's, say): nothing is written
   * into it; `ERR_LOCKED`, `ERR_TIMEOUT`, `ERR_SYSTEM`.
   */
  static open(dir: string, options: FileStoreOptions = {}): FileStore {
    pathArg("the file store's directory", dir);
    optionsArg("FileStore options", options);
    if (options.maxBytes !== undefined) integerArg("maxBytes", options.maxBytes, { min: 1 });
    if (options.maxEntries !== undefined) integerArg("maxEntries", options.maxEntries, { min: 1, max: 1 << 24 });
    if (options.openFiles !== undefined) integerArg("openFiles", options.openFiles, { min: 0, max: 65_536 });
    if (options.policy !== undefined) oneOfArg("policy", options.policy, POLICY_NAMES);
    syncOption(options.sync, "always");
    lockTimeoutOption(options.lockTimeout);
    if (options.readonly !== undefined) booleanArg("readonly", options.readonly);
    return new FileStore(dir, options);
  }

  private constructor(dir: string, options: FileStoreOptions) {
    this.dir = dir;
    this.readonly = options.readonly ?? false;
    this.#maxBytes = options.maxBytes ?? 1 << 30;
    this.#sync = syncOption(options.sync, "always") !== "none";
    this.#writerHost.maxEntryBytes = this.#maxBytes;
    this.#writerHost.syncWrites = this.#sync;
    this.#fds = new OpenEntries(this.readonly ? 0 : (options.openFiles ?? 256));
    if (!(this.#maxBytes > 0)) throw new OffheapError("ERR_INVALID", `maxBytes must be positive, got ${options.maxBytes}`);
    this.#index = new EntryIndex(options.maxEntries ?? 65_536, this.#maxBytes, options.policy ?? "lru");

    this.#tmp = join(dir, "tmp");
    this.#root = join(dir, "/");
    const headerPath = join(dir, STORE_FILE);
    assertStoreDir(dir, headerPath);
    if (this.readonly) {
      this.#lock = undefined;
      this.#lockFile = File.open(headerPath, { readonly: true });
      try {
        checkStoreHeader(this.#lockFile);
      } catch (e) {
        this.#lockFile.close();
        throw e;
      }
      return;
    }
    makeDir(dir);
    let created = false;
    let file: File;
    try {
      file = File.open(headerPath, { create: true, exclusive: true });
      created = true;
    } catch (e) {
      if (!(isOffheapError(e) && e.errno === "EEXIST")) throw e;
      file = File.open(headerPath);
    }
    this.#lockFile = file;
    this.#lock = new Lock(file, "exclusive");
    try {
      this.#lock.lockSync(lockTimeoutOption(options.lockTimeout));
      if (created) {
        file.write(encodeHeader(FILE_STORE_SPEC, { fanout: FANOUT }), 0);
        file.sync();
        syncDirectory(dir);
      } else {
        checkStoreHeader(file);
      }
    } catch (e) {
      file.close();
      throw e;
    }
    makeDir(this.#tmp);
    this.#stats.sweptTemps += sweepTemps(this.#tmp);
    for (const e of scanEntries(dir, (sub) => this.#madeDirs.add(sub))) this.#index.add(e.name, Number.parseInt(e.name.slice(0, 8), 16) | 0, e.size, this.#evicted);
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes of entry files held. */
  get bytes(): number {
    this.#assertOpen();
    return this.#index.bytes;
  }

  /** Number of entries held. */
  get size(): number {
    this.#assertOpen();
    return this.#index.size;
  }

  get(key: string): StoredEntry | undefined {
    this.#assertOpen();
    const h = keyHash(key);
    const slot = this.readonly ? -1 : this.#index.slotOf(h.name);
    if (slot === undefined) {
      this.#stats.misses++;
      return undefined;
    }
    const path = this.#path(h.name);
    let size = slot < 0 ? WHOLE_READ + 1 : this.#index.sizeOf(slot);
    if (size <= WHOLE_READ && slot >= 0 && this.#fds.max > 0) return this.#getWhole(key, h.name, slot, size, path);
    let file: File;
    try {
      file = File.open(path, { readonly: true });
    } catch (e) {
      if (!isNotFound(e)) throw e;
      if (slot >= 0) this.#forget(h.name);
      this.#stats.misses++;
      return undefined;
    }
    try {
      if (slot < 0) size = file.size;
      if (size <= WHOLE_READ) {
        const buf = new Uint8Array(size);
        const n = file.read(buf, 0);
        file.close();
        return this.#whole(key, h.name, slot, buf, n, path);
      }
      const head = readHead(file, path);
      if (head.key !== key) {
        file.close();
        return this.#collision();
      }
      if (slot >= 0) this.#index.touch(slot);
      this.#stats.hits++;
      const onCorrupt = () => {
        this.#stats.corrupt++;
        this.#removeIfSame(path, head);
      };
      return { meta: head.meta, body: entryBodyStream(file, head, path, onCorrupt) };
    } catch (e) {
      if (file.isOpen) file.close();
      if (isOffheapError(e, "ERR_CORRUPT") || isOffheapError(e, "ERR_FORMAT")) {
        this.#stats.corrupt++;
        this.#remove(h.name);
        return undefined;
      }
      throw e;
    }
  }

  stat(key: string): EntryMeta | undefined {
    this.#assertOpen();
    const h = keyHash(key);
    if (!this.readonly && !this.#index.has(h.name)) return undefined;
    const path = this.#path(h.name);
    try {
      using file = File.open(path, { readonly: true });
      const head = readHead(file, path);
      return head.key === key ? head.meta : undefined;
    } catch (e) {
      if (isNotFound(e) || isOffheapError(e, "ERR_CORRUPT") || isOffheapError(e, "ERR_FORMAT")) return undefined;
      throw e;
    }
  }

  writer(key: string, meta: EntryMeta): StoreWriter {
    this.#assertWritable();
    keyArg(key);
    const w = new FileWriter(this.#writerHost, key, entryMetaArg(meta));
    this.#writers.add(w);
    return w;
  }

  delete(key: string): boolean {
    this.#assertWritable();
    const h = keyHash(key);
    if (!this.#index.has(h.name)) return false;
    const removed = this.#remove(h.name);
    if (removed && this.#sync) syncDirectory(join(this.dir, h.name.slice(0, 2)));
    if (removed) this.#stats.deletes++;
    return removed;
  }

  /** Rewrite the entry with new metadata and the same body (temp file, fsync, rename). */
  touch(key: string, meta: EntryMeta): boolean {
    this.#assertWritable();
    const h = keyHash(key);
    entryMetaArg(meta);
    if (!this.#index.has(h.name)) return false;
    const path = this.#path(h.name);
    let src: File;
    try {
      src = File.open(path, { readonly: true });
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
    try {
      const head = readHead(src, path);
      if (head.key !== key || head.meta.etag !== meta.etag) return false;
      const w = new FileWriter(this.#writerHost, key, meta);
      this.#writers.add(w);
      try {
        const buf = new Uint8Array(Math.min(CHUNK, Math.max(1, head.bodyBytes)));
        for (let off = 0; off < head.bodyBytes; ) {
          const n = Math.min(buf.length, head.bodyBytes - off);
          const part = buf.subarray(0, n);
          if (src.read(part, head.bodyStart + off) !== n) throw new OffheapError("ERR_CORRUPT", `${path}: body cut short`, { path });
          w.writeSync(part);
          off += n;
        }
        // Never relabel a damaged body as fresh: the copy must match the stored CRC.
        if (w.bodyCrc !== head.bodyCrc) throw new OffheapError("ERR_CORRUPT", `${path}: body checksum mismatch`, { path });
        w.commitSync();
      } catch (e) {
        w.abortSync();
        throw e;
      }
      this.#stats.touches++;
      return true;
    } catch (e) {
      if (isOffheapError(e, "ERR_CORRUPT") || isOffheapError(e, "ERR_FORMAT")) {
        this.#stats.corrupt++;
        this.#remove(h.name);
        return false;
      }
      throw e;
    } finally {
      src.close();
    }
  }

  stats(): FileStoreStats {
    this.#assertOpen();
    return { ...this.#stats, entries: this.#index.size, bytes: this.#index.bytes, maxBytes: this.#maxBytes, openWriters: this.#writers.size, openFiles: this.#fds.size };
  }

  /** Abort open writers and release the directory lock. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of [...this.#writers]) w.abortSync();
    this.#fds.clear();
    this.#lock?.unlock();
    this.#lockFile.close();
  }

  /** {@link FileStore.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** What this store's writers may do to it (kept off its public surface). */
  readonly #writerHost: FileWriterHost = {
    maxEntryBytes: 0,
    syncWrites: false,
    tempPath: () => {
      const rnd = crypto.getRandomValues(new Uint32Array(2));
      return join(this.#tmp, `${rnd[0]!.toString(16).padStart(8, "0")}${rnd[1]!.toString(16).padStart(8, "0")}.tmp`);
    },
    assertOpen: () => this.#assertOpen(),
    publish: (w, temp, name, hash32, size) => this.#publish(w, temp, name, hash32, size),
    discarded: (w, tooLarge) => {
      this.#writers.delete(w);
      this.#stats.aborts++;
      if (tooLarge) this.#stats.tooLarge++;
    },
    removeFile: (path) => removeFile(path),
  };

  /** Publish a finished temp file as the entry `name`. */
  #publish(w: FileWriter, temp: string, name: string, hash32: number, size: number): void {
    this.#writers.delete(w);
    if (this.#closed) {
      removeFile(temp);
      throw new OffheapError("ERR_CLOSED", `file store ${this.dir} is closed`, { path: this.dir });
    }
    const sub = join(this.dir, name.slice(0, 2));
    if (!this.#madeDirs.has(sub)) {
      makeDir(sub);
      this.#madeDirs.add(sub);
    }
    this.#fds.drop(name);
    rename(temp, join(sub, name.slice(2)));
    if (this.#sync) syncDirectory(sub);
    this.#index.add(name, hash32, size, this.#evicted);
    this.#stats.writes++;
  }

  // --------------------------------------------------------------------------------

  /** A small entry through a cached descriptor: one pread, nothing held afterwards. */
  #getWhole(key: string, name: string, slot: number, size: number, path: string): StoredEntry | undefined {
    let file: File;
    try {
      file = this.#fds.get(name, path);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      this.#forget(name);
      this.#stats.misses++;
      return undefined;
    }
    const buf = new Uint8Array(size);
    let n: number;
    try {
      n = file.read(buf, 0);
    } catch (e) {
      this.#fds.drop(name);
      throw e;
    }
    return this.#whole(key, name, slot, buf, n, path);
  }

  /** Check and serve an entry read whole into `buf` (`n` bytes read). */
  #whole(key: string, name: string, slot: number, buf: Uint8Array, n: number, path: string): StoredEntry | undefined {
    let entry: { meta: EntryMeta; body: Uint8Array } | undefined;
    try {
      entry = checkWholeEntry(key, buf, n, path);
    } catch (e) {
      if (isOffheapError(e, "ERR_CORRUPT") || isOffheapError(e, "ERR_FORMAT")) {
        this.#stats.corrupt++;
        this.#remove(name);
        return undefined;
      }
      throw e;
    }
    if (entry === undefined) return this.#collision();
    if (slot >= 0) this.#index.touch(slot);
    this.#stats.hits++;
    return new BytesEntry(entry.meta, entry.body);
  }

  #removeIfSame(path: string, head: EntryHead & { fileSize: number }): void {
    // The entry may have been replaced since this reader opened it: remove the file only
    // when it still has the trailer the bad read saw (same size, same stored CRC).
    const name = path.slice(-33).replace(/[/\\]/, "");
    try {
      using f = File.open(path, { readonly: true });
      const now = readHead(f, path);
      if (now.fileSize !== head.fileSize || now.bodyCrc !== head.bodyCrc) return;
    } catch (e) {
      if (isNotFound(e)) return;
    }
    this.#remove(name);
  }

  #collision(): undefined {
    this.#stats.misses++;
    return undefined;
  }

  #path(name: string): string {
    return `${this.#root}${name.slice(0, 2)}/${name.slice(2)}`;
  }

  /** Remove entry `name` from the index and the disk. */
  #remove(name: string): boolean {
    if (!this.#index.remove(name)) return false;
    this.#unlink(name);
    return true;
  }

  /** An entry the index evicted: its file goes. */
  readonly #evicted = (name: string): void => {
    this.#stats.evictions++;
    this.#unlink(name);
  };

  #unlink(name: string): void {
    this.#fds.drop(name);
    try {
      unlink(this.#path(name));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** Forget entry `name` whose file is already gone. */
  #forget(name: string): void {
    this.#fds.drop(name);
    this.#index.remove(name);
  }

  #assertWritable(): void {
    this.#assertOpen();
    if (this.readonly) throw new OffheapError("ERR_READONLY", `file store ${this.dir} was opened readonly`, { path: this.dir });
  }

  #assertOpen(): void {
    if (this.#closed) throw new OffheapError("ERR_CLOSED", `file store ${this.dir} is closed`, { path: this.dir });
  }
}

describeStats(FileStore, FILE_STORE_METRICS);
