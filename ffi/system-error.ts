/**
 * Turns a failed libc call into an `OffheapError` with code `ERR_SYSTEM`.
 */
import { OffheapError } from "../src/errors.ts";
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
