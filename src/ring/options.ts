/**
 * What `RingBuffer.open` and `follow` take: the option types, and their checks, made
 * before anything is opened so that a bad option never creates or touches a file.
 */
import { booleanOption, integerArg, oneOfArg, optionsArg, pathArg, signalArg } from "../primitives/arguments.ts";
import { DEFAULT_LOCK_TIMEOUT, lockTimeoutOption, syncOption, type SyncMode } from "../primitives/common-options.ts";
import { checkLayoutOptions } from "./layout.ts";

/** Options of {@link RingBuffer.open}. */
export interface RingOptions {
  /** Largest record in bytes. Required to create; read from the file on reopen. */
  recordSize?: number;
  /** Number of slots (records held). Required to create; read from the file on reopen. */
  capacity?: number;
  /** Number of shard files (`path`, `path.1`, …). Default: enough for ≤ 1 GiB each. */
  shards?: number;
  /** `"mmap"` (default): slots in shared mappings. `"pread"`: pread/pwrite. */
  io?: "mmap" | "pread";
  /** When writes reach the disk (see {@link SyncMode}). Default `"none"`. */
  sync?: SyncMode;
  /** On sequential reads, ask for the next `prefetch` records ahead of time. Default 0. */
  prefetch?: number;
  /** Open without the writer lock; writes throw `ERR_READONLY`. Default false. */
  readonly?: boolean;
  /** How long the open waits for another writer's lock, in ms (then `ERR_TIMEOUT`); 0: `ERR_LOCKED` at once. Default 5000 ({@link DEFAULT_LOCK_TIMEOUT}). */
  lockTimeout?: number;
}

/** A record with its id, as {@link RingBuffer.range} and {@link RingBuffer.follow} yield it. */
export interface RingRecord {
  /** The record's id (0, 1, 2, … in append order); it lives in slot `id % capacity`. */
  id: number;
  /** The record's bytes (a copy). */
  data: Uint8Array;
}

/** Options of {@link RingBuffer.follow}. */
export interface FollowOptions {
  /** Stop following: the iterator throws the signal's reason. */
  signal?: AbortSignal;
  /** When the writer overwrote records not yet read: `"throw"` `ERR_LAPPED` (default), or `"skip"` to `first`. */
  onLap?: "throw" | "skip";
}

/** A handle's own settings, checked (the layout options are checked, not kept: the file has them). */
export interface RingSettings {
  io: "mmap" | "pread";
  sync: SyncMode;
  prefetch: number;
  lockTimeout: number;
  readonly: boolean;
}

const IO_MODES = ["mmap", "pread"] as const;
const LAP_MODES = ["throw", "skip"] as const;

/** Check `path` and every option of an open; throws `ERR_INVALID` naming the bad one. */
export function ringSettings(path: string, options: RingOptions): RingSettings {
  pathArg("path", path);
  optionsArg("options", options);
  const settings: RingSettings = {
    io: options.io === undefined ? "mmap" : oneOfArg("io", options.io, IO_MODES),
    sync: syncOption(options.sync, "none"),
    prefetch: options.prefetch === undefined ? 0 : integerArg("prefetch", options.prefetch, { min: 0 }),
    lockTimeout: lockTimeoutOption(options.lockTimeout),
    readonly: booleanOption("readonly", options.readonly),
  };
  checkLayoutOptions(options);
  return settings;
}

/** Check the options of a follow. */
export function followSettings(options: FollowOptions): { onLap: "throw" | "skip"; signal: AbortSignal | undefined } {
  optionsArg("options", options);
  const onLap = options.onLap === undefined ? "throw" : oneOfArg("onLap", options.onLap, LAP_MODES);
  return { onLap, signal: signalArg("signal", options.signal) };
}
