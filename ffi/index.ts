/**
 * The OS boundary. Everything that touches a pointer, a file descriptor or libc lives in
 * this folder; `src/` builds on these wrappers only.
 *
 * - `libc.ts`: the dlopen of libc and every bound symbol
 * - `platform.ts`: per-platform constants (flags, struct offsets, errno names)
 * - `system-error.ts`: errno -> `OffheapError` with code `ERR_SYSTEM`
 * - `file.ts`, `mapping.ts`, `lock.ts`, `futex.ts`: the safe wrappers
 * - `allocate.ts`: disk blocks reserved before a range is written through a mapping
 * - `zero-ahead.ts`: zeros written by a Worker ahead of a writer filling a new range
 * - `worker-source.ts`: what the inline sources of those two Workers share
 * - `barrier.ts`: an opaque native call that orders plain reads (seqlock readers)
 */
export { allocate, writeZeros, type Allocated, type AllocateOptions } from "./allocate.ts";
export { ZeroAhead, type ZeroRange } from "./zero-ahead.ts";
export { File, freeBytes, syncDirectory, type FileOpenOptions } from "./file.ts";
export { Mapping, MAX_MAPPING_BYTES, type Advice, type FileMappingOptions } from "./mapping.ts";
export { Lock, writerHolds, type LockMode, type LockWaitOptions } from "./lock.ts";
export { FutexWaiter, futexWait, futexWake, hasFutex, type WaitResult } from "./futex.ts";
export { FENCE, barrierCall, compilerBarrier, loadOrdered } from "./barrier.ts";
export { C as platform, platformKey } from "./platform.ts";
export { errnoOfNodeError, isNotFound, nodeSystemError, systemError, viaNodeFs } from "./system-error.ts";
export { currentThread, threadLiveness, type Liveness, type ThreadIdentity } from "./process.ts";
