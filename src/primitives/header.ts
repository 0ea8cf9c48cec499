/**
 * The file header every offheap format starts with, and the crash-safe counter block that
 * follows it where a format keeps counters in the file.
 *
 * Header layout (little-endian):
 * ```
 *  0  magic        8 bytes  "OFFHEAP\0"
 *  8  kind         4 bytes  ASCII tag, e.g. "RING"
 * 12  version      u32      format version of that kind
 * 16  fieldCount   u32      number of layout fields that follow
 * 20  reserved     u32      zero
 * 24  fields       u64 × fieldCount (safe integers; the kind fixes their names and order)
 *  …  crc          u32      CRC-32 of every byte before it
 * ```
 * Counter block ({@link CounterBlock}): two copies of `{ seq u64, values u64 × n, crc u32 }`;
 * a write goes to the copy that does not hold the newest values, so a crash mid-write
 * leaves the other copy intact. Readers take the valid copy with the higher `seq`.
 */
import { crc32, crc32Range } from "./crc.ts";
import { OffheapError } from "../errors.ts";

/** The eight bytes every offheap file starts with. */
export const MAGIC = new Uint8Array([0x4f, 0x46, 0x46, 0x48, 0x45, 0x41, 0x50, 0x00]); // "OFFHEAP\0"

const FIXED_BYTES = 24;
const MAX_FIELDS = 64;

// Until every importer names src/primitives/crc.ts itself.

/** Read a u64 stored as two little-endian u32 halves, as a number (exact below 2^53). */
export function getU64(view: DataView, offset: number): number {
  return view.getUint32(offset, true) + view.getUint32(offset + 4, true) * 0x1_0000_0000;
}

/** Store a non-negative safe integer as a little-endian u64. */
export function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, true);
  view.setUint32(offset + 4, Math.floor(value / 0x1_0000_0000), true);
}

/** A format's header: its kind tag, version and the names of its layout fields. */
export interface HeaderSpec<F extends string> {
  /** Four ASCII characters naming the kind, e.g. `"RING"`. */
  readonly kind: string;
  /** A human name for messages, e.g. `"ring buffer"`. */
  readonly name: string;
  /** Format version written by this code and the only one it reads. */
  readonly version: number;
  /** Layout fields, in stored order. */
  readonly fields: readonly F[];
}

/** The decoded header of any offheap file, whatever its kind. */
export interface AnyHeader {
  kind: string;
  version: number;
  fields: number[];
}

/** Byte length of the header of `spec`. */
export function headerBytes(spec: HeaderSpec<string>): number {
  return FIXED_BYTES + spec.fields.length * 8 + 4;
}

/** Encode a header with the given layout values. */
export function encodeHeader<F extends string>(spec: HeaderSpec<F>, values: Readonly<Record<F, number>>): Uint8Array {
  if (spec.kind.length !== 4) throw new Error(`header kind must be 4 ASCII characters, got ${JSON.stringify(spec.kind)}`);
  const out = new Uint8Array(headerBytes(spec));
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  for (let i = 0; i < 4; i++) out[8 + i] = spec.kind.charCodeAt(i);
  view.setUint32(12, spec.version, true);
  view.setUint32(16, spec.fields.length, true);
  spec.fields.forEach((field, i) => {
    const value = values[field];
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new OffheapError("ERR_INVALID", `header field ${field} must be a non-negative integer, got ${value}`);
    }
    setU64(view, FIXED_BYTES + i * 8, value);
  });
  const crcAt = out.length - 4;
  view.setUint32(crcAt, crc32(out.subarray(0, crcAt)), true);
  return out;
}

/**
 * Decode the header at the start of `bytes` without knowing its kind.
 * Throws `ERR_FORMAT` when the bytes are not an offheap header, `ERR_CORRUPT` when they
 * start like one but are cut short or fail their CRC.
 */
