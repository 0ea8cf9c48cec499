/**
 * Child process of the disk-full tests: on the tiny filesystem at argv[3], fill the disk
 * while a structure is in use and keep using it. Prints `acked <id>` for every write whose
 * call returned, `threw <call> <code> <errno>` for every call that failed, and `done`.
 * Running in a child makes a SIGBUS a signal the parent sees, not a dead test runner.
 */
import { join } from "node:path";
import { OffheapError } from "../../src/errors.ts";
import { DurableQueue } from "../../src/queue/index.ts";
import { RecordStore, schema, t } from "../../src/records/index.ts";
import { RingBuffer } from "../../src/ring/index.ts";
import { fillDisk } from "../helpers/tmpfs.ts";

export const DISK_FULL_ROW = schema({ n: t.u32, tag: t.string(20) }, { name: "DiskFull", version: 1 });

const [mode, root] = process.argv.slice(2) as [string, string];

const fill = () => fillDisk(join(root, ".filler")); // the name the parent's free() removes

/** Run `fn`; print what an OffheapError said; anything else is a failure of the child. */
function attempt(call: string, fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (!(e instanceof OffheapError)) throw e;
    console.log(`threw ${call} ${e.code} ${e.errno ?? "-"}`);
    return false;
  }
}

if (mode === "ring-mmap" || mode === "ring-pread") {
  const io = mode === "ring-mmap" ? "mmap" : "pread";
  const path = join(root, "events.ring");
  let ring = RingBuffer.open(path, { recordSize: 64, capacity: 2048, io });
  for (let i = 0; i < 100; i++) console.log(`acked ${ring.append(`record ${i}`)}`);
  fill();
  // Every slot was allocated at create: appends go on, through a full lap and more.
  for (let i = 100; i < 3000; i++) console.log(`acked ${ring.append(`record ${i}`)}`);
  ring.sync();
  ring.close();
  // A writable reopen while the disk is still full.
  ring = RingBuffer.open(path, { io });
  for (let i = 3000; i < 3010; i++) console.log(`acked ${ring.append(`record ${i}`)}`);
  ring.close();
  // A new ring needs space: that is the call that says so.
  attempt("create", () => RingBuffer.open(join(root, "other.ring"), { recordSize: 64, capacity: 2048, io }).close());
} else if (mode === "queue") {
  let q = DurableQueue.open(join(root, "q"), { segmentBytes: 64 << 10, segmentItems: 256 });
  const item = (i: number) => `item ${i} `.padEnd(200, "x");
  for (let i = 0; i < 100; i++) console.log(`acked ${q.append(item(i))}`);
  fill();
  // Appends go on inside the allocated segment (256 items)...
  let i = 100;
  for (; i < 254; i++) console.log(`acked ${q.append(item(i))}`);
  // ... a batch whose first two items fit and whose third needs a new segment commits none ...
  attempt("appendMany", () => console.log(`acked-batch ${q.appendMany([item(-1), item(-2), item(-3)])}`));
  console.log(`state ${q.next} ${q.length}`);
  // ... and the append that needs the new segment fails.
  while (attempt("append", () => console.log(`acked ${q.append(item(i))}`))) i++;
  q.close();
  q = DurableQueue.open(join(root, "q")); // a writable reopen while the disk is still full
  console.log(`reopened ${q.next} ${q.length}`);
  attempt("append", () => console.log(`acked ${q.append(item(i))}`));
  q.close();
} else if (mode === "records") {
  let store = RecordStore.open(join(root, "r.rec"), DISK_FULL_ROW, { capacity: 64 });
  for (let i = 0; i < 64; i++) console.log(`acked ${store.append({ n: i, tag: `t${i}` })}`);
  fill();
  // The 65th needs the file to grow: that append fails, and the store goes on.
  let i = 64;
  while (i < 100_000 && attempt("append", () => console.log(`acked ${store.append({ n: i, tag: `t${i}` })}`))) i++;
  store.set(3, { n: 3, tag: "changed" });
  console.log("acked set3");
  console.log(`state ${store.length}`);
  store.close();
  store = RecordStore.open(join(root, "r.rec"), DISK_FULL_ROW); // a writable reopen while full
  console.log(`reopened ${store.length}`);
  store.close();
}
console.log("done");
