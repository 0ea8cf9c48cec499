/** How a RecordStore's `stats()` appear as metrics (`offheap_records_*`). */
import { describeStats } from "../metrics/describe.ts";
import { RecordStore, type RecordStoreStats } from "./store.ts";

describeStats<RecordStoreStats>(RecordStore, {
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
});
