/**
 * The libc symbols offheap binds, and nothing else. Every other module in ffi/ calls libc
 * through `libc` here; nothing outside ffi/ imports this file.
 *
 * `ssize_t`/`void*` results are `i64_fast`: on 64-bit Linux every value they take fits a
 * double, so they come back as plain numbers (and `MAP_FAILED` as -1), never as BigInt.
 */
import { dlopen, FFIType, read, type Pointer } from "bun:ffi";
import { C } from "./platform.ts";

const symbols = {
  open: { args: [FFIType.ptr, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  pread: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i64], returns: FFIType.i64_fast },
  pwrite: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i64], returns: FFIType.i64_fast },
  fsync: { args: [FFIType.i32], returns: FFIType.i32 },
  fdatasync: { args: [FFIType.i32], returns: FFIType.i32 },
  ftruncate: { args: [FFIType.i32, FFIType.i64], returns: FFIType.i32 },
  fstat: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  mmap: {
    args: [FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.i32, FFIType.i32, FFIType.i64],
    returns: FFIType.i64_fast,
  },
  munmap: { args: [FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
  msync: { args: [FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
  madvise: { args: [FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
  flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  errno: { args: [], returns: FFIType.ptr },
  // abs() does no work: calling it is an opaque native call, which the JIT cannot move
  // memory reads across (see barrier.ts).
  abs: { args: [FFIType.i32], returns: FFIType.i32 },
  // syscall(SYS_futex, uaddr, op, val, timeout*, uaddr2, val3): only integer arguments,
  // so the variadic calling convention matches a plain call on x86-64 and arm64.
  syscall: {
    args: [FFIType.i64, FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr, FFIType.i32],
    returns: FFIType.i64_fast,
  },
} as const;

function bind() {
  const failures: string[] = [];
  for (const name of C.libcNames) {
    try {
      const lib = dlopen(name, { ...renameErrno(symbols) });
      return lib.symbols;
    } catch (e) {
      failures.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new Error(`offheap: could not load libc (${failures.join("; ")})`);
}

/** `errno` is bound under the platform's accessor name (`__errno_location` or `__error`). */
function renameErrno<T extends typeof symbols>(s: T) {
  const { errno, ...rest } = s;
  return { ...rest, [C.errnoSymbol]: errno } as Omit<T, "errno"> & Record<string, T["errno"]>;
}

const raw = bind();

/** The bound libc functions. */
export const libc = raw as unknown as {
  open(path: Pointer | Uint8Array, flags: number, mode: number): number;
  close(fd: number): number;
  pread(fd: number, buf: Pointer | Uint8Array, count: number, offset: number): number;
  pwrite(fd: number, buf: Pointer | Uint8Array, count: number, offset: number): number;
  fsync(fd: number): number;
  fdatasync(fd: number): number;
  ftruncate(fd: number, length: number): number;
  fstat(fd: number, buf: Uint8Array): number;
  mmap(addr: Pointer | null, length: number, prot: number, flags: number, fd: number, offset: number): number;
  munmap(addr: Pointer, length: number): number;
  msync(addr: Pointer, length: number, flags: number): number;
  madvise(addr: Pointer, length: number, advice: number): number;
  flock(fd: number, op: number): number;
  abs(x: number): number;
  syscall(nr: number, addr: Pointer, op: number, val: number, timeout: Pointer | Uint8Array | null, addr2: null, val3: number): number;
};

/**
 * Bind one libc function that some platforms lack, on its own: a missing symbol would
 * fail the whole dlopen above. `undefined` where no libc has it.
 */
function bindOptional<F>(symbol: string, args: FFIType[], returns: FFIType): F | undefined {
  for (const name of C.libcNames) {
    try {
      return dlopen(name, { [symbol]: { args, returns } }).symbols[symbol] as unknown as F;
    } catch {
      // not this name, or no such symbol here
    }
  }
  return undefined;
}

/** Linux's `sync_file_range`; `undefined` elsewhere. */
export const syncFileRange = bindOptional<(fd: number, offset: number, length: number, flags: number) => number>(
  "sync_file_range",
  [FFIType.i32, FFIType.i64, FFIType.i64, FFIType.u32],
  FFIType.i32,
);

/** Linux's `fallocate`; `undefined` where libc lacks it (macOS), and callers write zeros instead. */
export const fallocate = bindOptional<(fd: number, mode: number, offset: number, length: number) => number>(
  "fallocate",
  [FFIType.i32, FFIType.i32, FFIType.i64, FFIType.i64],
  FFIType.i32,
);

/** `munmap`'s address, used as the deallocator of buffers over mappings. */
export const munmapPointer = (raw as unknown as Record<string, { ptr: Pointer }>)["munmap"]!.ptr;

const errnoFn = (raw as unknown as Record<string, () => Pointer>)[C.errnoSymbol]!;

/** The calling thread's errno. Call it right after the failing libc call. */
export function lastErrno(): number {
  return read.i32(errnoFn(), 0);
}