export function decodeAnyHeader(bytes: Uint8Array, path: string): AnyHeader {
  const where = { path };
  if (bytes.length > 0 && bytes.length < MAGIC.length && bytes.every((b, i) => MAGIC[i] === b)) {
    throw new OffheapError("ERR_CORRUPT", `${path}: cut short at ${bytes.length} bytes, inside the header's magic`, where);
  }
  if (bytes.length < MAGIC.length || !MAGIC.every((b, i) => bytes[i] === b)) {
    const found = bytes.length === 0 ? "an empty file" : `bytes ${hex(bytes.subarray(0, 8))}`;
    throw new OffheapError("ERR_FORMAT", `${path} is not an offheap file: expected magic "OFFHEAP\\0", found ${found}`, where);
  }
  if (bytes.length < FIXED_BYTES + 4) {
    throw new OffheapError("ERR_CORRUPT", `${path}: header cut short at ${bytes.length} bytes`, where);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(16, true);
  const crcAt = FIXED_BYTES + count * 8;
  if (count > MAX_FIELDS || crcAt + 4 > bytes.length) {
    throw new OffheapError("ERR_CORRUPT", `${path}: header claims ${count} fields, more than ${bytes.length} bytes can hold`, where);
  }
  const stored = view.getUint32(crcAt, true);
  const actual = crc32(bytes.subarray(0, crcAt));
  if (stored !== actual) {
    throw new OffheapError(
      "ERR_CORRUPT",
      `${path}: header checksum mismatch (stored ${hex32(stored)}, computed ${hex32(actual)})`,
      where,
    );
  }
  const fields: number[] = [];
  for (let i = 0; i < count; i++) fields.push(getU64(view, FIXED_BYTES + i * 8));
  return { kind: String.fromCharCode(...bytes.subarray(8, 12)), version: view.getUint32(12, true), fields };
}

/**
 * Decode and check a header of the kind `spec` describes. Throws `ERR_FORMAT` for another
 * kind or version (or not an offheap file), `ERR_CORRUPT` for a damaged header.
 */
export function decodeHeader<F extends string>(spec: HeaderSpec<F>, bytes: Uint8Array, path: string): Record<F, number> {
  const header = decodeAnyHeader(bytes, path);
  if (header.kind !== spec.kind) {
    const found = KIND_NAMES[header.kind] ?? `kind ${JSON.stringify(header.kind)}`;
    throw new OffheapError("ERR_FORMAT", `${path} is a ${found} file, not a ${spec.name}`, { path });
  }
  if (header.version !== spec.version || header.fields.length !== spec.fields.length) {
    throw new OffheapError(
      "ERR_FORMAT",
      `${path} is a ${spec.name} of format version ${header.version}; this offheap reads version ${spec.version}`,
      { path },
    );
  }
  const out = {} as Record<F, number>;
  spec.fields.forEach((field, i) => {
    out[field] = header.fields[i]!;
  });
  return out;
}

/** Where a header can be read from: an open file (ffi/'s `File` fits). */
export interface HeaderSource {
  readonly path: string;
  read(target: Uint8Array, offset: number): number;
}

/** Read the header at the start of `file` and check it as {@link decodeHeader} does. */
export function readHeader<F extends string>(spec: HeaderSpec<F>, file: HeaderSource): Record<F, number> {
  const bytes = new Uint8Array(headerBytes(spec));
  return decodeHeader(spec, bytes.subarray(0, file.read(bytes, 0)), file.path);
}

const KIND_NAMES: Record<string, string> = {};

/** Register a kind's human name so that messages about foreign files can name it. */
export function registerKind(spec: HeaderSpec<string>): void {
  KIND_NAMES[spec.kind] = spec.name;
}

/**
 * Compare options a caller passed with the ones stored in a file. Throws `ERR_MISMATCH`
 * naming every difference; options the caller left out are taken from the file.
 */
export function assertSameOptions<F extends string>(
  path: string,
  what: string,
  stored: Readonly<Record<F, number | string>>,
  given: Readonly<Partial<Record<F, number | string | undefined>>>,
): void {
  const diffs: string[] = [];
  for (const key of Object.keys(given) as F[]) {
    const want = given[key];
    if (want !== undefined && key in stored && stored[key] !== want) diffs.push(`${key}: file has ${stored[key]}, given ${want}`);
  }
  if (diffs.length > 0) {
    throw new OffheapError(
      "ERR_MISMATCH",
      `${path}: ${what} was created with other options (${diffs.join("; ")}); omit them to use the file's, or use another path`,
      { path },
    );
  }
}

/** The values held in a {@link CounterBlock}, and the sequence number of the copy they came from. */
export interface CounterSnapshot {
  seq: number;
  values: number[];
}

/**
 * Counters (heads, counts) updated in place so that a crash leaves either the old or the
 * new values, never a mix: two copies with a sequence number and a CRC each.
 * Works on any byte array: a mapping, or a buffer the caller then writes with pwrite.
 */
export class CounterBlock {
  /** Where the block starts in the byte array. */
  readonly offset: number;
  /** How many u64 counters each copy holds. */
  readonly count: number;
  /** Bytes of one copy (8-byte aligned). */
  readonly copyBytes: number;

  constructor(offset: number, count: number) {
    this.offset = offset;
    this.count = count;
    this.copyBytes = Math.ceil((8 + count * 8 + 4) / 8) * 8;
  }

  /** Bytes of both copies. */
  get size(): number {
    return this.copyBytes * 2;
  }

  /** Byte range `[start, end)` of copy `index` (0 or 1) within the byte array. */
  copyRange(index: 0 | 1): [number, number] {
    const start = this.offset + index * this.copyBytes;
    return [start, start + this.copyBytes];
  }

  /**
   * The newest valid copy, or `undefined` when neither copy was ever written (all zeros).
   * Throws `ERR_CORRUPT` when both copies were written but neither passes its CRC.
   */
  read(bytes: Uint8Array, path: string): CounterSnapshot | undefined {
    // Plain loops, no closures: queues read their floors under the lock on every removal.
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const a = this.#readCopy(bytes, view, 0);
    const b = this.#readCopy(bytes, view, 1);
    if (a === "bad" && b === "bad") {
      throw new OffheapError("ERR_CORRUPT", `${path}: both copies of the counters fail their checksum`, { path });
    }
    if (typeof a !== "object") return typeof b === "object" ? b : undefined;
    if (typeof b !== "object") return a;
    return b.seq > a.seq ? b : a;
  }

  /**
   * The higher of the two copies' sequence numbers, unchecked: a cheap test of whether
   * anyone wrote the block since a snapshot this caller read or wrote (every write raises it).
   */
  newestSeq(view: DataView): number {
    return Math.max(getU64(view, this.offset), getU64(view, this.offset + this.copyBytes));
  }

  /**
   * Write `values` with sequence `seq` into copy `seq % 2` and return which copy was
   * written, so a caller using pwrite can write just that range. Give `seq` as one more
   * than the sequence of the snapshot last read or written. `view` (over the same bytes)
   * saves making one per call, for callers that write often.
   */
  write(bytes: Uint8Array, seq: number, values: readonly number[], view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)): 0 | 1 {
    if (values.length !== this.count) throw new Error(`counter block holds ${this.count} values, got ${values.length}`);
    const index = (seq % 2) as 0 | 1;
    const start = this.offset + index * this.copyBytes;
    setU64(view, start, seq);
    for (let i = 0; i < values.length; i++) setU64(view, start + 8 + i * 8, values[i]!);
    const crcAt = start + 8 + this.count * 8;
    view.setUint32(crcAt, crc32Range(bytes, start, crcAt), true);
    return index;
  }

  #readCopy(bytes: Uint8Array, view: DataView, index: 0 | 1): CounterSnapshot | "empty" | "bad" {
    const start = this.offset + index * this.copyBytes;
    const end = start + this.copyBytes;
    if (end > bytes.length) return "bad";
    let zero = true;
    for (let i = start; i < end; i++) {
      if (bytes[i] !== 0) {
        zero = false;
        break;
      }
    }
    if (zero) return "empty";
    const crcAt = start + 8 + this.count * 8;
    if (view.getUint32(crcAt, true) !== crc32Range(bytes, start, crcAt)) return "bad";
    const values: number[] = [];
    for (let i = 0; i < this.count; i++) values.push(getU64(view, start + 8 + i * 8));
    return { seq: getU64(view, start), values };
  }
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
}
