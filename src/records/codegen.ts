/**
 * Accessors compiled once per schema with `new Function`: a field read is one typed-array
 * access at a constant offset, and the snapshot read, write, validation and the live view
 * class are straight-line code for exactly the schema's fields.
 *
 * Generated code sees `m` (the store's {@link Core}: typed arrays over the mapping) and
 * `h` (the helpers below); it never sees a pointer, only byte offsets inside the mapping.
 */
import { describeValue, invalidArg } from "../primitives/arguments.ts";
import { OffheapError } from "../errors.ts";
import { CRC_STALE } from "./crc.ts";
import type { Core } from "./core.ts";
import { READ_BARRIER, barrierHelpers } from "./fence.ts";
import type { Ops } from "./ops.ts";
import type { FieldLayout, Schema } from "./schema.ts";

/** A live view class: `new View(core, offset, index)`. */
export type ViewClass = new (m: Core, o: number, i: number) => Record<string, unknown> & { index: number };

interface Kit {
  makeOps: (m: Core) => Ops;
  View: ViewClass;
  ReadonlyView: ViewClass;
}

const kits = new WeakMap<Schema, Kit>();

/** The compiled accessors of `schema` (compiled on first use, then cached). */
export function kitFor(schema: Schema): Kit {
  let kit = kits.get(schema);
  if (kit === undefined) {
    kit = compile(schema);
    kits.set(schema, kit);
  }
  return kit;
}

const U64_MAX = (1n << 64n) - 1n;

/** Helpers the generated code calls on its slower paths. */
const helpers = {
  ...barrierHelpers,
  str(m: Core, at: number, prefix: number, max: number): string {
    let len = prefix === 1 ? m.u8[at]! : prefix === 2 ? m.u16[at >>> 1]! : m.u32[at >>> 2]!;
    // A torn read may see any length: never decode past the field.
    if (len > max) len = max;
    return len === 0 ? "" : m.buf.toString("utf8", at + prefix, at + prefix + len);
  },
  bytes(m: Core, at: number, prefix: number, max: number): Uint8Array {
    let len = prefix === 1 ? m.u8[at]! : prefix === 2 ? m.u16[at >>> 1]! : m.u32[at >>> 2]!;
    if (len > max) len = max;
    return m.u8.slice(at + prefix, at + prefix + len);
  },
  wstr(m: Core, at: number, prefix: number, max: number, x: string): void {
    const n = x.length === 0 ? 0 : m.buf.write(x, at + prefix, max, "utf8");
    helpers.wlen(m, at, prefix, n);
  },
  wbytes(m: Core, at: number, prefix: number, x: Uint8Array): void {
    m.u8.set(x, at + prefix);
    helpers.wlen(m, at, prefix, x.length);
  },
  wlen(m: Core, at: number, prefix: number, n: number): void {
    if (prefix === 1) m.u8[at] = n;
    else if (prefix === 2) m.u16[at >>> 1] = n;
    else m.u32[at >>> 2] = n;
  },
  strFits(x: string, max: number): boolean {
    return x.length * 3 <= max || Buffer.byteLength(x, "utf8") <= max;
  },
  u64ok(x: bigint): boolean {
    return x >= 0n && x <= U64_MAX;
  },
  i64ok(x: bigint): boolean {
    return BigInt.asIntN(64, x) === x;
  },
  bad(field: string, type: string, x: unknown): never {
    throw new OffheapError("ERR_INVALID", `field ${field} is ${type}: expected a value of that type and range, got ${describeValue(x)}`);
  },
  /** `values` has a key that is no field (a typo must not be dropped silently). */
  unknownField(m: Core, v: object, fields: readonly string[]): void {
    for (const k of Object.keys(v)) {
      if (!fields.includes(k)) throw new OffheapError("ERR_INVALID", `values has an unknown field ${JSON.stringify(k)}: the schema's fields are ${fields.join(", ")}`, { path: m.path });
    }
  },
  notTarget(t: unknown): never {
    throw invalidArg("target", "an object to fill with the record's fields", t);
  },
  tooLarge(m: Core, field: string, type: string, x: string | Uint8Array): never {
    const n = typeof x === "string" ? Buffer.byteLength(x, "utf8") : x.length;
    throw new OffheapError("ERR_TOO_LARGE", `field ${field} is ${type}: the value has ${n} bytes`, { path: m.path });
  },
  notObject(x: unknown): never {
    throw invalidArg("values", "an object of fields", x);
  },
  busy(m: Core, o: number): never {
    throw new OffheapError(
      "ERR_LOCKED",
      `${m.path}: record ${(o - m.base) / m.rs} is being written by another writer (sequence word ${m.i32[o >>> 2]} is odd)`,
      { path: m.path },
    );
  },
  readonly(m: Core, field: string): never {
    throw new OffheapError("ERR_READONLY", `cannot set ${field}: record store ${m.path} was opened readonly`, { path: m.path });
  },
  closed(m: Core): never {
    throw m.closedError();
  },
  corrupt(m: Core, o: number, stored: number, computed: number): never {
    throw new OffheapError(
      "ERR_CORRUPT",
      `${m.path}: record ${(o - m.base) / m.rs} fails its CRC (stored ${(stored >>> 0).toString(16)}, computed ${(computed >>> 0).toString(16)}): the file was damaged`,
      { path: m.path },
    );
  },
};

