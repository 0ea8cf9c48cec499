/**
 * The options every file-backed structure spells and checks the same way, so a user who
 * learned them on one structure knows them on the others.
 */
import { integerArg, oneOfArg } from "./arguments.ts";

/**
 * When written data reaches the disk.
 * - `"none"`: when the OS writes it back. A crashed process loses nothing; a power loss
 *   may lose what was written since the last explicit `sync()`.
 * - `"batch"`: every mutating call ends with one flush, so a call's items are durable
 *   when it returns; `appendMany` of 1000 items is one flush.
 * - `"always"`: every item is flushed as it is written, even inside one `appendMany`.
 *
 * Where each call writes one item (a ring's `append`, a file store's entry) `"batch"` and
 * `"always"` do the same.
 */
export type SyncMode = "none" | "batch" | "always";

const SYNC_MODES: readonly SyncMode[] = ["none", "batch", "always"];

/** The `sync` option, `fallback` when omitted. */
export function syncOption(v: unknown, fallback: SyncMode): SyncMode {
  return v === undefined ? fallback : oneOfArg("sync", v, SYNC_MODES);
}

/**
 * The default `lockTimeout`, in ms, of every call that takes a writer's lock: 5000 (as
 * better-sqlite3's busy timeout). A writer opened while the last one is still closing (a
 * restart) waits for it, and producers sharing a queue wait their turn; a lock still held
 * after 5 s is `ERR_TIMEOUT`. The wait blocks the calling thread: pass `lockTimeout: 0`
 * to get `ERR_LOCKED` at once instead.
 */
export const DEFAULT_LOCK_TIMEOUT = 5000;

/** Longest `lockTimeout`: ten minutes (a longer synchronous wait is a hang, not a wait). */
export const MAX_LOCK_TIMEOUT = 600_000;

/** The `lockTimeout` option in ms, {@link DEFAULT_LOCK_TIMEOUT} when omitted. */
export function lockTimeoutOption(v: unknown): number {
  return v === undefined ? DEFAULT_LOCK_TIMEOUT : integerArg("lockTimeout", v, { min: 0, max: MAX_LOCK_TIMEOUT });
}
