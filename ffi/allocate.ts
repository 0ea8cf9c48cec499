/**
 * `allocate`: reserve disk blocks for a file range before anything writes it through a
 * mapping.
 *
 * A store through a mapping into a hole of a sparse file (one sized with `ftruncate`)
 * makes the kernel find a block at page-fault time; on a full disk it can't, and the
 * process gets SIGBUS, which nothing can catch. Allocating first turns that into an
 * `ENOSPC` from the call that asked for the space, and later stores into the range never
 * need a block again.
 */
import { OffheapError } from "./errors.ts";
import type { File } from "./file.ts";
import { fallocate, lastErrno } from "./libc.ts";
import { systemError } from "./system-error.ts";

const EINTR = 4;
const EOPNOTSUPP = 95;
const ENOSYS = 38;
/** Zeros written per pwrite (the fallback here, and ZeroAhead's chunks). 1 MiB writes fastest here (256 KiB–1 MiB alike, 64 KiB slower). */
export const ZERO_CHUNK = 1 << 20;
let zeros: Uint8Array | undefined;

/** Options of {@link allocate}. */
export interface AllocateOptions {
  /**
   * The range may hold data (a file made by an older version, which left holes): use
   * `fallocate` only, which keeps the bytes, and where it is missing leave the range be
   * rather than write zeros over it. Default false.
   */
  keepData?: boolean;
}

/**
 * How {@link allocate} got the range: `"reserved"` by `fallocate` (blocks reserved; on
 * ext4 left unwritten, so a first store into each page still converts it), `"written"`
 * with zeros by the fallback, `"left"` as it was (the fallback with `keepData`).
 */
export type Allocated = "reserved" | "written" | "left";

/**
 * Allocate `[offset, offset + length)` of `file`, growing the file when the range passes
 * its end. Uses `fallocate(fd, 0, …)`; where the filesystem or OS has none, writes zeros
 * instead ({@link writeZeros}), so the range must not hold data yet (a new file, or the
 * new tail of a growing one) unless `keepData` is set. Throws `ERR_SYSTEM` (`ENOSPC` on a
 * full disk); a failed call leaves the file's size as it was. On a range already
 * allocated it needs no space and changes nothing. Returns how the range was got.
 */
export function allocate(file: File, offset: number, length: number, options: AllocateOptions = {}): Allocated {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new OffheapError("ERR_INVALID", `allocate needs a non-negative offset and length, got ${offset} and ${length}`, { path: file.path });
  }
  if (file.readonly) throw new OffheapError("ERR_READONLY", `allocate in ${file.path}, which was opened read-only`, { path: file.path });
  const fd = file.fd;
  if (length === 0) return "reserved";
  if (fallocate !== undefined) {
    const before = file.size;
    for (;;) {
      if (fallocate(fd, 0, offset, length) === 0) return "reserved";
      const errno = lastErrno();
      if (errno === EINTR) continue;
      if (errno === EOPNOTSUPP || errno === ENOSYS) break;
      const error = systemError("fallocate", file.path, errno);
      cutBack(file, before);
      throw error;
    }
  }
  if (options.keepData) return "left";
  writeZeros(file, offset, length);
  return "written";
}

/** Undo the growth of a failed call (some filesystems extend the file for what they got). */
function cutBack(file: File, size: number): void {
  try {
    if (file.size > size) file.truncate(size);
  } catch {
    // the allocation's error is the one to report
  }
}

/**
 * Write zeros over `[offset, offset + length)` with pwrite: the fallback of
 * {@link allocate}, exported so that it can be tested on any filesystem. On failure the
 * file is cut back to its old size when the range started at or past its end, so a
 * partial fallback leaves no half-allocated tail behind.
 */
export function writeZeros(file: File, offset: number, length: number): void {
  zeros ??= new Uint8Array(ZERO_CHUNK);
  const before = file.size;
  try {
    for (let done = 0; done < length; ) {
      const n = Math.min(ZERO_CHUNK, length - done);
      file.write(n === ZERO_CHUNK ? zeros : zeros.subarray(0, n), offset + done);
      done += n;
    }
  } catch (e) {
    if (offset >= before) cutBack(file, before);
    throw e;
  }
}
