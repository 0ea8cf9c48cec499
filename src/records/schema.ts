/**
 * `schema()`: names and types of a record's fields, their byte layout, and the hash that
 * the file header stores so that a store is never opened with a schema it was not made with.
 *
 * Layout: a record starts with an 8-byte header — its sequence word (the seqlock) and its
 * CRC word (see {@link CRC_OFFSET}) — then the fields in declaration order, each at the next offset that is a multiple of its alignment; the
 * record is padded to a multiple of its largest alignment (at least 4), so every field of
 * every record is naturally aligned and a read is one typed-array access.
 */
import { describeValue, integerArg, objectArg, stringArg } from "../primitives/arguments.ts";
import { OffheapError } from "../errors.ts";
import { crc32 } from "../primitives/crc.ts";
import type { FieldType, ValueOf } from "./types.ts";

/** A schema's fields: name -> type. */
export type Fields = Record<string, FieldType>;

/** Where one field sits in a record. */
export interface FieldLayout {
  /** Field name. */
  readonly name: string;
  /** Field type. */
  readonly type: FieldType;
  /** Byte offset from the start of the record. */
  readonly offset: number;
}

/** Bytes of the record header (sequence word, CRC word) at the start of every record. */
export const RECORD_HEADER_BYTES = 8;
/**
 * Byte offset in a record of its CRC word: CRC-32 of the bytes after the header with the
 * top bit forced to 1 (so a valid word is never 0), or 0 when the CRC is stale — a raw
 * field store through a live view zeroes it, and `sync` or the next writable open
 * recomputes it. Keeping "stale" inside the CRC word costs a live-view write one store.
 */
export const CRC_OFFSET = 4;

/** A record schema, made by {@link schema}. */
export interface Schema<F extends Fields = Fields> {
  /** Human name (shown by inspect; not part of the identity check). */
  readonly name: string;
  /** Schema version; a file made with another version is `ERR_MISMATCH`. */
  readonly version: number;
  /** The fields as given. */
  readonly fields: F;
  /** The fields in declaration order with their offsets. */
  readonly layout: readonly FieldLayout[];
  /** Bytes per record, sequence word and padding included. */
  readonly recordSize: number;
  /** CRC-32 of {@link identity}: covers field names, types, sizes, offsets, order and the record size. */
  readonly hash: number;
  /** Canonical JSON of the layout that {@link hash} covers. */
  readonly identity: string;
}

/** The record type of a schema: `type Tick = Infer<typeof Tick>`. */
export type Infer<S> = S extends Schema<infer F> ? { -readonly [K in keyof F]: ValueOf<F[K]> } : never;

/** Options of {@link schema}. */
export interface SchemaOptions {
  /** A name for messages and inspect output. */
  name: string;
  /** Version of the schema; bump it when the meaning of the fields changes. */
  version: number;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const RESERVED = new Set(["index", "constructor", "__proto__", "prototype", "toJSON"]);

/**
 * Describe a record type. Field order is part of the layout: reordering fields makes a
 * different schema.
 *
 * @example
 * ```ts
 * const Tick = schema({ symbol: t.string(16), price: t.f64, ts: t.u64 }, { name: "Tick", version: 1 });
 * type Tick = Infer<typeof Tick>;   // { symbol: string; price: number; ts: bigint }
 * ```
 * @throws `ERR_INVALID` when `fields` or `options` is not an object, `options.name` not a
 * string or `options.version` not an integer from 0 to 2^32-1, a field name is not an
 * identifier (or is reserved) or a field's type is not one of `t`; `ERR_TOO_LARGE` for a
 * record over 2 GiB.
 */
export function schema<F extends Fields>(fields: F, options: SchemaOptions): Schema<F> {
  objectArg("fields", fields);
  objectArg("options", options);
  const name = stringArg("name", options.name);
  const version = integerArg("version", options.version, { min: 0, max: 0xffff_ffff });
  const names = Object.keys(fields);
  if (names.length === 0) throw new OffheapError("ERR_INVALID", `schema ${name} has no fields`);
  const layout: FieldLayout[] = [];
  let offset = RECORD_HEADER_BYTES;
  let maxAlign = 4;
  for (const field of names) {
    if (!IDENTIFIER.test(field) || RESERVED.has(field)) {
      throw new OffheapError(
        "ERR_INVALID",
        `schema ${name}: field name ${JSON.stringify(field)} must be a JS identifier and not one of ${[...RESERVED].join(", ")}`,
      );
    }
    const type = fields[field];
    if (typeof type !== "object" || type === null || typeof type.kind !== "string") {
      throw new OffheapError("ERR_INVALID", `schema ${name}: field ${field} needs a type from t, got ${describeValue(type)}`);
    }
    offset = alignUp(offset, type.align);
    layout.push(Object.freeze({ name: field, type, offset }));
    offset += type.size;
    maxAlign = Math.max(maxAlign, type.align);
  }
  const recordSize = alignUp(offset, maxAlign);
  if (recordSize > 0x7fff_ffff) throw new OffheapError("ERR_TOO_LARGE", `schema ${name}: a record of ${recordSize} bytes is too large`);
  const identity = identityOf(recordSize, layout.map((f) => [f.name, f.type.name, f.type.size, f.offset] as const));
  return Object.freeze({
    name,
    version,
    fields,
    layout: Object.freeze(layout),
    recordSize,
    identity,
    hash: crc32(new TextEncoder().encode(identity)),
  });
}

/** A stored layout entry: name, type name, size, offset. */
export type StoredField = readonly [string, string, number, number];

/** Canonical JSON of a layout (what the schema hash covers). */
export function identityOf(recordSize: number, fields: readonly StoredField[]): string {
  return JSON.stringify({ recordSize, fields });
}

/** Round `n` up to a multiple of `to`. */
export function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
