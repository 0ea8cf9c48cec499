/**
 * Reading shared words of a mapping that may be read-only.
 *
 * `Atomics.load` cannot be used on a readonly (PROT_READ) mapping: once JSC optimizes it,
 * it becomes a locked read-modify-write, which faults on a page that can't be written
 * (measured: SIGSEGV after a few million calls). So readers load words with a plain read
 * and order it against the reads around it with an atomic operation on private memory:
 * JSC neither moves typed-array reads across an atomic operation nor merges two reads of
 * one element on either side of it, and on x86-64 the CPU keeps loads in order anyway.
 */

/** A private word whose atomic operations serve as ordering points for plain reads. */
export const FENCE = new Int32Array(new SharedArrayBuffer(4));

/** Read word `i` of `words` (possibly a readonly mapping) as of now, ordered against later reads. */
export function loadWord(words: Int32Array, i: number): number {
  Atomics.load(FENCE, 0);
  const value = words[i]!;
  Atomics.load(FENCE, 0);
  return value;
}
