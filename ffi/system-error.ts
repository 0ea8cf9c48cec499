/**
 * Turns a failed libc call into an `OffheapError` with code `ERR_SYSTEM`.
 */
import { OffheapError, isOffheapError } from "./errors.ts";
import { lastErrno } from "./libc.ts";
import { errnoName } from "./platform.ts";

/**
 * Build the error for the libc call that just failed. Reads errno first, before anything
 * else can overwrite it.
 */
export function systemError(syscall: string, path?: string, errno: number = lastErrno()): OffheapError {
  const name = errnoName(errno);
  const where = path === undefined ? "" : ` on ${path}`;
  return new OffheapError("ERR_SYSTEM", `${syscall}${where} failed: ${name} (errno ${errno})`, {
    errno: name,
    syscall,
    ...(path === undefined ? {} : { path }),
  });
}

/** The errno name a node:fs error carries in `code` (`"ENOENT"`, …), if any. */
export function errnoOfNodeError(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * The `ERR_SYSTEM` error for a failed node:fs call (directory listing, rename, stat: the
 * calls offheap leaves to node:fs), shaped like {@link systemError}'s.
 */
export function nodeSystemError(syscall: string, path: string, e: unknown): OffheapError {
  const errno = errnoOfNodeError(e);
  const reason = e instanceof Error ? e.message : String(e);
  return new OffheapError("ERR_SYSTEM", `${syscall} ${path} failed: ${reason}`, {
    ...(errno === undefined ? {} : { errno }),
    syscall,
    path,
    cause: e,
  });
}

/** True when `e` says a file does not exist: an `ERR_SYSTEM` from us or a node:fs error. */
export function isNotFound(e: unknown): boolean {
  return (isOffheapError(e) && e.errno === "ENOENT") || errnoOfNodeError(e) === "ENOENT";
}

/** Run a node:fs call; a failure becomes {@link nodeSystemError}'s `ERR_SYSTEM` (an `OffheapError` passes as it is). */
export function viaNodeFs<T>(syscall: string, path: string, call: () => T): T {
  try {
    return call();
  } catch (e) {
    throw isOffheapError(e) ? e : nodeSystemError(syscall, path, e);
  }
}
