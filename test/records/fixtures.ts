/** Schemas shared by the record store tests. */
import { schema, t } from "../../src/records/index.ts";

/** Every field type once. */
export const All = schema(
  {
    u8: t.u8, u16: t.u16, u32: t.u32, i8: t.i8, i16: t.i16, i32: t.i32, f32: t.f32, f64: t.f64,
    u64: t.u64, i64: t.i64, bool: t.bool, name: t.string(16), raw: t.bytes(8),
  },
  { name: "All", version: 1 },
);

/** The README's example schema. */
export const Tick = schema(
  { symbol: t.string(16), price: t.f64, volume: t.f64, ts: t.u64, flags: t.u8, live: t.bool, raw: t.bytes(32) },
  { name: "Tick", version: 1 },
);

