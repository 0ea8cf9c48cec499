/** How a DurableQueue's `stats()` appear as metrics (`offheap_queue_*`). */
import { describeStats } from "../metrics/describe.ts";
import { DurableQueue, type QueueStats } from "./queue.ts";

describeStats<QueueStats>(DurableQueue, {
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
});
