/**
 * Tells the CLI which tools each structure has: ring and record-store files, queue
 * directories (or their `.qdir` file) and tiered-cache file-store directories.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { describeArena } from "../arena/index.ts";
import { DurableQueue, describeQueue, holdsQueue, locateQueue, verifyQueue } from "../queue/index.ts";
import { CliError } from "./output.ts";
import { describeRecords, verifyRecords } from "../records/index.ts";
import { RingBuffer, describeRing, verifyRing } from "../ring/index.ts";
import { describeFileStore, verifyFileStore } from "../tiered/stores/file-inspect.ts";
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
    const { dir, prefix } = locateQueue(path);
    using queue = DurableQueue.open(dir, { prefix, readonly: true });
    const start = Math.max(from ?? queue.first, queue.first);
    if (follow) {
      // Woken by the producers' futex word: no polling.
      for await (const { index, data } of queue.follow(start, { signal })) yield { id: index, data };
      return;
    }
    for (let id = start, end = queue.next; id < end && !signal.aborted; id++) {
      const data = queue.get(id);
      if (data !== undefined) yield { id, data };
    }
  },
};
registerTools("QDIR", queueTools);
// A queue's other files are parts of it: point at the queue itself.
for (const [kind, what] of [["QIDX", "index"], ["QDAT", "data segment"], ["QRDR", "reader position"], ["QWAK", "wake-up"]] as const) {
  const partOfQueue = (path: string): never => {
    throw new CliError(`${path} is a ${what} file of a durable queue: name the queue's directory (${dirname(path)}) instead`);
  };
  registerTools(kind, { name: `durable queue ${what} file`, describe: partOfQueue, verify: partOfQueue, tail: partOfQueue });
}
registerDirectory("QDIR", holdsQueue);

registerTools("ARNA", { name: "shared ArenaCache", describe: describeArena });

registerTools("RECS", { name: "record store", describe: describeRecords, verify: verifyRecords });

registerTools("TFST", { name: "tiered cache file store", describe: describeFileStore, verify: verifyFileStore });
registerDirectory("TFST", (dir) => existsSync(join(dir, "offheap-filestore")));
