/**
 * DurableQueue: index file + data segments; FIFO with random reads, soft deletes,
 * several producer processes, and durable named readers.
 */
export { DurableQueue, type QueueOptions, type QueueStats, type QueueSync } from "./queue.ts";
export { QueueReader, type FollowOptions, type QueueItem } from "./reader.ts";
export { describeQueue, verifyQueue } from "./inspect.ts";
// Registers how this structure's stats() appear as metrics.
import "./metrics.ts";
