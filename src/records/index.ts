/**
 * RecordStore: schema-typed records in one mmap'd file, with zero-copy field access and
 * per-record seqlocks across processes.
 */
export { t, type FieldKind, type FieldType, type ValueOf } from "./types.ts";
export { schema, type Schema, type SchemaOptions, type Infer, type Fields, type FieldLayout } from "./schema.ts";
export { RecordStore, type RecordStoreOptions, type RecordView } from "./store.ts";
export { describeRecords, verifyRecords } from "./inspect.ts";
export type { RecordStoreStats } from "./stats.ts";
