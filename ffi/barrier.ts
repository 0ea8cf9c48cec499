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
import { libc } from "./libc.ts";

const abs = libc.abs;

/** Call `abs(0)` in libc: an opaque call the JIT must order every memory access around. */
export function compilerBarrier(): void {
  abs(0);
}

/** The raw bound function, for generated code that wants no wrapper frame. */
export const barrierCall: (x: number) => number = abs;

const x64 = process.arch === "x64";
/** A private word whose atomic operations serve as fences on weakly ordered CPUs. */
export const FENCE = new Int32Array(new SharedArrayBuffer(4));

/**
 * Read word `i` of `words` — which may view a read-only mapping, where `Atomics.load`
 * is not allowed — as of now, ordered against the reads before and after it.
 * x86-64 keeps loads in order, so compiler barriers suffice there; elsewhere an atomic
 * operation on private memory fences the CPU too.
 */
export function loadOrdered(words: Int32Array, i: number): number {
  if (x64) {
    abs(0);
    const value = words[i]!;
    abs(0);
    return value;
  }
  Atomics.load(FENCE, 0);
  const value = words[i]!;
  Atomics.load(FENCE, 0);
  return value;
}
