/**
 * The error type, for src/: it is defined in ffi/errors.ts, the bottom layer, so that ffi/
 * can throw it without pointing up.
 */
export { ERROR_CODES, OffheapError, isOffheapError, type ErrorCode, type ErrorDetails } from "../ffi/errors.ts";
