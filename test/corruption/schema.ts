/** The record schema the corruption sweep stores. */
import { schema, t } from "../../src/records/index.ts";

export const SWEEP_SCHEMA = schema({ name: t.string(12), value: t.f64, big: t.u64 }, { name: "Sweep", version: 1 });
