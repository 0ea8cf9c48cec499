/**
 * The ring's on-disk layout: the header every shard file starts with, where the live head
 * words sit, how a slot is laid out, and how ids map to shards and offsets.
 *
 * Shard file `i` (`path` for 0, `path.i` otherwise):
 * ```
 *      0  shared header (src/primitives/header.ts), kind "RING", fields below
 *    128  shard 0 only: the published head, as aligned 32-bit atomic words (see head.ts)
 *    192  shard 0 only: the count of waiting followers (futex wake is skipped at zero)
 *    256  shard 0 only: the jump block (a two-copy counter block, see JUMPS)
 *   4096  slots: slotsInShard × slotBytes
 * ```
 * Slot (slotBytes = 16 + recordSize rounded up to 8):
 * ```
 *   0  meta  u32  0 = never written; BUSY while being rewritten; WRITTEN | length; DELETED
 *   4  idLo  u32  the record's id, low 32 bits
 *   8  idHi  u32  high bits
 *  12  crc   u32  CRC-32 of bytes 0..12 (meta, idLo, idHi) followed by the payload
 *  16  payload, `length` bytes of `recordSize`
 * ```
 * Because the id and state are inside the CRC, an empty slot (meta 0), a deleted one, a
 * slot holding another (older or newer) id and a damaged one are all told apart.
 *
 * Every id in the window `[next - capacity, next)` has a slot holding exactly that id:
 * appends write each one, and a `write(id)` past `next` marks the ids it skips as
 * deleted. So a slot in the window that is empty or holds an older id was damaged (a
 * zeroed page, say), and reads as `ERR_CORRUPT`, not as a record never written. Marking is
 * bounded: a jump skipping more than {@link MARK_LIMIT} ids raises the unchecked floor
 * instead, and ids below it may read as absent for the lap that follows.
 *
 * Likewise the slot of `next` holds an id below `next` (or nothing) once every write has
 * been published: a newer id there means the head was moved back (damaged), which an open
 * reports as `ERR_CORRUPT`, unless it is the write a crash left unpublished — exactly
 * `next` (an open publishes such whole records, as that write would have), or part of
 * a jump or an oversized batch the jump block says was under way from this very head.
 */
import { integerOption } from "../primitives/arguments.ts";
import { OffheapError } from "../errors.ts";
import { CounterBlock, headerBytes, registerKind, type HeaderSpec } from "../primitives/header.ts";
import { MAX_MAPPING_BYTES } from "../../ffi/index.ts";

/** The header fields of every ring shard, in stored order. */
export const RING_FIELDS = [
  "recordSize",
  "capacity",
  "shards",
  "shardIndex",
  "slotBytes",
  "slotsPerShard",
  "dataOffset",
  "ringId",
] as const;

/** A ring header field name. */
export type RingField = (typeof RING_FIELDS)[number];

/** The header spec of ring shard files. */
export const RING_SPEC: HeaderSpec<RingField> = {
  kind: "RING",
  name: "ring buffer",
  // 2: slots are allocated at create; ids a write(id) skips are marked deleted, so an empty
  // slot in the window is damage; the unchecked floor. Version 1 files are refused.
  version: 2,
  fields: RING_FIELDS,
};
registerKind(RING_SPEC);

/** Bytes before the first slot of each shard (the header page). */
export const DATA_OFFSET = 4096;
/** Byte offset of the head words in shard 0. */
export const HEAD_OFFSET = 128;
/** Byte offset of the waiting-followers counter in shard 0 (its own cache line). */
export const WAITERS_OFFSET = 192;
/**
 * The jump block, `[uncheckedBelow, jumpFrom, jumpTo]`, written (rarely) before the slots
 * and the head that need it: ids below `uncheckedBelow` may have slots a far `write(id)`
 * skipped without marking them; `jumpFrom`..`jumpTo` are the head before and the last id
 * of the latest `write(id)` past `next` or batch larger than the ring, whose slots are all
 * written before the head moves.
 */
