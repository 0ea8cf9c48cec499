/** What a DurableQueue reports in `stats()`, and how that appears as metrics. */
import type { MetricsDescription } from "../metrics/describe.ts";

/** What `DurableQueue.stats()` reports: counters since this handle opened, and gauges. */
export interface QueueStats {
  /** Live items (appended, not shifted, deleted or truncated). */
  length: number;
  /** Bytes of the live items. */
  bytes: number;
  /** Index of the oldest live item. */
  first: number;
  /** Index the next append gets. */
  next: number;
  /** Segment files on disk. */
  segments: number;
  /** Items appended by this handle. */
  appends: number;
  /** Reads by index through this handle. */
  gets: number;
  /** Items shifted by this handle. */
  shifts: number;
  /** Items deleted by this handle. */
  deletes: number;
  /** Torn tails dropped by recovery when this handle opened. */
  recoveries: number;
}

/** The metrics description of {@link QueueStats}. */
export const QUEUE_METRICS: MetricsDescription<QueueStats> = {
  kind: "queue",
  specs: {
    length: { type: "gauge", family: "items", help: "Live items (appended, not shifted, deleted or truncated)." },
    bytes: { type: "gauge", help: "Bytes of the live items." },
    first: { type: "gauge", help: "Index of the oldest live item." },
    next: { type: "gauge", help: "Index the next append gets." },
    segments: { type: "gauge", help: "Segment files on disk." },
    appends: { type: "counter", help: "Items appended by this handle." },
    gets: { type: "counter", help: "Reads by index through this handle." },
    shifts: { type: "counter", help: "Items shifted by this handle." },
    deletes: { type: "counter", help: "Items deleted by this handle." },
    recoveries: { type: "counter", help: "Torn tails dropped by recovery when this handle opened." },
  },
};
