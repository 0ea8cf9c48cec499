/**
 * offheap: off-heap and on-disk data structures for Bun.
 *
 * Every public name is exported from here; the package's `exports` points at this file.
 */
export { OffheapError, ERROR_CODES, isOffheapError, type ErrorCode } from "./errors.ts";