export const JUMPS = new CounterBlock(256, 3);
/** Most ids one `write(id)` marks deleted; a longer jump raises the unchecked floor instead. */
export const MARK_LIMIT = 1 << 16;
/** Bytes of a slot's header. */
export const SLOT_HEADER = 16;
/** `meta` flag: the slot holds a record; the low bits are its length. */
export const WRITTEN = 0x8000_0000;
/** `meta` value: the record with this id was deleted. */
export const DELETED = 0x4000_0000;
/** `meta` value: a writer is rewriting the slot right now (or died doing it). */
export const BUSY = 0x2000_0000;
/** Largest record size: the length must fit below the flag bits. */
export const MAX_RECORD_SIZE = 0x3fff_ffff;
/** Most slots a ring has. */
export const MAX_CAPACITY = 2 ** 40;
/** Most shard files a ring has. */
export const MAX_SHARDS = 65_536;
/** Default largest shard file: 1 GiB. */
export const DEFAULT_SHARD_BYTES = 1 << 30;
/** Ids stay below 2^53 (exact as numbers). */
export const MAX_ID = Number.MAX_SAFE_INTEGER;

if (headerBytes(RING_SPEC) > HEAD_OFFSET) throw new Error("ring header overlaps the head words");
if (JUMPS.offset + JUMPS.size > DATA_OFFSET) throw new Error("ring jump block overlaps the slots");

/** The layout values stored in shard 0's header. */
export interface RingLayout {
  recordSize: number;
  capacity: number;
  shards: number;
  slotBytes: number;
  slotsPerShard: number;
  ringId: number;
}

/** Bytes of one slot for records of `recordSize` bytes. */
export function slotBytesFor(recordSize: number): number {
  return Math.ceil((SLOT_HEADER + recordSize) / 8) * 8;
}

/** Slots held by shard `index`. */
export function slotsInShard(layout: RingLayout, index: number): number {
  return Math.max(0, Math.min(layout.slotsPerShard, layout.capacity - index * layout.slotsPerShard));
}

/** Bytes of all the shard files of `layout`. */
export function ringBytes(layout: RingLayout): number {
  let n = 0;
  for (let i = 0; i < layout.shards; i++) n += shardFileBytes(layout, i);
  return n;
}

/** Exact byte size of shard file `index`. */
export function shardFileBytes(layout: RingLayout, index: number): number {
  return DATA_OFFSET + slotsInShard(layout, index) * layout.slotBytes;
}

/** Which shard file holds `slot`. */
export function shardOf(layout: RingLayout, slot: number): number {
  return layout.shards === 1 ? 0 : Math.floor(slot / layout.slotsPerShard);
}

/**
 * The slots a read-ahead of `count` ids from `id` covers in one shard: `[shard, offset,
 * bytes]`, only up to the end of that shard (and of the ring); a later call covers the
 * rest. `bytes` is 0 when there is nothing to read.
 */
export function readAheadRun(layout: RingLayout, id: number, count: number): [shard: number, offset: number, bytes: number] {
  const slot = id % layout.capacity;
  const shard = shardOf(layout, slot);
  const index = slot - shard * layout.slotsPerShard;
  const n = Math.min(count, layout.slotsPerShard - index, layout.capacity - slot);
  return [shard, DATA_OFFSET + index * layout.slotBytes, n > 0 ? n * layout.slotBytes : 0];
}

/** Byte offset of `slot` inside its shard file (`shard` from {@link shardOf}). */
export function slotOffset(layout: RingLayout, slot: number, shard: number): number {
  return DATA_OFFSET + (slot - shard * layout.slotsPerShard) * layout.slotBytes;
}

/** The file name of shard `index`. */
export function shardPath(path: string, index: number): string {
  return index === 0 ? path : `${path}.${index}`;
}

/**
 * Check the layout options a ring is created with (or that a reopen compares): integers
 * within their ranges, `ERR_INVALID` naming the option otherwise.
 */
export function checkLayoutOptions(o: { recordSize?: unknown; capacity?: unknown; shards?: unknown }): void {
  integerOption("recordSize", o.recordSize, { min: 1, max: MAX_RECORD_SIZE });
  integerOption("capacity", o.capacity, { min: 1, max: MAX_CAPACITY });
  integerOption("shards", o.shards, { min: 1, max: MAX_SHARDS });
}

/**
 * Compute a new ring's layout from the options; throws `ERR_INVALID` for bad values and
 * `ERR_TOO_LARGE` when a shard would exceed what one mapping can hold, or the ring would
 * need more than {@link MAX_SHARDS} shard files.
 */
