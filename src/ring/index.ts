/**
 * The ring buffer: a persistent ring of fixed-size records, one writer and many readers
 * across processes. See {@link RingBuffer}; `describeRing`/`verifyRing` serve the CLI.
 */
export { RingBuffer, type FollowOptions, type RingOptions, type RingRecord } from "./ring.ts";
export { describeRing, verifyRing } from "./inspect.ts";
export type { RingStats } from "./stats.ts";
