/**
 * Opening a ring's shard files: create a new ring, or validate an existing one (headers,
 * shard membership, exact file sizes) before anything is mapped, so that a truncated or
 * foreign file is an error and never a SIGBUS. Nothing here writes to an existing ring.
 */
import { existsSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { File, Lock, ZeroAhead, allocate, freeBytes, syncDirectory, writeZeros, type Allocated } from "../../ffi/index.ts";
import { OffheapError, isOffheapError } from "../errors.ts";
import { assertSameOptions, encodeHeader, readHeader } from "../primitives/header.ts";
import {
  DATA_OFFSET,
  RING_SPEC,
  checkHeader,
  computeLayout,
  headerValues,
  ringBytes,
  shardFileBytes,
  shardPath,
  type RingLayout,
} from "./layout.ts";

/** What {@link openRingFiles} needs to know. */
export interface RingFileOptions {
  readonly: boolean;
  lockTimeout: number;
  recordSize: number | undefined;
  capacity: number | undefined;
  shards: number | undefined;
  /** The writer stores through mappings: a large new ring's slots are zeroed from a Worker ahead of it. */
  zeroAhead?: boolean;
}

/** The open shard files of a ring, validated. */
export interface RingFiles {
  layout: RingLayout;
  files: File[];
  /** The writer's exclusive lock on shard 0 (undefined for read-only handles). */
  lock: Lock | undefined;
  /**
   * For a ring this open created with `zeroAhead`: the Worker writing its slots once, one
   * range per shard. The writer ensures a slot's range before storing into it.
   */
  zero: ZeroAhead | undefined;
}

/**
 * New rings with at least this many bytes of slots have them zeroed from a Worker while
 * the writer goes on; smaller ones write them at create (≈0.2 ms a MiB), sooner than a
 * Worker starts.
 */
export const ZERO_AHEAD_FROM = 16 << 20;

/** Read and check the header of one shard file. */
export function readShardHeader(file: File, index: number, layout?: RingLayout): RingLayout {
  const header = readHeader(RING_SPEC, file);
  const found = checkHeader(header, file.path, index, layout);
  const want = shardFileBytes(found, index);
  const size = file.size;
  if (size !== want) {
    throw new OffheapError(
      "ERR_CORRUPT",
      `${file.path}: ring shard ${index} should be ${want} bytes (${found.slotsPerShard} slots of ${found.slotBytes} after a ${DATA_OFFSET}-byte header), found ${size}`,
      { path: file.path },
    );
  }
  return found;
}

function openShard(path: string, index: number, readonly: boolean): File {
  const p = shardPath(path, index);
  try {
    return File.open(p, { readonly });
  } catch (e) {
    if (isOffheapError(e, "ERR_SYSTEM") && e.errno === "ENOENT") {
      throw new OffheapError("ERR_CORRUPT", `${path}: shard file ${p} is missing`, { path: p, cause: e });
    }
    throw e;
  }
}

function layoutFor(path: string, options: RingFileOptions, why: string): RingLayout {
  const { recordSize, capacity } = options;
  if (recordSize === undefined || capacity === undefined) {
    throw new OffheapError("ERR_INVALID", `${path} ${why}: give recordSize and capacity to create a ring`, { path });
  }
  return computeLayout(recordSize, capacity, options.shards);
}

/**
 * Before a create replaces shard `index`'s file: a create that died leaves shards without
 * a single slot written, but one that holds records means shard 0 was lost (cut to
 * nothing or deleted), not never made: `ERR_CORRUPT`, and the shard stays as it was.
 */
function assertNoRecords(f: File, index: number, path0: string): void {
  const size = f.size;
  if (size <= DATA_OFFSET) return;
  const chunk = new Uint8Array(Math.min(1 << 20, size - DATA_OFFSET));
  for (let at = DATA_OFFSET; at < size; at += chunk.length) {
    const n = f.read(chunk, at);
    // Any set byte: slots are all zero until written (an allocated, never written shard).
    if (chunk.subarray(0, n).some((b) => b !== 0)) {
      throw new OffheapError(
        "ERR_CORRUPT",
        `${path0} is empty or missing, but shard ${index} (${f.path}) holds records: the ring's first shard was lost; nothing was created over it`,
        { path: path0 },
      );
    }
  }
}

/**
 * Before anything is created: a ring is allocated whole at create, so one larger than the
 * free space fails at once as `ENOSPC`, instead of after writing shards up to the limit.
 */
function assertRoom(path: string, layout: RingLayout): void {
  const need = ringBytes(layout);
  const dir = dirname(path);
  const free = freeBytes(dir);
  if (need > free) {
    throw new OffheapError(
      "ERR_SYSTEM",
      `a ring of capacity ${layout.capacity} records of recordSize ${layout.recordSize} needs ${need} bytes on disk (${layout.shards} shards), but ${dir} has ${free} bytes free: ENOSPC`,
      { errno: "ENOSPC", syscall: "statfs", path },
    );
  }
}

/** Remove the shard files a failed create made (they hold no records: see assertNoRecords). */
function removeShards(path: string, files: File[]): void {
  for (let i = files.length - 1; i >= 1; i--) {
    files[i]!.close();
    try {
      unlinkSync(shardPath(path, i));
    } catch {
      // the create's own error is the one to report
    }
  }
  files.length = 1;
}

function create(path: string, file0: File, layout: RingLayout, files: File[], zeroAhead: boolean): ZeroAhead | undefined {
  const allocated: Allocated[] = [];
  assertRoom(path, layout);
  try {
    // Shards 1.. first, shard 0 last: a ring whose shard 0 has no header is not yet created.
    for (let i = 1; i < layout.shards; i++) {
      const f = File.open(shardPath(path, i), { create: true });
      files.push(f);
      assertNoRecords(f, i, path);
      f.truncate(0);
      // Every slot is written through a mapping: allocate it all now (no SIGBUS on a full disk).
      allocated.push(allocate(f, 0, shardFileBytes(layout, i)));
      f.write(encodeHeader(RING_SPEC, headerValues(layout, i)), 0);
      f.sync();
    }
    allocated.push(allocate(file0, 0, shardFileBytes(layout, 0)));
  } catch (e) {
    if (!isOffheapError(e, "ERR_CORRUPT")) removeShards(path, files);
    throw e;
  }
  file0.write(encodeHeader(RING_SPEC, headerValues(layout, 0)), 0);
  file0.sync();
  syncDirectory(dirname(path));
  // The ring exists now. Write its slots once, so the first lap's stores land on pages
  // the page cache already holds over written blocks: on ext4 a first store into an
  // allocated-but-unwritten page costs ~1.5 µs of extent conversion (fault-ahead with
  // MADV_POPULATE_WRITE costs as much), 3× a lapped append of 128 B. Not flushed: the
  // blocks are reserved already, and they read as zeros either way. A large ring has a
  // Worker do it, so that the open does not wait for it (ZeroAhead keeps it off every
  // slot the writer stores into first).
  if (allocated.every((a) => a === "written")) return undefined;
  const ranges = files.map((file, i) => ({ file, offset: DATA_OFFSET, length: shardFileBytes(layout, i) - DATA_OFFSET }));
  if (zeroAhead && ringBytes(layout) >= ZERO_AHEAD_FROM) return ZeroAhead.start(ranges);
  for (const r of ranges) writeZeros(r.file, r.offset, r.length);
  return undefined;
}

/**
 * Open (and for a writer, lock, and create if empty) the shard files of the ring at `path`.
 * Throws `ERR_LOCKED`/`ERR_TIMEOUT` when another writer holds it, `ERR_FORMAT` or
 * `ERR_CORRUPT` for foreign or damaged files, `ERR_MISMATCH` for differing options.
 */
export function openRingFiles(path: string, options: RingFileOptions): RingFiles {
  for (let attempt = 0; attempt < 5; attempt++) {
    const opened = openOnce(path, options);
    if (opened !== undefined) return opened;
  }
  throw new OffheapError("ERR_LOCKED", `${path}: other writers kept creating and removing the ring while this open waited for it`, { path });
}

/**
 * One try of {@link openRingFiles}: undefined when the file this writer locked was removed
 * meanwhile (a create that failed in another process removes what it made), or made
 * between looking and creating it.
 */
function openOnce(path: string, options: RingFileOptions): RingFiles | undefined {
  const { readonly } = options;
  // Bad options for a new ring fail before any file is created, and so does a ring larger
  // than the disk's free space.
  const planned = !readonly && !existsSync(path) ? layoutFor(path, options, "does not exist") : undefined;
  if (planned !== undefined) assertRoom(path, planned);
  let file0: File;
  try {
    file0 = File.open(path, { readonly, create: !readonly, exclusive: planned !== undefined });
  } catch (e) {
    if (planned !== undefined && isOffheapError(e, "ERR_SYSTEM") && e.errno === "EEXIST") return undefined; // made meanwhile: open it
    throw e;
  }
  const files: File[] = [file0];
  let lock: Lock | undefined;
  try {
    if (!readonly) {
      lock = new Lock(file0, "exclusive");
      lock.lockSync(options.lockTimeout);
      if (planned === undefined && file0.size === 0 && !file0.isLinkedAt(path)) {
        lock.unlock();
        file0.close();
        return undefined;
      }
    }
    let layout: RingLayout;
    let zero: ZeroAhead | undefined;
    if (!readonly && file0.size === 0) {
      try {
        layout = planned ?? layoutFor(path, options, "is empty");
        zero = create(path, file0, layout, files, options.zeroAhead === true);
      } catch (e) {
        // Nothing of a ring this call made is left behind (a waiting writer sees the file
        // unlinked and opens again).
        if (planned !== undefined) unlinkQuietly(path);
        throw e;
      }
    } else {
      layout = readShardHeader(file0, 0);
      assertSameOptions(
        path,
        "this ring",
        { recordSize: layout.recordSize, capacity: layout.capacity, shards: layout.shards },
        { recordSize: options.recordSize, capacity: options.capacity, shards: options.shards },
      );
      for (let i = 1; i < layout.shards; i++) {
        const f = openShard(path, i, readonly);
        files.push(f);
        readShardHeader(f, i, layout);
      }
    }
    return { layout, files, lock, zero };
  } catch (e) {
    lock?.unlock();
    for (const f of files) f.close();
    throw e;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // the create's own error is the one to report
  }
}
