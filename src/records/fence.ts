/**
 * Ordering reads of a mapping that may be read-only (seqlock readers, shared counters),
 * where `Atomics.load` is not allowed: JSC's optimized `Atomics.load` is a locked
 * read-modify-write, which faults (SIGSEGV) on a page that can't be written. Readers use
 * plain reads between barriers instead; see `loadOrdered` in ffi/barrier.ts.
 *
 * This module gives the record accessors' generated code the same barrier as a statement.
 */
import { FENCE, barrierCall } from "../../ffi/index.ts";

const x64 = process.arch === "x64";

/** The barrier statement generated code uses (`B` and `F` come from {@link barrierHelpers}). */
export const READ_BARRIER = x64 ? "B(0)" : "Atomics.load(F, 0)";

/** What generated code needs for {@link READ_BARRIER}. */
export const barrierHelpers = { fence: FENCE, barrier: barrierCall };