function shiftOf(kind: string): number {
  return kind === "u16" || kind === "i16" ? 1 : kind === "u32" || kind === "i32" || kind === "f32" ? 2 : kind === "f64" ? 3 : 0;
}

/** Expression reading field `f` of the record at byte offset `o`. */
function readExpr(f: FieldLayout): string {
  const k = f.type.kind;
  const at = `(o + ${f.offset})`;
  switch (k) {
    case "u8": case "i8":
      return `m.${k}[${at}]`;
    case "u16": case "i16": case "u32": case "i32": case "f32": case "f64":
      return `m.${k}[${at} >>> ${shiftOf(k)}]`;
    case "bool":
      return `(m.u8[${at}] !== 0)`;
    case "u64":
      return `m.dv.getBigUint64(${at}, true)`;
    case "i64":
      return `m.dv.getBigInt64(${at}, true)`;
    case "string":
      return `h.str(m, ${at}, ${f.type.prefix}, ${f.type.maxBytes})`;
    case "bytes":
      return `h.bytes(m, ${at}, ${f.type.prefix}, ${f.type.maxBytes})`;
  }
}

/** Statement writing `x` (already validated) into field `f` of the record at `o`. */
function writeStmt(f: FieldLayout): string {
  const k = f.type.kind;
  const at = `(o + ${f.offset})`;
  switch (k) {
    case "u8": case "i8":
      return `m.${k}[${at}] = x;`;
    case "u16": case "i16": case "u32": case "i32": case "f32": case "f64":
      return `m.${k}[${at} >>> ${shiftOf(k)}] = x;`;
    case "bool":
      return `m.u8[${at}] = x ? 1 : 0;`;
    case "u64":
      return `m.dv.setBigUint64(${at}, x, true);`;
    case "i64":
      return `m.dv.setBigInt64(${at}, x, true);`;
    case "string":
      return `h.wstr(m, ${at}, ${f.type.prefix}, ${f.type.maxBytes}, x);`;
    case "bytes":
      return `h.wbytes(m, ${at}, ${f.type.prefix}, x);`;
  }
}

/** Statement resetting field `f` of the record at `o` to its empty value. */
function zeroStmt(f: FieldLayout): string {
  const k = f.type.kind;
  const at = `(o + ${f.offset})`;
  switch (k) {
    case "u8": case "i8": case "bool":
      return `m.u8[${at}] = 0;`;
    case "u16": case "i16": case "u32": case "i32": case "f32": case "f64":
      return `m.${k}[${at} >>> ${shiftOf(k)}] = 0;`;
    case "u64": case "i64":
      return `m.u32[${at} >>> 2] = 0; m.u32[(${at} >>> 2) + 1] = 0;`;
    case "string": case "bytes":
      // Only the length prefix matters: bytes past it are never read.
      return `h.wlen(m, ${at}, ${f.type.prefix}, 0);`;
  }
}

/** Statement throwing unless `x` fits field `f` (`x` is not undefined). */
function checkStmt(f: FieldLayout): string {
  const k = f.type.kind;
  const name = JSON.stringify(f.name);
  const type = JSON.stringify(f.type.name);
  const bad = `h.bad(${name}, ${type}, x)`;
  // `typeof` first: a bigint or a symbol in `&` or `<<` is a TypeError, not a `false`.
  const cond: Record<string, string> = {
    u8: `typeof x === "number" && (x & 0xff) === x`,
    i8: `typeof x === "number" && ((x << 24) >> 24) === x`,
    u16: `typeof x === "number" && (x & 0xffff) === x`,
    i16: `typeof x === "number" && ((x << 16) >> 16) === x`,
    u32: `typeof x === "number" && (x >>> 0) === x`,
    i32: `typeof x === "number" && (x | 0) === x`,
    f32: `typeof x === "number"`,
    f64: `typeof x === "number"`,
    bool: `typeof x === "boolean"`,
    u64: `typeof x === "bigint" && h.u64ok(x)`,
    i64: `typeof x === "bigint" && h.i64ok(x)`,
  };
  if (k === "string") {
    return `if (typeof x !== "string") ${bad}; if (!h.strFits(x, ${f.type.maxBytes})) h.tooLarge(m, ${name}, ${type}, x);`;
  }
  if (k === "bytes") {
    return `if (!(x instanceof Uint8Array)) ${bad}; if (x.length > ${f.type.maxBytes}) h.tooLarge(m, ${name}, ${type}, x);`;
  }
  return `if (!(${cond[k]})) ${bad};`;
}

