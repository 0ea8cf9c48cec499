/**
 * Codecs turn cache values into the bytes stored in the arena and back.
 */
import { bytesArg, describeValue, invalidArg } from "../primitives/arguments.ts";
import { OffheapError } from "../errors.ts";

/** How values of type `V` become bytes and back. */
export interface Codec<V> {
  /** A short name for error messages (`codec json must encode to a Uint8Array`). Optional: without one, messages say "the codec". */
  readonly name?: string;
  /** The bytes to store for `value`. The cache copies them; they may be reused after. */
  encode(value: V): Uint8Array;
  /**
   * The value stored in `bytes`. `bytes` is a view into the arena, valid only during the
   * call: copy what you keep.
   */
  decode(bytes: Uint8Array): V;
  /** Optional faster {@link decode} over `buf[start, end)` without making a view first. */
  decodeRange?(buf: Uint8Array, start: number, end: number): V;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * UTF-8 bytes to a string. Buffer's native `utf8Slice` (it takes any Uint8Array as `this`)
 * costs about two thirds of `TextDecoder.decode` for short values here, and unlike it keeps
 * a leading U+FEFF, so every string `encode` accepts comes back exactly.
 */
const utf8Slice = (Buffer.prototype as unknown as { utf8Slice?: (this: Uint8Array, start: number, end: number) => string }).utf8Slice;
const utf8 =
  typeof utf8Slice === "function"
    ? (buf: Uint8Array, start: number, end: number): string => utf8Slice.call(buf, start, end)
    : (buf: Uint8Array, start: number, end: number): string => decoder.decode(buf.subarray(start, end));

const bytes: Codec<Uint8Array> = {
  name: "bytes",
  encode(value) {
    if (!(value instanceof Uint8Array)) {
      throw new OffheapError("ERR_INVALID", `codecs.bytes expects a Uint8Array value; got ${describeValue(value)}`);
    }
    return value;
  },
  decode: (b) => b.slice(),
  decodeRange: (buf, start, end) => buf.slice(start, end),
};

const string: Codec<string> = {
  name: "string",
  encode(value) {
    if (typeof value !== "string") {
      throw new OffheapError("ERR_INVALID", `codecs.string expects a string value; got ${describeValue(value)}`);
    }
    return encoder.encode(value);
  },
  decode: (b) => utf8(b, 0, b.length),
  decodeRange: utf8,
};

const json: Codec<unknown> = {
  name: "json",
  encode(value) {
    const text = JSON.stringify(value);
    if (text === undefined) {
      throw new OffheapError("ERR_INVALID", `codecs.json: value must be something JSON.stringify encodes, got ${describeValue(value)}`);
    }
    return encoder.encode(text);
  },
  decode: (b) => JSON.parse(utf8(b, 0, b.length)),
};

/**
 * A built-in codec as it is handed out: its arguments checked before its own code runs,
 * and any other error it throws (JSON.stringify of a bigint or a cycle, JSON.parse of
 * bytes that are no JSON) turned into `ERR_INVALID` naming the argument.
 */
function checked<V>(c: Codec<V>): Codec<V> {
  const wrap = (name: string, e: unknown): OffheapError =>
    e instanceof OffheapError ? e : new OffheapError("ERR_INVALID", `codecs.${c.name}: ${name} cannot be ${name === "value" ? "encoded" : "decoded"}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  const { encode, decode, decodeRange } = c;
  const out: Codec<V> = {
    name: c.name,
    encode(value) {
      try {
        return encode(value);
      } catch (e) {
        throw wrap("value", e);
      }
    },
    decode(b) {
      bytesArg("bytes", b);
      try {
        return decode(b);
      } catch (e) {
        throw wrap("bytes", e);
      }
    },
  };
  if (decodeRange !== undefined) {
    out.decodeRange = (buf, start, end) => {
      if (!(buf instanceof Uint8Array) || typeof start !== "number" || typeof end !== "number" || (start >>> 0) !== start || (end >>> 0) !== end || start > end || end > buf.length) {
        rangeProblem(buf, start, end);
      }
      return decodeRange(buf, start, end);
    };
  }
  return Object.freeze(out);
}

/** Why `decodeRange(buf, start, end)` can't be: `ERR_INVALID` for a wrong type, `ERR_RANGE` for bounds outside `buf`. */
function rangeProblem(buf: unknown, start: unknown, end: unknown): never {
  bytesArg("buf", buf);
  for (const [name, v] of [["start", start], ["end", end]] as const) {
    if (typeof v !== "number" || !Number.isSafeInteger(v)) throw invalidArg(name, "an integer", v);
  }
  throw new OffheapError("ERR_RANGE", `start ${start} and end ${end} must satisfy 0 <= start <= end <= ${(buf as Uint8Array).length} (buf's length)`);
}

/**
 * Built-in codecs: `bytes` (the default; `get` returns a copy), `string` (UTF-8) and
 * `json` (anything `JSON.stringify` accepts). Each checks its arguments: `ERR_INVALID`
 * for a value it can't encode (a bigint or a cycle for `json`) or for bytes that are not
 * a Uint8Array (or not JSON), `ERR_RANGE` for a `decodeRange` outside the buffer.
 */
export const codecs = {
  bytes: checked(bytes),
  string: checked(string),
  json: checked(json) as Codec<any>,
} as const;
