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

function expectedError(caught: unknown, code: ErrorCode): OffheapError {
  if (caught instanceof OffheapError && caught.code === code) return caught;
  const got = caught === undefined ? "nothing was thrown" : caught instanceof Error ? `${caught.name}${caught instanceof OffheapError ? ` ${caught.code}` : ""}: ${caught.message}` : String(caught);
  throw new Error(`expected an OffheapError ${code}, got ${got}`);
}

/**
 * Assert that `fn` throws an `OffheapError` with `code` (or, when it returns a promise,
 * that the promise rejects with one), and give the error back.
 */
export function expectCode(fn: () => Promise<unknown>, code: ErrorCode): Promise<OffheapError>;
export function expectCode(fn: () => unknown, code: ErrorCode): OffheapError;
export function expectCode(fn: () => unknown, code: ErrorCode): OffheapError | Promise<OffheapError> {
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    return expectedError(e, code);
  }
  if (result instanceof Promise) return result.then(() => expectedError(undefined, code), (e) => expectedError(e, code));
  return expectedError(undefined, code);
}
