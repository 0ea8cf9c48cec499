/**
 * The operations codegen.ts compiles for a schema, as the store's Core holds them: a type
 * of its own so that core.ts (which holds them) and codegen.ts (which builds them over a
 * Core) need not import each other.
 */
/** Operations compiled for one schema and bound to one store's Core (see codegen.ts). */
export interface Ops {
  /** Consistent snapshot of record `i` (range-checked, then seqlock). */
  get(i: number): Record<string, unknown>;
  /** Like {@link get}, into `target`; returns `target`. */
  getInto(i: number, target: Record<string, unknown>): Record<string, unknown>;
  /** Like {@link get}, and `ERR_CORRUPT` when the record's (valid) CRC does not match. */
  getChecked(i: number): Record<string, unknown>;
  /** Like {@link getInto}, checking the CRC as {@link getChecked} does. */
  getIntoChecked(i: number, target: Record<string, unknown>): Record<string, unknown>;
  /** Throw `ERR_INVALID` / `ERR_TOO_LARGE` unless every given value fits its field. */
  validate(values: unknown): void;
  /** Write the given fields of the record at `o` under its seqlock, and its CRC (validate first). */
  write(o: number, values: Record<string, unknown> | undefined): void;
  /** Write the given fields of the record at `o`, empty the others, and its CRC, without the seqlock (not yet visible). */
  fill(o: number, values: Record<string, unknown> | undefined): void;
}
