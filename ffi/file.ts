/**
 * `File`: a file descriptor with positional reads and writes, sync, truncate and size.
 * The descriptor never leaves ffi/; structures hold a `File`.
 */
import { fstatSync, statSync, statfsSync } from "node:fs";
import { OffheapError } from "./errors.ts";
import { libc, lastErrno, syncFileRange } from "./libc.ts";
import { C } from "./platform.ts";
import { errnoOfNodeError, nodeSystemError, systemError, viaNodeFs } from "./system-error.ts";

/** How to open a {@link File}. */
export interface FileOpenOptions {
  /** Open for reading only. Default false (read-write). */
  readonly?: boolean;
  /** Create the file when it does not exist. Default false. */
  create?: boolean;
  /** With `create`: fail with `EEXIST` when the file already exists. */
  exclusive?: boolean;
  /** Permission bits for a created file. Default `0o644`. */
  mode?: number;
}

const EINTR = 4;

/** The NUL-terminated bytes of a path, as libc wants it. */
export function cPath(path: string): Buffer {
  return Buffer.from(`${path}\0`, "utf8");
}

/** What `fstat` tells about an open descriptor. */
interface StatResult {
  size: number;
  isDirectory: boolean;
}

const statBuffer = new Uint8Array(C.statSize);
const statView = new DataView(statBuffer.buffer);

function fstat(fd: number, path: string): StatResult {
  if (libc.fstat(fd, statBuffer) !== 0) throw systemError("fstat", path);
  const mode = statView.getUint32(C.statModeOffset, true);
  return {
    size: Number(statView.getBigInt64(C.statSizeOffset, true)),
    isDirectory: (mode & C.S_IFMT) === C.S_IFDIR,
  };
}

/**
 * An open file. Reads and writes are positional (`pread`/`pwrite`) and loop over short
 * transfers, so a call moves all the bytes asked for or throws.
 */
export class File {
  /** The path the file was opened with. */
  readonly path: string;
  /** Whether the file was opened read-only. */
  readonly readonly: boolean;
  #fd: number;

  private constructor(fd: number, path: string, readonly: boolean) {
    this.#fd = fd;
    this.path = path;
    this.readonly = readonly;
  }

  /**
   * Open (or create) a regular file. Throws `ERR_SYSTEM` with `errno` `ENOENT`, `EACCES`,
   * `EISDIR`, … when the OS refuses, and `EISDIR` also for a directory opened read-only.
   */
  static open(path: string, options: FileOpenOptions = {}): File {
    const readonly = options.readonly ?? false;
    let flags = (readonly ? C.O_RDONLY : C.O_RDWR) | C.O_CLOEXEC;
    if (options.create) flags |= C.O_CREAT;
    if (options.create && options.exclusive) flags |= C.O_EXCL;
    let fd: number;
    do fd = libc.open(cPath(path), flags, options.mode ?? 0o644);
    while (fd < 0 && lastErrno() === EINTR);
    if (fd < 0) throw systemError("open", path);
    try {
      if (fstat(fd, path).isDirectory) throw systemError("open", path, 21 /* EISDIR */);
    } catch (e) {
      libc.close(fd);
      throw e;
    }
    return new File(fd, path, readonly);
  }

  /** True until {@link close} is called. */
  get isOpen(): boolean {
    return this.#fd >= 0;
  }

