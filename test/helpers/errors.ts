/**
 * Assertions about thrown `OffheapError`s, shared by every structure's tests.
 */
import { OffheapError, type ErrorCode } from "../../src/errors.ts";

/**
 * The `OffheapError` that `fn` throws. Fails the test when `fn` returns, and rethrows
 * anything that is not an `OffheapError` (a TypeError is a bug, not an error code).
 */
export function thrown(fn: () => unknown): OffheapError {
  try {
    fn();
  } catch (e) {
    if (e instanceof OffheapError) return e;
    throw e;
  }
  throw new Error("expected an OffheapError, nothing was thrown");
}

/** The code of the `OffheapError` that `fn` throws; see {@link thrown}. */
export function codeOf(fn: () => unknown): ErrorCode {
  return thrown(fn).code;
}

/** The code of the `OffheapError` that the promise from `fn` rejects with. */
export async function codeOfAsync(fn: () => Promise<unknown>): Promise<ErrorCode> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof OffheapError) return e.code;
    throw e;
  }
  throw new Error("expected an OffheapError, nothing was thrown");
}
