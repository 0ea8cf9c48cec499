/** What a RingBuffer reports in `stats()`, and how that appears as metrics. */
import type { MetricsDescription } from "../metrics/describe.ts";

/** What `RingBuffer.stats()` reports: counters since this handle opened, and gauges. */
export interface RingStats {
  /** Records appended by this handle. */
  appends: number;
  /** Bytes of records appended by this handle. */
  bytesAppended: number;
  /** Records written at an explicit id by this handle. */
  writes: number;
  /** Records deleted by this handle. */
  deletes: number;
  /** Reads by id through this handle. */
  gets: number;
  /** Reads that found their record. */
  hits: number;
  /** Reads of ids never written, overwritten or deleted. */
  misses: number;
  /** Times a follower was overtaken by the writer. */
  laps: number;
  /** Records followers missed by being overtaken. */
  lapMissed: number;
  /** Prefetch (readahead) calls made. */
  prefetches: number;
  /** Syncs to disk made by this handle. */
  syncs: number;
  /** Futex wake calls made for waiting followers. */
  wakes: number;
  /** Followers of this handle now waiting for records. */
  followers: number;
  /** Id of the oldest record held. */
  first: number;
  /** Id the next append gets. */
  next: number;
  /** Records held (next - first). */
  size: number;
  /** Slots in the ring. */
  capacity: number;
  /** Largest record in bytes. */
  recordSize: number;
  /** Files the ring is sharded over. */
  shards: number;
}

/** The metrics description of {@link RingStats}. */
export const RING_METRICS: MetricsDescription<RingStats> = {
  kind: "ring",
  specs: {
    appends: { type: "counter", help: "Records appended by this handle." },
    bytesAppended: { type: "counter", family: "appended_bytes", help: "Bytes of records appended by this handle." },
    writes: { type: "counter", help: "Records written at an explicit id by this handle." },
    deletes: { type: "counter", help: "Records deleted by this handle." },
    gets: { type: "counter", help: "Reads by id through this handle." },
    hits: { type: "counter", help: "Reads that found their record." },
    misses: { type: "counter", help: "Reads of ids never written, overwritten or deleted." },
    laps: { type: "counter", help: "Times a follower was overtaken by the writer." },
    lapMissed: { type: "counter", family: "lap_missed_records", help: "Records followers missed by being overtaken." },
    prefetches: { type: "counter", help: "Prefetch (readahead) calls made." },
    syncs: { type: "counter", help: "Syncs to disk made by this handle." },
    wakes: { type: "counter", help: "Futex wake calls made for waiting followers." },
    followers: { type: "gauge", help: "Followers of this handle now waiting for records." },
    first: { type: "gauge", help: "Id of the oldest record held." },
    next: { type: "gauge", help: "Id the next append gets." },
    size: { type: "gauge", family: "records", help: "Records held (next - first)." },
    capacity: { type: "gauge", help: "Slots in the ring." },
    recordSize: { type: "gauge", family: "record_size_bytes", help: "Largest record in bytes." },
    shards: { type: "gauge", help: "Files the ring is sharded over." },
  },
};