  /** The descriptor, for other ffi/ wrappers (Mapping, Lock). Throws `ERR_CLOSED` after close. */
  get fd(): number {
    if (this.#fd < 0) throw this.#closed();
    return this.#fd;
  }

  /** Current size in bytes. */
  get size(): number {
    return fstat(this.fd, this.path).size;
  }

  /**
   * Read into `target` from file offset `offset` until `target` is full or the file ends.
   * Returns the number of bytes read (less than `target.length` only at end of file).
   */
  read(target: Uint8Array, offset: number): number {
    const fd = this.fd;
    let done = 0;
    while (done < target.length) {
      const part = done === 0 ? target : target.subarray(done);
      const n = libc.pread(fd, part, part.length, offset + done);
      if (n < 0) {
        if (lastErrno() === EINTR) continue;
        throw systemError("pread", this.path);
      }
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  /** Write all of `source` at file offset `offset`, extending the file if needed. */
  write(source: Uint8Array, offset: number): void {
    const fd = this.fd;
    if (this.readonly) throw new OffheapError("ERR_READONLY", `write to ${this.path}, which was opened read-only`, { path: this.path });
    let done = 0;
    while (done < source.length) {
      const part = done === 0 ? source : source.subarray(done);
      const n = libc.pwrite(fd, part, part.length, offset + done);
      if (n < 0) {
        if (lastErrno() === EINTR) continue;
        throw systemError("pwrite", this.path);
      }
      done += n;
    }
  }

  /** Flush data and metadata to the disk (`fsync`). */
  sync(): void {
    if (libc.fsync(this.fd) !== 0) throw systemError("fsync", this.path);
  }

  /** Flush data, and metadata needed to read it back, to the disk (`fdatasync`). */
  datasync(): void {
    if (libc.fdatasync(this.fd) !== 0) throw systemError("fdatasync", this.path);
  }

  /**
   * Start writing `[offset, offset + length)` back to the disk without waiting
   * (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`), so that a later `datasync` has less
   * left to wait for. Durability still needs `datasync`. A no-op where the OS lacks it.
   */
  startWriteback(offset: number, length: number): void {
    const fd = this.fd;
    if (syncFileRange === undefined || length <= 0) return;
    if (syncFileRange(fd, offset, length, C.SYNC_FILE_RANGE_WRITE) !== 0) throw systemError("sync_file_range", this.path);
  }

  /** Set the file's length to `length` bytes (grows with zeros or shrinks). */
  truncate(length: number): void {
    if (this.readonly) throw new OffheapError("ERR_READONLY", `truncate of ${this.path}, which was opened read-only`, { path: this.path });
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new OffheapError("ERR_INVALID", `truncate length must be a non-negative integer, got ${length}`, { path: this.path });
    }
    if (libc.ftruncate(this.fd, length) !== 0) throw systemError("ftruncate", this.path);
  }

  /**
   * Whether `path` still names this open file (same device and inode): false once the
   * file was unlinked or another file was renamed over it.
   */
  isLinkedAt(path: string): boolean {
    const mine = viaNodeFs("fstat", this.path, () => fstatSync(this.fd, { bigint: true }));
    let there: ReturnType<typeof statSync>;
    try {
      there = statSync(path, { bigint: true });
    } catch (e) {
      if (errnoOfNodeError(e) === "ENOENT") return false;
      throw nodeSystemError("stat", path, e);
    }
    return there.ino === mine.ino && there.dev === mine.dev;
  }

  /** Close the descriptor. Idempotent; later calls on this File throw `ERR_CLOSED`. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    // Linux closes the descriptor even when close() reports EINTR/EIO: never retry it.
    if (libc.close(fd) !== 0) throw systemError("close", this.path);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #closed(): OffheapError {
    return new OffheapError("ERR_CLOSED", `file ${this.path} is closed`, { path: this.path });
  }
}

/**
 * fsync a directory, so that a rename or create inside it survives a crash.
 */
export function syncDirectory(path: string): void {
  const fd = libc.open(cPath(path), C.O_RDONLY | C.O_CLOEXEC, 0);
  if (fd < 0) throw systemError("open", path);
  const rc = libc.fsync(fd);
  const err = rc === 0 ? 0 : lastErrno();
  libc.close(fd);
  if (rc !== 0) throw systemError("fsync", path, err);
}

/**
 * Bytes that new files under the directory `dir` may still take (`statfs`: the blocks
 * available to this user; to root, the reserved ones too).
 */
export function freeBytes(dir: string): number {
  const s = viaNodeFs("statfs", dir, () => statfsSync(dir));
  const blocks = process.getuid?.() === 0 ? s.bfree : s.bavail;
  return blocks * s.bsize;
}
