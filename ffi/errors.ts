/**
 * The one error type offheap throws. Every failure carries a stable `code` that callers
 * can switch on; the message says what was expected and what was found.
 *
 * It lives at the bottom layer so that ffi/ throws it without importing anything from
 * src/; src/ imports it through src/errors.ts.
 */

/** Every error code offheap raises, with what it means. */
export const ERROR_CODES = {
  ERR_CLOSED: "the handle was closed",
  ERR_LOCKED: "another writer holds the file's lock",
  ERR_CORRUPT: "stored bytes fail their checksum or contradict the file's own layout",
  ERR_FORMAT: "not an offheap file, or of another kind or format version",
  ERR_MISMATCH: "options or schema differ from the ones the file was created with",
  ERR_RANGE: "an id, index or offset outside what exists",
  ERR_TOO_LARGE: "a record, key, value or mapping larger than allowed",
  ERR_FULL: "the structure reached its configured size limit",
  ERR_READONLY: "a write through a read-only handle",
  ERR_INVALID: "a bad argument",
  ERR_LAPPED: "a ring reader was overtaken by the writer",
  ERR_TIMEOUT: "a wait ran out of time",
  ERR_SYSTEM: "a system call failed",
  ERR_UPSTREAM: "an origin or a remote tier failed or could not be reached",
} as const;

/** A stable error code; see {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Extra facts attached to an {@link OffheapError}. */
export interface ErrorDetails {
  /** errno name such as `"ENOENT"`, for `ERR_SYSTEM`. */
  errno?: string;
  /** The failing libc call, for `ERR_SYSTEM`. */
  syscall?: string;
  /** The file the failure concerns, when there is one. */
  path?: string;
  /** How many records a lapped ring reader missed, for `ERR_LAPPED`. */
  missed?: number;
  /** The origin's HTTP status, for `ERR_UPSTREAM` when it answered. */
  status?: number;
  /** The underlying error, when this one wraps another. */
  cause?: unknown;
}

/**
 * An error raised by offheap.
 *
 * @example
 * ```ts
 * try { RingBuffer.open(path) } catch (e) {
 *   if (e instanceof OffheapError && e.code === "ERR_LOCKED") retryLater();
 * }
 * ```
 */
export class OffheapError extends Error {
  /** Stable code to switch on. */
  readonly code: ErrorCode;
  /** errno name (`"ENOENT"`, `"EACCES"`, …) for `ERR_SYSTEM`. */
  declare readonly errno?: string;
  /** The libc call that failed, for `ERR_SYSTEM`. */
  declare readonly syscall?: string;
  /** The path concerned, when known. */
  declare readonly path?: string;
  /** For `ERR_LAPPED`: how many records the reader missed. */
  declare readonly missed?: number;
  /** For `ERR_UPSTREAM`: the origin's HTTP status, when it answered. */
  declare readonly status?: number;

  /**
   * An error with `code`, a message that says what is wrong, and the details that apply.
   * @throws nothing.
   */
  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "OffheapError";
    this.code = code;
    if (details.errno !== undefined) this.errno = details.errno;
    if (details.syscall !== undefined) this.syscall = details.syscall;
    if (details.path !== undefined) this.path = details.path;
    if (details.missed !== undefined) this.missed = details.missed;
    if (details.status !== undefined) this.status = details.status;
  }
}

/**
 * True when `e` is an {@link OffheapError}, optionally with the given code.
 * @throws `ERR_INVALID` when `code` is given but is not one of {@link ERROR_CODES} (a
 * misspelled code would make the test false forever).
 */
export function isOffheapError(e: unknown, code?: ErrorCode): e is OffheapError {
  if (code !== undefined && (typeof code !== "string" || !Object.hasOwn(ERROR_CODES, code))) {
    throw new OffheapError("ERR_INVALID", `code must be one of ${Object.keys(ERROR_CODES).join(", ")}, got ${typeof code === "string" ? JSON.stringify(code) : typeof code}`);
  }
  return e instanceof OffheapError && (code === undefined || e.code === code);
}
