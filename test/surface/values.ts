/**
 * The bad values the argument sweep tries, by what the argument should be. Each set holds
 * wrong types (null, undefined when required, booleans, bigints, symbols, objects,
 * arrays, functions), bad numbers (NaN, ±Infinity, floats, negatives, huge), strings
 * with NUL or empty where those can't be, plain arrays where a typed array belongs, and
 * non-iterables where an iterable does.
 */

/** A bad value, with the text the error message must contain when it is not the parameter's name. */
export class Bad {
  constructor(
    readonly value: unknown,
    readonly mention?: string,
    readonly label?: string,
  ) {}
}

/** Something tried at an argument position: a raw value or a {@link Bad}. */
export type Trial = unknown;

/** A value that must be refused with a message naming `mention` (a field, an option) instead of the parameter. */
export function naming(mention: string, value: unknown, label?: string): Bad {
  return new Bad(value, mention, label);
}

export const SYM = Symbol("bad");
export function aFunction(): void {}

/** Neither a number nor a string, null or undefined. */
const OTHER: readonly unknown[] = [true, 1n, SYM, {}, [], aFunction];

function withUndefined(required: boolean | undefined, values: readonly unknown[]): unknown[] {
  return required ? [undefined, ...values] : [...values];
}

/** Bad values for an integer argument in `[min, max]` (min defaults to 0). */
export function integer(o: { min?: number; max?: number; required?: boolean } = {}): unknown[] {
  const min = o.min ?? 0;
  const out: unknown[] = [null, "1", ...OTHER, NaN, Infinity, -Infinity, 1.5, 2 ** 53, 1e300];
  if (min > Number.MIN_SAFE_INTEGER) out.push(min - 1);
  if (o.max !== undefined && o.max < 2 ** 53) out.push(o.max + 1);
  if (min > -1) out.push(-1);
  return withUndefined(o.required, [...new Set(out)]);
}

/** Bad values for a finite number (milliseconds, a fraction) in `[min, max]`. */
export function finite(o: { min?: number; max?: number; required?: boolean } = {}): unknown[] {
  const min = o.min ?? 0;
  const out: unknown[] = [null, "1", ...OTHER, NaN, Infinity, -Infinity, min - 1];
  if (o.max !== undefined) out.push(o.max + 0.5);
  return withUndefined(o.required, out);
}

/** Bad values for a string argument. */
export function string(o: { nonEmpty?: boolean; noNul?: boolean; required?: boolean } = {}): unknown[] {
  const out: unknown[] = [null, 42, NaN, ...OTHER];
  if (o.nonEmpty) out.push("");
  if (o.noNul) out.push("a\0b");
  return withUndefined(o.required, out);
}

/** Bad values for a file-system path: a non-empty string without NUL. */
export function path(): unknown[] {
  return string({ nonEmpty: true, noNul: true, required: true });
}

/** Bad values for a boolean option. */
export function boolean(required = false): unknown[] {
  return withUndefined(required, [null, "true", 1, 0, NaN, 1n, SYM, {}, [], aFunction]);
}

/** Bad values for a function argument. */
export function func(required = true): unknown[] {
  return withUndefined(required, [null, 42, "f", true, 1n, SYM, {}, []]);
}

/** Bad values for an `AbortSignal` option. */
export function signal(): unknown[] {
  return [null, 42, "s", true, 1n, SYM, {}, [], aFunction];
}

/** Bad values for a string that must be one of a few. */
export function oneOf(required = false): unknown[] {
  return withUndefined(required, [null, 42, "nope", "", true, 1n, SYM, {}, [], aFunction]);
}

/** Bad values for an options object. */
export function options(required = false): unknown[] {
  return withUndefined(required, [null, 42, NaN, "x", true, 1n, SYM, [], aFunction]);
}

/** Bad values for a record: a Uint8Array or a string. */
export function data(): unknown[] {
  return [undefined, null, 42, NaN, true, 1n, SYM, {}, [1, 2, 3], aFunction, new Uint16Array(2), new ArrayBuffer(2), new DataView(new ArrayBuffer(2))];
}

/** Bad values for a Uint8Array argument (strings not accepted). */
export function bytes(required = true): unknown[] {
  return withUndefined(required, [null, 42, NaN, "x", true, 1n, SYM, {}, [0, 0, 0, 0], aFunction, new Uint16Array(4), new ArrayBuffer(8), new DataView(new ArrayBuffer(8))]);
}

/** Bad values for an iterable of records. */
export function items(): unknown[] {
  return [undefined, null, 42, NaN, true, 1n, SYM, {}, aFunction, [null], [42], [[1, 2]], [{}], [new Uint16Array(1)], ["ok", undefined], new Uint8Array(2)];
}

/** Bad values for a key of a store (any string is a key). */
export function key(): unknown[] {
  return [undefined, null, 42, NaN, true, 1n, SYM, {}, [], aFunction];
}

/** Bad values for an object argument that is required. */
export function object(): unknown[] {
  return options(true);
}

/** Bad values for an entry's metadata (`EntryMeta`: `cachedAt` required, the rest strings). */
export function entryMeta(): unknown[] {
  return [
    ...options(true),
    naming("cachedAt", {}, "{}"),
    naming("cachedAt", { cachedAt: "1" }),
    naming("cachedAt", { cachedAt: NaN }),
    naming("etag", { cachedAt: 1, etag: 5 }),
    naming("contentType", { cachedAt: 1, contentType: 5 }),
    naming("extra", { cachedAt: 1, extra: 5 }),
  ];
}

/** A short printable form of a value, for failure messages. */
export function show(v: unknown): string {
  if (v instanceof Bad) return v.label ?? show(v.value);
  if (typeof v === "symbol") return v.toString();
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "function") return "a function";
  if (typeof v === "string") return JSON.stringify(v.length > 30 ? `${v.slice(0, 30)}…(${v.length})` : v);
  if (v === undefined) return "undefined";
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return `${v.constructor.name}(${v.byteLength})`;
  if (v instanceof URL) return `URL(${v.href})`;
  try {
    const s = JSON.stringify(v, (_, x) => (typeof x === "bigint" ? `${x}n` : typeof x === "symbol" ? x.toString() : x));
    return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 60)}…` : s;
  } catch {
    return Object.prototype.toString.call(v);
  }
}
