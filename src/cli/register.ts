/**
 * Tells the CLI which tools each structure has: ring and record-store files, queue
 * directories (or their `.qdir` file) and tiered-cache file-store directories.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { DurableQueue, describeQueue, verifyQueue } from "../queue/index.ts";
import { describeRecords, verifyRecords } from "../records/index.ts";
import { RingBuffer, describeRing, verifyRing } from "../ring/index.ts";
import { describeFileStore, verifyFileStore } from "../tiered/inspect.ts";
import { registerDirectory, registerTools, type TailRecord } from "./kinds.ts";

registerTools("RING", {
  name: "ring buffer",
  describe: describeRing,
  verify: verifyRing,
  async *tail(path, { from, follow, signal }) {
    using ring = RingBuffer.open(path, { readonly: true });
    if (follow) {
      yield* ring.follow(from ?? ring.first, { signal, onLap: "skip" });
    } else {
      yield* ring.range(from ?? ring.first);
    }
  },
});

const queueTools = {
  name: "durable queue",
  describe: describeQueue,
  verify: verifyQueue,
  async *tail(path: string, { from, follow, signal }: { from?: number; follow: boolean; signal: AbortSignal }): AsyncIterable<TailRecord> {
    const dir = path.endsWith(".qdir") ? join(path, "..") : path;
    using queue = DurableQueue.open(dir, { readonly: true });
    let id = Math.max(from ?? queue.first, queue.first);
    for (;;) {
      for (; id < queue.next && !signal.aborted; id++) {
        const data = queue.get(id);
        if (data !== undefined) yield { id, data };
      }
      if (!follow || signal.aborted) return;
      // The CLI polls: a tail is for people, and 50 ms is well below what they notice.
      await Bun.sleep(50);
    }
  },
};
registerTools("QDIR", queueTools);
registerDirectory("QDIR", (dir) => readdirSync(dir).some((name) => name.endsWith(".qdir")));

registerTools("RECS", { name: "record store", describe: describeRecords, verify: verifyRecords });

registerTools("TFST", { name: "tiered cache file store", describe: describeFileStore, verify: verifyFileStore });
registerDirectory("TFST", (dir) => existsSync(join(dir, "offheap-filestore")));
