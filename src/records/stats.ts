/** What a RecordStore reports in `stats()`, and how that appears as metrics. */
import type { MetricsDescription } from "../metrics/describe.ts";

/** What `RecordStore.stats()` reports: counters since this handle opened, and gauges. */
export interface RecordStoreStats {
  /** Records in the store. */
  length: number;
  /** Records the file holds before it grows. */
  capacity: number;
  /** Bytes per record (sequence word and padding included). */
  recordSize: number;
  /** Bytes this handle has mapped. */
  mappedBytes: number;
  /** Times the file has grown since it was created. */
  growths: number;
  /** Times this readonly handle remapped after the writer grew the file. */
  remaps: number;
  /** Snapshot reads that found their record mid-update and retried. */
  readRetries: number;
  /** Snapshot reads that gave up with ERR_TIMEOUT. */
  readTimeouts: number;
  /** Sequence words left odd by a dead writer, reset when this handle opened. */
  repairedOnOpen: number;
  /** Stale record CRCs this handle recomputed. */
  crcRefreshed: number;
}

/** The metrics description of {@link RecordStoreStats}. */
export const RECORDS_METRICS: MetricsDescription<RecordStoreStats> = {
  kind: "records",
  specs: {
    length: { type: "gauge", family: "records", help: "Records in the store." },
    capacity: { type: "gauge", help: "Records the file holds before it grows." },
    recordSize: { type: "gauge", family: "record_size_bytes", help: "Bytes per record (sequence word and padding included)." },
    mappedBytes: { type: "gauge", family: "mapped_bytes", help: "Bytes this handle has mapped." },
    growths: { type: "counter", help: "Times the file has grown since it was created." },
    remaps: { type: "counter", help: "Times this readonly handle remapped after the writer grew the file." },
    readRetries: { type: "counter", help: "Snapshot reads that found their record mid-update and retried." },
    readTimeouts: { type: "counter", help: "Snapshot reads that gave up with ERR_TIMEOUT." },
    repairedOnOpen: { type: "counter", family: "repaired_on_open", help: "Sequence words left odd by a dead writer, reset when this handle opened." },
    crcRefreshed: { type: "counter", family: "crc_refreshed", help: "Stale record CRCs this handle recomputed." },
  },
};
