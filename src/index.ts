/**
 * offheap: off-heap and on-disk data structures for Bun.
 *
 * Every public name is exported from here; the package's `exports` points at this file.
 */
export { OffheapError, ERROR_CODES, isOffheapError, type ErrorCode, type ErrorDetails } from "./errors.ts";
export type { Description, VerifyReport } from "./primitives/inspection.ts";
export { DEFAULT_LOCK_TIMEOUT, type SyncMode } from "./primitives/common-options.ts";

export {
  RingBuffer,
  describeRing,
  verifyRing,
  type RingOptions,
  type RingRecord,
  type RingStats,
  type FollowOptions as RingFollowOptions,
} from "./ring/index.ts";

export {
  DurableQueue,
  QueueReader,
  describeQueue,
  verifyQueue,
  type QueueOptions,
  type QueueStats,
  type QueueItem,
  type FollowOptions as QueueFollowOptions,
} from "./queue/index.ts";

export {
  RecordStore,
  schema,
  t,
  describeRecords,
  verifyRecords,
  type Schema,
  type SchemaOptions,
  type Infer,
  type Fields,
  type FieldLayout,
  type FieldKind,
  type FieldType,
  type ValueOf,
  type RecordStoreOptions,
  type RecordView,
  type RecordStoreStats,
} from "./records/index.ts";

export {
  ArenaCache,
  describeArena,
  codecs,
  MAX_KEY_BYTES,
  ENTRY_OVERHEAD,
  type ArenaCacheOptions,
  type ArenaHandle,
  type ArenaStats,
  type AttachOptions,
  type Codec,
  type EvictionReason,
  type Loader,
  type LoadOptions,
  type ArenaOpenOptions,
  type SetOptions,
} from "./arena/index.ts";

export {
  createPolicy,
  attachPolicy,
  POLICY_NAMES,
  LruPolicy,
  SievePolicy,
  S3FifoPolicy,
  ClockProPolicy,
  type EvictionPolicy,
  type PolicyName,
  type PolicyOptions,
} from "./policy/index.ts";

export * from "./tiered/index.ts";

export { renderMetrics, metricsHandler, describeStats, type MetricsSource, type MetricsOptions, type MetricType, type StatSpec, type StatSpecs, type MetricsDescription } from "./metrics/index.ts";
