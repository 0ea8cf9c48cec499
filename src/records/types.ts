/**
 * Field types of a record schema (`t.f64`, `t.string(16)`, …) and the TypeScript types
 * they map to, so that `Infer<typeof S>` gives the record's shape without a code generator.
 */
import { integerArg } from "../primitives/arguments.ts";

/** The storage kind of a field. */
export type FieldKind =
  | "u8" | "u16" | "u32" | "i8" | "i16" | "i32" | "f32" | "f64"
  | "u64" | "i64" | "bool" | "string" | "bytes";

/**
 * A field type: how many bytes it takes in a record, how it aligns, and (as a phantom
 * type parameter) the JS value it reads as.
 */
export interface FieldType<K extends FieldKind = FieldKind, V = unknown> {
  /** Storage kind. */
  readonly kind: K;
  /** Bytes the field occupies in a record (length prefix included for strings and bytes). */
  readonly size: number;
  /** Natural alignment in bytes. */
  readonly align: number;
  /** For `string` and `bytes`: the most payload bytes the field holds; 0 otherwise. */
  readonly maxBytes: number;
  /** Bytes of the length prefix for `string` and `bytes` (1, 2 or 4); 0 otherwise. */
  readonly prefix: number;
  /** Canonical name, e.g. `"f64"` or `"string(16)"`; part of the schema hash. */
  readonly name: string;
  /** Phantom: the value type. Never set at run time. */
  readonly __value?: V;
}

/** The JS value a field type reads as. */
export type ValueOf<F> = F extends FieldType<FieldKind, infer V> ? V : never;

function scalar<K extends FieldKind, V>(kind: K, size: number): FieldType<K, V> {
  return Object.freeze({ kind, size, align: size, maxBytes: 0, prefix: 0, name: kind });
}

function sized<K extends "string" | "bytes", V>(kind: K, maxBytes: number): FieldType<K, V> {
  integerArg(`t.${kind}(maxBytes): maxBytes`, maxBytes, { min: 1, max: 0x3fff_ffff });
  // The length prefix is as small as the largest length allows, and aligns the field.
  const prefix = maxBytes <= 0xff ? 1 : maxBytes <= 0xffff ? 2 : 4;
  return Object.freeze({ kind, size: prefix + maxBytes, align: prefix, maxBytes, prefix, name: `${kind}(${maxBytes})` });
}

/**
 * The field types. Numbers: `u8 u16 u32 i8 i16 i32 f32 f64`; bigints: `u64 i64`;
 * `bool`; `string(maxBytes)` (UTF-8, at most `maxBytes` bytes); `bytes(maxBytes)`.
 *
 * @example
 * ```ts
 * const Tick = schema({ symbol: t.string(16), price: t.f64, ts: t.u64 }, { name: "Tick", version: 1 });
 * ```
 */
export const t = Object.freeze({
  u8: scalar<"u8", number>("u8", 1),
  u16: scalar<"u16", number>("u16", 2),
  u32: scalar<"u32", number>("u32", 4),
  i8: scalar<"i8", number>("i8", 1),
  i16: scalar<"i16", number>("i16", 2),
  i32: scalar<"i32", number>("i32", 4),
  f32: scalar<"f32", number>("f32", 4),
  f64: scalar<"f64", number>("f64", 8),
  u64: scalar<"u64", bigint>("u64", 8),
  i64: scalar<"i64", bigint>("i64", 8),
  bool: scalar<"bool", boolean>("bool", 1),
  /** A UTF-8 string of at most `maxBytes` bytes. */
  string: (maxBytes: number): FieldType<"string", string> => sized<"string", string>("string", maxBytes),
  /** A byte string of at most `maxBytes` bytes. */
  bytes: (maxBytes: number): FieldType<"bytes", Uint8Array> => sized<"bytes", Uint8Array>("bytes", maxBytes),
});

/** Parse a canonical type name (`"f64"`, `"string(16)"`) back into its field type. */
export function typeFromName(name: string): FieldType | undefined {
  const m = /^(string|bytes)\((\d+)\)$/.exec(name);
  if (m) return m[1] === "string" ? t.string(Number(m[2])) : t.bytes(Number(m[2]));
  const scalarType = (t as Record<string, unknown>)[name];
  return typeof scalarType === "object" ? (scalarType as FieldType) : undefined;
}
