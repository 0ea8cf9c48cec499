/**
 * The options of `DurableQueue.open`: what each one means, its default and limits, and
 * its check. Every check runs before anything is created, so a bad option is
 * `ERR_INVALID` naming it and leaves the disk as it was.
 */
import { booleanOption, describeValue, integerOption, optionsArg } from "../primitives/arguments.ts";
import { DEFAULT_LOCK_TIMEOUT, lockTimeoutOption, syncOption, type SyncMode } from "../primitives/common-options.ts";
import { OffheapError } from "../errors.ts";
import { NAME_PATTERN } from "./layout.ts";

/** Options for `DurableQueue.open`. */
export interface QueueOptions {
  /** File name prefix, so several queues can share a directory. Default `"queue"`. */
  prefix?: string;
  /** Size of each segment's data file; an item must fit in one (minus a 64-byte header). Default 64 MiB. Fixed at creation. */
  segmentBytes?: number;
  /** Most items per segment (index entries, 16 bytes each). Default `segmentBytes / 64`, at least 16. Fixed at creation. */
  segmentItems?: number;
  /** Most live bytes (`q.bytes`) the queue holds; an append past it throws `ERR_FULL`. Default unlimited. Fixed at creation. */
  maxBytes?: number;
  /**
   * When writes reach the disk (see {@link SyncMode}): `"batch"` flushes once per mutating
   * call, data before index; `"always"` every item as it is written. Default `"none"`.
   */
  sync?: SyncMode;
  /** Open for reading only: no lock, no writes (named readers may still commit). */
  readonly?: boolean;
  /**
   * How long a call waits for another handle's lock, in ms, before `ERR_TIMEOUT`; 0: fail
   * at once with `ERR_LOCKED`. Default 5000 ({@link DEFAULT_LOCK_TIMEOUT}). Producers
   * sharing a queue take the lock for a mutation and keep it for the rest of that
   * synchronous run of code (released in a microtask, or after the call as soon as another
   * handle waits); an `exclusive` open takes it until close.
   */
  lockTimeout?: number;
  /**
   * Single-writer mode: hold the exclusive lock from open until close, so mutations skip
   * the per-call lock. While this handle is open, other writers' opens and mutations get
   * `ERR_LOCKED` (or `ERR_TIMEOUT` after their `lockTimeout`); read-only handles and
   * followers in any process see its appends live. Not with `readonly`. Default `false`.
   */
  exclusive?: boolean;
}

/** The options fixed at creation, as stored in the directory file's header (`maxBytes` 0: unlimited). */
export interface StoredLayout {
  segmentBytes: number;
  segmentItems: number;
  maxBytes: number;
}

/** {@link QueueOptions} once checked: every default filled in but the layout, which a reopen may omit. */
export interface CheckedOptions {
  prefix: string;
  sync: SyncMode;
  readonly: boolean;
  lockTimeout: number;
  exclusive: boolean;
  /** The layout options given (compared with the stored ones on reopen). */
  layout: Partial<StoredLayout>;
}

const DEFAULT_SEGMENT_BYTES = 64 << 20;
/** Smallest and largest `segmentBytes`, and largest `segmentItems`: what an index entry's u32 fields can address. */
const MIN_SEGMENT_BYTES = 256;
const MAX_SEGMENT_BYTES = 2 ** 32;
const MAX_SEGMENT_ITEMS = 2 ** 26;

/** Check every option of an open; `ERR_INVALID` naming the first bad one. */
export function checkOptions(options: QueueOptions): CheckedOptions {
  optionsArg("options", options);
  const prefix = options.prefix === undefined ? "queue" : nameArg("prefix", options.prefix);
  const sync = syncOption(options.sync, "none");
  const readonly = booleanOption("readonly", options.readonly);
  const lockTimeout = lockTimeoutOption(options.lockTimeout);
  const exclusive = booleanOption("exclusive", options.exclusive);
  if (exclusive && readonly) throw invalid("exclusive and readonly exclude each other: an exclusive handle is the queue's only writer, a read-only one never writes");
  const layout: Partial<StoredLayout> = {};
  const segmentBytes = integerOption("segmentBytes", options.segmentBytes, { min: MIN_SEGMENT_BYTES, max: MAX_SEGMENT_BYTES });
  const segmentItems = integerOption("segmentItems", options.segmentItems, { min: 1, max: MAX_SEGMENT_ITEMS });
  const maxBytes = integerOption("maxBytes", options.maxBytes, { min: 1 });
  if (segmentBytes !== undefined) layout.segmentBytes = segmentBytes;
  if (segmentItems !== undefined) layout.segmentItems = segmentItems;
  if (maxBytes !== undefined) layout.maxBytes = maxBytes;
  return { prefix, sync, readonly, lockTimeout, exclusive, layout };
}

/** The layout a new queue gets: what was given, defaults for the rest. */
export function layoutToCreate(given: Partial<StoredLayout>): StoredLayout {
  const segmentBytes = given.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  return {
    segmentBytes,
    segmentItems: given.segmentItems ?? Math.min(MAX_SEGMENT_ITEMS, Math.max(16, Math.floor(segmentBytes / 64))),
    maxBytes: given.maxBytes ?? 0,
  };
}

/** What is impossible about a stored layout (sizes no open could have written), or `undefined`. */
export function impossibleLayout(stored: StoredLayout): string | undefined {
  const { segmentBytes, segmentItems } = stored;
  if (segmentBytes < MIN_SEGMENT_BYTES || segmentBytes > MAX_SEGMENT_BYTES || segmentItems < 1 || segmentItems > MAX_SEGMENT_ITEMS) {
    return `header holds impossible sizes (segmentBytes ${segmentBytes}, segmentItems ${segmentItems})`;
  }
  return undefined;
}

/** A file name part (a prefix, a reader's name): `ERR_INVALID` unless it matches NAME_PATTERN. */
export function nameArg(what: string, v: unknown): string {
  if (typeof v !== "string" || !NAME_PATTERN.test(v)) {
    throw invalid(`${what} must be 1-64 letters, digits, "_", "." or "-" (not starting with "." or "-"), got ${describeValue(v)}`);
  }
  return v;
}

function invalid(message: string): OffheapError {
  return new OffheapError("ERR_INVALID", message);
}