/**
 * For a single-word field read through a live view: the typed array (a Core field name),
 * the element index expression, and how the element converts to and from the value.
 */
function direct(f: FieldLayout): { arr: string; index: string; asValue: (e: string) => string; fromValue: string } {
  const k = f.type.kind;
  if (k === "bool") return { arr: "u8", index: `(this.#o + ${f.offset})`, asValue: (e) => `${e} !== 0`, fromValue: "x ? 1 : 0" };
  const shift = shiftOf(k);
  return {
    arr: k,
    index: shift === 0 ? `(this.#o + ${f.offset})` : `((this.#o + ${f.offset}) >>> ${shift})`,
    asValue: (e) => e,
    fromValue: "x",
  };
}

/** Whether a single-field access of this kind needs the seqlock to be untorn. */
function multiWord(f: FieldLayout): boolean {
  const k = f.type.kind;
  return k === "string" || k === "bytes" || k === "u64" || k === "i64";
}

const SEQ_WRITE_BEGIN = `
  const w = o >>> 2;
  const s = Atomics.load(m.i32, w);
  if ((s & 1) !== 0 || Atomics.compareExchange(m.i32, w, s, (s + 1) | 0) !== s) h.busy(m, o);
  try {`;
const SEQ_WRITE_END = `
  } finally { Atomics.store(m.i32, w, (s + 2) | 0); }`;
/** Statement (under the seqlock, `w` its word) storing the record's new CRC. */
const CRC_STORE = "m.i32[w + 1] = m.crc(m.u8, m.u32, o);";

