/**
 * DurableQueue: index file + data segments; FIFO with random reads, soft deletes,
 * several producer processes, and durable named readers.
 */
export { DurableQueue, type QueueOptions } from "./queue.ts";
export { QueueReader, type FollowOptions } from "./reader.ts";
export type { QueueItem } from "./reader-host.ts";
export { describeQueue, holdsQueue, locateQueue, verifyQueue } from "./inspect.ts";
export type { QueueStats } from "./stats.ts";
