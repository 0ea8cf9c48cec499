/**
 * Codecs turn cache values into the bytes stored in the arena and back.
 */
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
      throw new OffheapError("ERR_INVALID", `codecs.bytes expects a Uint8Array value; got ${describe(value)}`);
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
      throw new OffheapError("ERR_INVALID", `codecs.string expects a string value; got ${describe(value)}`);
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
      throw new OffheapError("ERR_INVALID", `codecs.json cannot encode ${describe(value)}`);
    }
    return encoder.encode(text);
  },
  decode: (b) => JSON.parse(utf8(b, 0, b.length)),
};

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return (v as object).constructor?.name ?? "object";
  return typeof v;
}

/**
 * Built-in codecs: `bytes` (the default; `get` returns a copy), `string` (UTF-8) and
 * `json` (anything `JSON.stringify` accepts).
 */
export const codecs = {
  bytes,
  string,
  json: json as Codec<any>,
} as const;