export function computeLayout(recordSize: number, capacity: number, shards: number | undefined): RingLayout {
  checkLayoutOptions({ recordSize, capacity, shards });
  const slotBytes = slotBytesFor(recordSize);
  const count = shards ?? Math.max(1, Math.ceil((capacity * slotBytes) / (DEFAULT_SHARD_BYTES - DATA_OFFSET)));
  if (count > MAX_SHARDS) {
    throw new OffheapError(
      "ERR_TOO_LARGE",
      `a ring of capacity ${capacity} records of recordSize ${recordSize} is ${capacity * slotBytes} bytes: more than ${MAX_SHARDS} shards of 1 GiB`,
    );
  }
  const slotsPerShard = Math.ceil(capacity / count);
  if ((count - 1) * slotsPerShard >= capacity) {
    throw new OffheapError(
      "ERR_INVALID",
      `${count} shards for ${capacity} records leave a shard empty; use at most ${Math.ceil(capacity / slotsPerShard)} shards`,
    );
  }
  const largest = DATA_OFFSET + slotsPerShard * slotBytes;
  if (largest > MAX_MAPPING_BYTES) {
    throw new OffheapError(
      "ERR_TOO_LARGE",
      `a shard of ${slotsPerShard} records of ${slotBytes} bytes is ${largest} bytes; one shard is at most ${MAX_MAPPING_BYTES} bytes: use more shards`,
    );
  }
  const ringId = 1 + Math.floor(Math.random() * 0xffff_ffff);
  return { recordSize, capacity, shards: count, slotBytes, slotsPerShard, ringId };
}

/** The header values for shard `index`. */
export function headerValues(layout: RingLayout, index: number): Record<RingField, number> {
  return {
    recordSize: layout.recordSize,
    capacity: layout.capacity,
    shards: layout.shards,
    shardIndex: index,
    slotBytes: layout.slotBytes,
    slotsPerShard: layout.slotsPerShard,
    dataOffset: DATA_OFFSET,
    ringId: layout.ringId,
  };
}

/**
 * Check that a decoded header is self-consistent and belongs to the ring described by
 * `layout` as shard `index` (when `layout` is given). Throws `ERR_CORRUPT` otherwise, so
 * that no offset derived from it is ever used unchecked.
 */
export function checkHeader(h: Record<RingField, number>, path: string, index: number, layout?: RingLayout): RingLayout {
  const bad = (what: string) => new OffheapError("ERR_CORRUPT", `${path}: ring header is inconsistent: ${what}`, { path });
  if (h.recordSize < 1 || h.recordSize > MAX_RECORD_SIZE) throw bad(`recordSize ${h.recordSize}`);
  if (h.capacity < 1 || h.capacity > MAX_CAPACITY) throw bad(`capacity ${h.capacity}`);
  if (h.slotBytes !== slotBytesFor(h.recordSize)) throw bad(`slotBytes ${h.slotBytes}, expected ${slotBytesFor(h.recordSize)}`);
  if (h.shards < 1 || h.slotsPerShard !== Math.ceil(h.capacity / h.shards)) {
    throw bad(`${h.shards} shards of ${h.slotsPerShard} slots for capacity ${h.capacity}`);
  }
  if (h.dataOffset !== DATA_OFFSET) throw bad(`data offset ${h.dataOffset}, expected ${DATA_OFFSET}`);
  if (h.shardIndex !== index) throw bad(`it says shard ${h.shardIndex}, expected shard ${index}`);
  if (DATA_OFFSET + h.slotsPerShard * h.slotBytes > MAX_MAPPING_BYTES) throw bad(`shards of ${h.slotsPerShard} slots are too large`);
  const found: RingLayout = {
    recordSize: h.recordSize,
    capacity: h.capacity,
    shards: h.shards,
    slotBytes: h.slotBytes,
    slotsPerShard: h.slotsPerShard,
    ringId: h.ringId,
  };
  if (layout) {
    for (const key of Object.keys(layout) as Array<keyof RingLayout>) {
      if (layout[key] !== found[key]) {
        throw new OffheapError(
          "ERR_CORRUPT",
          `${path}: shard ${index} belongs to another ring (${key} ${found[key]}, shard 0 has ${layout[key]})`,
          { path },
        );
      }
    }
  }
  return found;
}
