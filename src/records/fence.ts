/**
 * Ordering reads of a mapping that may be read-only (seqlock readers, shared counters).
 *
 * `Atomics.load` can't be used on a readonly (PROT_READ) mapping: once JSC optimizes it,
 * it becomes a locked read-modify-write, which faults on a page that can't be written
 * (measured: SIGSEGV after a few hundred thousand calls). So readers load words with plain
 * reads and put a barrier between them and the reads they must not be reordered with:
 *
 * - x86-64: the CPU keeps loads in order (TSO), so only the JIT could reorder them; an
 *   opaque native call (`compilerBarrier` in ffi/) stops that and costs ~1 ns.
 * - elsewhere (arm64): an atomic operation on private shared memory, a real fence
 *   (untested on hardware here).
 */
import { barrierCall } from "../../ffi/index.ts";

/** A private word whose atomic operations serve as fences on weakly ordered CPUs. */
export const FENCE = new Int32Array(new SharedArrayBuffer(4));

const x64 = process.arch === "x64";

/** The barrier statement generated code uses (`B` and `F` come from {@link barrierHelpers}). */
export const READ_BARRIER = x64 ? "B(0)" : "Atomics.load(F, 0)";

/** What generated code needs for {@link READ_BARRIER}. */
export const barrierHelpers = { fence: FENCE, barrier: barrierCall };

/** Read word `i` of `words` (possibly a readonly mapping) as of now, ordered against the reads around it. */
export function loadWord(words: Int32Array, i: number): number {
  if (x64) {
    barrierCall(0);
    const value = words[i]!;
    barrierCall(0);
    return value;
  }
  Atomics.load(FENCE, 0);
  const value = words[i]!;
  Atomics.load(FENCE, 0);
  return value;
}
