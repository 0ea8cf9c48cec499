/**
 * `compilerBarrier()`: a call into native code that does nothing, so that the JIT can
 * neither move memory reads across it nor merge two reads of one location on either side
 * of it (a native call may touch any memory, as far as the JIT knows).
 *
 * For seqlock readers on x86-64, where the CPU keeps loads in order and only the compiler
 * could reorder them. It exists because `Atomics.load` can't be used there: on a
 * read-only (PROT_READ) mapping, JSC's optimized `Atomics.load` is a locked
 * read-modify-write that faults (SIGSEGV) — and it costs ~4 ns where this costs ~1.
 */
import { dlopen, FFIType } from "bun:ffi";
import { C } from "./platform.ts";

function bind(): (x: number) => number {
  for (const name of C.libcNames) {
    try {
      return dlopen(name, { abs: { args: [FFIType.i32], returns: FFIType.i32 } }).symbols.abs;
    } catch {
      // try the next name
    }
  }
  throw new Error("offheap: could not load libc for compilerBarrier");
}

const abs = bind();

/** Call `abs(0)` in libc: an opaque call the JIT must order every memory access around. */
export function compilerBarrier(): void {
  abs(0);
}

/** The raw bound function, for generated code that wants no wrapper frame. */
export const barrierCall: (x: number) => number = abs;
