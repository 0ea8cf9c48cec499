/**
 * Every platform-specific number offheap uses, in one place. Linux x86-64 is what CI runs;
 * arm64 and macOS are entries here, not rewrites elsewhere.
 */

/** The numbers that differ between operating systems and architectures. */
export interface PlatformConstants {
  /** Shared-library names to try, in order, for libc. */
  libcNames: readonly string[];
  /** Symbol that returns a pointer to the calling thread's errno. */
  errnoSymbol: string;
  O_RDONLY: number;
  O_RDWR: number;
  O_CREAT: number;
  O_EXCL: number;
  O_TRUNC: number;
  O_CLOEXEC: number;
  PROT_READ: number;
  PROT_WRITE: number;
  MAP_SHARED: number;
  MAP_PRIVATE: number;
  MAP_ANONYMOUS: number;
  MS_ASYNC: number;
  MS_SYNC: number;
  MADV_NORMAL: number;
  MADV_RANDOM: number;
  MADV_SEQUENTIAL: number;
  MADV_WILLNEED: number;
  MADV_DONTNEED: number;
  LOCK_SH: number;
  LOCK_EX: number;
  LOCK_NB: number;
  LOCK_UN: number;
  /** `syscall()` number of futex, or -1 where there is none (macOS: callers poll). */
  SYS_futex: number;
  FUTEX_WAIT: number;
  FUTEX_WAKE: number;
  /** `sync_file_range` flag that starts writeback without waiting (Linux only). */
  SYNC_FILE_RANGE_WRITE: number;
  /** Byte size of `struct stat` and the offsets of the fields we read. */
  statSize: number;
  statModeOffset: number;
  statSizeOffset: number;
  S_IFMT: number;
  S_IFDIR: number;
  S_IFREG: number;
  /** The system page size; mapping offsets are multiples of it. */
  pageSize: number;
  /** errno number -> name. */
  errnoNames: Readonly<Record<number, string>>;
}

const linuxErrno: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG",
  9: "EBADF", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 16: "EBUSY",
  17: "EEXIST", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 23: "ENFILE",
  24: "EMFILE", 26: "ETXTBSY", 27: "EFBIG", 28: "ENOSPC", 29: "ESPIPE", 30: "EROFS",
  36: "ENAMETOOLONG", 38: "ENOSYS", 75: "EOVERFLOW", 95: "EOPNOTSUPP", 110: "ETIMEDOUT",
  122: "EDQUOT",
};

const linuxCommon = {
  libcNames: ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1", "/usr/lib/libc.so"],
  errnoSymbol: "__errno_location",
  O_RDONLY: 0, O_RDWR: 2, O_CREAT: 0o100, O_EXCL: 0o200, O_TRUNC: 0o1000, O_CLOEXEC: 0o2000000,
  PROT_READ: 1, PROT_WRITE: 2,
  MAP_SHARED: 1, MAP_PRIVATE: 2, MAP_ANONYMOUS: 0x20,
  MS_ASYNC: 1, MS_SYNC: 4,
  MADV_NORMAL: 0, MADV_RANDOM: 1, MADV_SEQUENTIAL: 2, MADV_WILLNEED: 3, MADV_DONTNEED: 4,
  LOCK_SH: 1, LOCK_EX: 2, LOCK_NB: 4, LOCK_UN: 8,
  FUTEX_WAIT: 0, FUTEX_WAKE: 1,
  SYNC_FILE_RANGE_WRITE: 2,
  S_IFMT: 0o170000, S_IFDIR: 0o040000, S_IFREG: 0o100000,
  pageSize: 4096,
  errnoNames: linuxErrno,
} as const;

const platforms: Record<string, PlatformConstants> = {
  "linux-x64": {
    ...linuxCommon,
    SYS_futex: 202,
    // struct stat on x86-64: st_mode at 24, st_size at 48, 144 bytes in all.
    statSize: 144, statModeOffset: 24, statSizeOffset: 48,
  },
  "linux-arm64": {
    ...linuxCommon,
    SYS_futex: 98,
    // asm-generic struct stat: st_mode at 16, st_size at 48, 128 bytes in all.
    statSize: 128, statModeOffset: 16, statSizeOffset: 48,
  },
  "darwin-arm64": {
    libcNames: ["libSystem.B.dylib"],
    errnoSymbol: "__error",
    O_RDONLY: 0, O_RDWR: 2, O_CREAT: 0x200, O_EXCL: 0x800, O_TRUNC: 0x400, O_CLOEXEC: 0x1000000,
    PROT_READ: 1, PROT_WRITE: 2,
    MAP_SHARED: 1, MAP_PRIVATE: 2, MAP_ANONYMOUS: 0x1000,
    MS_ASYNC: 1, MS_SYNC: 0x10,
    MADV_NORMAL: 0, MADV_RANDOM: 1, MADV_SEQUENTIAL: 2, MADV_WILLNEED: 3, MADV_DONTNEED: 4,
    LOCK_SH: 1, LOCK_EX: 2, LOCK_NB: 4, LOCK_UN: 8,
    SYS_futex: -1, FUTEX_WAIT: 0, FUTEX_WAKE: 1, SYNC_FILE_RANGE_WRITE: 0,
    statSize: 144, statModeOffset: 4, statSizeOffset: 96,
    S_IFMT: 0o170000, S_IFDIR: 0o040000, S_IFREG: 0o100000,
    pageSize: 16384,
    errnoNames: { ...linuxErrno, 11: "EDEADLK", 35: "EAGAIN", 60: "ETIMEDOUT", 63: "ENAMETOOLONG", 78: "ENOSYS" },
  },
};

/** The key of the platform we run on, such as `"linux-x64"`. */
export const platformKey = `${process.platform}-${process.arch}`;

/**
 * Constants for the running platform. Unknown platforms fall back to linux-x64's numbers
 * only on Linux; elsewhere loading fails with a message naming the platform.
 */
export const C: PlatformConstants = (() => {
  const found = platforms[platformKey];
  if (found) return found;
  if (process.platform === "linux") return platforms["linux-x64"]!;
  throw new Error(`offheap: no constants for platform ${platformKey}; add them to ffi/platform.ts`);
})();

/** The name of errno `n`, or `"E<n>"` when we have no name for it. */
export function errnoName(n: number): string {
  return C.errnoNames[n] ?? `E${n}`;
}

/** errno values that mean "try again" for a non-blocking lock. */
export function isWouldBlock(errno: number): boolean {
  return errno === 11 || (process.platform === "darwin" && errno === 35);
}