function compile(schema: Schema): Kit {
  const fields = schema.layout;
  const key = (f: FieldLayout) => JSON.stringify(f.name);
  const locals = fields.map((_, i) => `v${i}`);

  // Plain reads of the sequence word with a read barrier between them and the field
  // reads (see fence.ts: Atomics.load would fault on a readonly mapping).
  // The checked variant computes the CRC inside the same window, and reads the stored
  // word after it: a live-view store marks the word stale before it changes a field, so a
  // valid word read last means no such store touched the bytes the CRC was computed on.
  const rs = schema.recordSize;
  const snapshotLoop = (finish: string, checked: boolean) => `
  const o = typeof i === "number" && (i >>> 0) === i && i < m.count ? m.base + i * ${rs} : m.offsetOf(i);
  const w = o >>> 2;
  for (let n = 0; ; n++) {
    const s = m.i32[w];
    if ((s & 1) === 0) {
      ${READ_BARRIER};
${fields.map((f, i) => `      const ${locals[i]} = ${readExpr(f)};`).join("\n")}${checked ? `
      const c = m.crc(m.u8, m.u32, o);
      ${READ_BARRIER};
      const stored = m.i32[w + 1];` : ""}
      ${READ_BARRIER};
      if (m.i32[w] === s) {${checked ? ` if (stored !== ${CRC_STALE} && stored !== c) h.corrupt(m, o, stored, c);` : ""} ${finish} }
    }
    m.spin(n, o);
  }`;
  const snapshot = `return { ${fields.map((f, i) => `${key(f)}: ${locals[i]}`).join(", ")} };`;
  const into = `${fields.map((f, i) => `t[${key(f)}] = ${locals[i]};`).join(" ")} return t;`;

  const opsSource = `
const F = h.fence, B = h.barrier;
const NAMES = Object.freeze(${JSON.stringify(fields.map((f) => f.name))});
return function makeOps(m) {
  function get(i) {${snapshotLoop(snapshot, false)}
  }
  function getInto(i, t) {
  if (typeof t !== "object" || t === null || Array.isArray(t)) h.notTarget(t);${snapshotLoop(into, false)}
  }
  function getChecked(i) {${snapshotLoop(snapshot, true)}
  }
  function getIntoChecked(i, t) {
  if (typeof t !== "object" || t === null || Array.isArray(t)) h.notTarget(t);${snapshotLoop(into, true)}
  }
  function validate(v) {
    if (v === undefined) return;
    if (typeof v !== "object" || v === null || Array.isArray(v)) h.notObject(v);
    let x, n = 0;
${fields.map((f) => `    x = v[${key(f)}]; if (x !== undefined) { ${checkStmt(f)} n++; }`).join("\n")}
    // Keys that are no field: counted without allocating; looked for only when there are more keys than fields given.
    let keys = 0;
    for (const k in v) keys++;
    if (keys !== n) h.unknownField(m, v, NAMES);
  }
  function put(o, v) {
    let x;
${fields.map((f) => `    x = v[${key(f)}]; if (x !== undefined) { ${writeStmt(f)} }`).join("\n")}
  }
  function write(o, v) {
    if (v === undefined) return;${SEQ_WRITE_BEGIN}
    put(o, v);
    ${CRC_STORE}${SEQ_WRITE_END}
  }
  function fill(o, v) {
    if (v === undefined) m.u8.fill(0, o + 4, o + ${rs});
    else {
      let x;
${fields.map((f) => `      x = v[${key(f)}]; if (x !== undefined) { ${writeStmt(f)} } else { ${zeroStmt(f)} }`).join("\n")}
    }
    m.i32[(o >>> 2) + 1] = m.crc(m.u8, m.u32, o);
  }
  return { get, getInto, getChecked, getIntoChecked, validate, write, fill };
};`;
  const makeOps = new Function("h", opsSource)(helpers) as (m: Core) => Ops;

  // Writable views also keep i32, for the CRC word a raw store marks stale.
  const arraysOf = (readonly: boolean) => [...new Set([...fields.filter((f) => !multiWord(f)).map((f) => direct(f).arr), ...(readonly ? [] : ["i32"])])];
  const viewSource = (readonly: boolean) => {
    const arrays = arraysOf(readonly);
    const members = fields.map((f) => {
      const name = key(f);
      let getter: string;
      if (multiWord(f)) {
        getter = `get [${name}]() {
    const m = this.#m, o = this.#o;
    if (!m.open) h.closed(m);
    const w = o >>> 2;
    for (let n = 0; ; n++) {
      const s = m.i32[w];
      if ((s & 1) === 0) { ${READ_BARRIER}; const x = ${readExpr(f)}; ${READ_BARRIER}; if (m.i32[w] === s) return x; }
      m.spin(n, o);
    }
  }`;
      } else {
        // The view keeps the typed array itself; growth or close detaches it (length 0),
        // which sends the read down the slow path to take the current one.
        const { arr, index, asValue } = direct(f);
        getter = `get [${name}]() {
    const a = this.#${arr}, j = ${index};
    if (j < a.length) return ${asValue("a[j]")};
    this.#bind();
    const b = this.#${arr};
    if (j < b.length) return ${asValue("b[j]")};
    h.closed(this.#m);
  }`;
      }
      let setter: string;
      if (readonly) {
        setter = `set [${name}](x) { if (!this.#m.open) h.closed(this.#m); h.readonly(this.#m, ${name}); }`;
      } else if (multiWord(f)) {
        setter = `set [${name}](x) {
    const m = this.#m, o = this.#o;
    if (!m.open) h.closed(m);
    ${checkStmt(f)}${SEQ_WRITE_BEGIN}
    ${writeStmt(f)}
    ${CRC_STORE}${SEQ_WRITE_END}
  }`;
      } else {
        // CRC word first: a process killed between the two stores leaves a stale CRC
        // (recomputed on reopen), never a valid one that no longer matches. The value is
        // checked as set() checks it: a typed-array store would wrap 300 to 44 in a u8.
        const { arr, index, fromValue } = direct(f);
        setter = `set [${name}](x) {
    const a = this.#${arr}, j = ${index};
    if (j < a.length) { ${checkStmt(f)} this.#i32[this.#c] = ${CRC_STALE}; a[j] = ${fromValue}; return; }
    this.#bind();
    const b = this.#${arr};
    if (j >= b.length) h.closed(this.#m);
    ${checkStmt(f)}
    this.#i32[this.#c] = ${CRC_STALE}; b[j] = ${fromValue};
  }`;
      }
      return `  ${getter}\n  ${setter}`;
    });
    return `
const F = h.fence, B = h.barrier;
return class RecordView {
  #m; #o; #i; #c;${arrays.map((a) => ` #${a};`).join("")}
  constructor(m, o, i) { this.#m = m; this.#o = o; this.#c = (o >>> 2) + 1; this.#i = i; this.#bind(); }
  #bind() { const m = this.#m;${arrays.map((a) => ` this.#${a} = m.${a};`).join("")} }
  get index() { if (!this.#m.open) h.closed(this.#m); return this.#i; }
  set index(j) { const o = this.#m.offsetOf(j); this.#o = o; this.#c = (o >>> 2) + 1; this.#i = j; }
  toJSON() { const m = this.#m; if (!m.open) h.closed(m); return m.ops.get(this.#i); }
${members.join("\n")}
};`;
  };
  const View = new Function("h", viewSource(false))(helpers) as ViewClass;
  const ReadonlyView = new Function("h", viewSource(true))(helpers) as ViewClass;
  return { makeOps, View, ReadonlyView };
}
