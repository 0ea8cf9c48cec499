/**
 * Checks for the arguments of public calls. Each failure is `ERR_INVALID` with a message
 * that names the argument, says what was expected and what was given, so that no bad
 * input reaches the code below as a `TypeError`, a wrong value or a half-done call.
 */
import { OffheapError } from "../errors.ts";

/** What a value is, for messages: `a number (NaN)`, `an object (Map)`, `null`, `an array`. */
export function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "undefined";
  if (Array.isArray(v)) return "an array";
  switch (typeof v) {
    case "number":
      return `a number (${v})`;
    case "string":
      return v.length > 40 ? `a string of ${v.length} characters` : `the string ${JSON.stringify(v)}`;
    case "bigint":
      return `a bigint (${v}n)`;
    case "symbol":
      return `a symbol (${String(v)})`;
    case "object":
      return `an object (${(v as object).constructor?.name ?? "no prototype"})`;
    default:
      return `a ${typeof v}`;
  }
}

/**
 * The `ERR_INVALID` error every check here throws: `<name> must be <expected>, got <what>`.
 * Hot paths test inline (a `typeof` or `instanceof`) and call this only on failure.
 */
export function invalidArg(name: string, expected: string, got: unknown): OffheapError {
  return new OffheapError("ERR_INVALID", `${name} must be ${expected}, got ${describeValue(got)}`);
}

const invalid = invalidArg;

/** An options argument: `undefined` is `{}`; anything but a plain object is `ERR_INVALID`. */
export function optionsArg<T extends object>(name: string, v: T | undefined): T {
  if (v === undefined) return {} as T;
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw invalid(name, "an object", v);
  return v;
}

/** Bounds for {@link integerArg} and {@link numberArg}. */
export interface Range {
  min?: number;
  max?: number;
}

function range(r: Range): string {
  if (r.min !== undefined && r.max !== undefined) return ` from ${r.min} to ${r.max}`;
  if (r.min !== undefined) return r.min === 0 ? " >= 0" : ` >= ${r.min}`;
  if (r.max !== undefined) return ` <= ${r.max}`;
  return "";
}

/** A safe integer within `r`. */
export function integerArg(name: string, v: unknown, r: Range = {}): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || (r.min !== undefined && v < r.min) || (r.max !== undefined && v > r.max)) {
    throw invalid(name, `an integer${range(r)}`, v);
  }
  return v;
}

/** A finite number within `r`. */
export function numberArg(name: string, v: unknown, r: Range = {}): number {
  if (typeof v !== "number" || !Number.isFinite(v) || (r.min !== undefined && v < r.min) || (r.max !== undefined && v > r.max)) {
    throw invalid(name, `a finite number${range(r)}`, v);
  }
  return v;
}

/** `v`, or `fallback` when `v` is undefined, checked by `check`. */
export function optionalArg<T>(v: T | undefined, fallback: T, check: (v: unknown) => T): T {
  return v === undefined ? fallback : check(v);
}

/** A boolean. */
export function booleanArg(name: string, v: unknown): boolean {
  if (typeof v !== "boolean") throw invalid(name, "true or false", v);
  return v;
}

/** A boolean option: `fallback` when omitted. */
export function booleanOption(name: string, v: unknown, fallback = false): boolean {
  return v === undefined ? fallback : booleanArg(name, v);
}

/** An integer option within `r`: `undefined` when omitted. */
export function integerOption(name: string, v: unknown, r: Range = {}): number | undefined {
  return v === undefined ? undefined : integerArg(name, v, r);
}

/** A required object argument (not null, not an array): `ERR_INVALID` for anything else, `undefined` included. */
export function objectArg<T extends object>(name: string, v: T | undefined): T {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw invalid(name, "an object", v);
  return v;
}

/** A string; `nonEmpty` refuses `""`. NUL characters are refused (they end C strings). */
export function stringArg(name: string, v: unknown, nonEmpty = false): string {
  if (typeof v !== "string" || (nonEmpty && v.length === 0)) throw invalid(name, nonEmpty ? "a non-empty string" : "a string", v);
  if (v.includes("\0")) throw new OffheapError("ERR_INVALID", `${name} must not contain a NUL character`);
  return v;
}

/** A file-system path: a non-empty string without NUL. */
export function pathArg(name: string, v: unknown): string {
  return stringArg(name, v, true);
}

/** A URL string whose protocol is one of `protocols` (`"redis:"`, `"https:"`, …). */
export function urlArg(name: string, v: unknown, protocols: readonly string[]): string {
  stringArg(name, v, true);
  let url: URL | undefined;
  try {
    url = new URL(v as string);
  } catch {
    url = undefined;
  }
  if (url === undefined || !protocols.includes(url.protocol)) throw invalid(name, `a URL of ${protocols.map((p) => `${p}//`).join(", ")}`, v);
  return v as string;
}

/** One of `values`. */
export function oneOfArg<T extends string>(name: string, v: unknown, values: readonly T[]): T {
  if (typeof v !== "string" || !(values as readonly string[]).includes(v)) throw invalid(name, `one of ${values.map((x) => JSON.stringify(x)).join(", ")}`, v);
  return v as T;
}

/** A function. */
export function functionArg<F extends (...args: never[]) => unknown>(name: string, v: unknown): F {
  if (typeof v !== "function") throw invalid(name, "a function", v);
  return v as F;
}

/** A function option: `undefined` when omitted. */
export function functionOption<F extends (...args: never[]) => unknown>(name: string, v: unknown): F | undefined {
  return v === undefined ? undefined : functionArg<F>(name, v);
}

/** A `Request` (what a handler for `Bun.serve` is called with). */
export function requestArg(v: unknown, name = "req"): Request {
  if (!(v instanceof Request)) throw invalid(name, "a Request", v);
  return v;
}

/** An `AbortSignal` (or undefined). */
export function signalArg(name: string, v: unknown): AbortSignal | undefined {
  if (v === undefined) return undefined;
  if (!(v instanceof AbortSignal)) throw invalid(name, "an AbortSignal", v);
  return v;
}

/** What {@link dataArg} and {@link bytesArg} accept, for messages. */
export const DATA_EXPECTED = "a Uint8Array or a string";

/** A record's data: a `Uint8Array` or a string (returned as given; strings are not encoded here). */
export function dataArg(name: string, v: unknown): Uint8Array | string {
  if (typeof v !== "string" && !(v instanceof Uint8Array)) throw invalid(name, DATA_EXPECTED, v);
  return v;
}

/** A `Uint8Array` (a Buffer is one; other typed arrays, ArrayBuffers and plain arrays are not). */
export function bytesArg(name: string, v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw invalid(name, "a Uint8Array", v);
  return v;
}

/** Something `for…of` can walk (a string is one: an iterable of its characters). */
export function iterableArg<T>(name: string, v: unknown): Iterable<T> {
  if (v === null || v === undefined || typeof (v as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== "function") {
    throw invalid(name, "an iterable (an array, a Set, a generator…)", v);
  }
  return v as Iterable<T>;
}

/** The name of element `i` of the argument `name`, for messages: `items[3]`. */
export function elementName(name: string, i: number): string {
  return `${name}[${i}]`;
}
