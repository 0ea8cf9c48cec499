/**
 * Read-only inspection of a ring for the CLI: `describeRing` (header, options, counts)
 * and `verifyRing` (a CRC scan of every slot that lists damaged records).
 */
import { File } from "../../ffi/index.ts";
import { functionOption, pathArg } from "../primitives/arguments.ts";
import { DATA_OFFSET, HEAD_OFFSET, RING_SPEC, JUMPS, WAITERS_OFFSET, slotsInShard, shardPath } from "./layout.ts";
import { openRingFiles, readShardHeader } from "./files.ts";
import { joinId, META_BUSY, META_DELETED, META_EMPTY, META_WRITTEN, metaKind, metaLength, slotCrc } from "./slot.ts";
import type { Description, VerifyReport } from "../primitives/inspection.ts";



const TWO32 = 0x1_0000_0000;

function readHeadWords(file: File): { next: number; waiters: number; uncheckedBelow: number } {
  const page = new Uint8Array(DATA_OFFSET);
  file.read(page, 0);
  const view = new DataView(page.buffer);
  const lo = view.getUint32(HEAD_OFFSET, true);
  const state = view.getUint32(HEAD_OFFSET + 4, true);
  const prev = view.getUint32(HEAD_OFFSET + 8, true);
  const hi = (state & 1) === 0 ? state >>> 1 : prev;
  const uncheckedBelow = JUMPS.read(page, file.path)?.values[0] ?? 0;
  return { next: hi * TWO32 + lo, waiters: view.getInt32(WAITERS_OFFSET, true), uncheckedBelow };
}

/** The id in the window `[first, next)` whose slot is `slot`, or -1 when none is. */
function windowIdOf(slot: number, next: number, capacity: number): number {
  if (next <= capacity) return slot < next ? slot : -1;
  const first = next - capacity;
  return first + ((slot - (first % capacity) + capacity) % capacity);
}

/**
 * Describe the ring at `path` without opening it for writing. Throws `OffheapError` if it cannot be read.
 * @throws `ERR_INVALID` for a bad path, `ERR_FORMAT` for a file that is not a ring, `ERR_CORRUPT` for a damaged header or a missing or wrong-sized shard, `ERR_SYSTEM` when it cannot be read.
 */
export function describeRing(path: string): Description {
  pathArg("path", path);
  const file = File.open(path, { readonly: true });
  try {
    const layout = readShardHeader(file, 0);
    const { next, waiters } = readHeadWords(file);
    return {
      kind: RING_SPEC.kind,
      version: RING_SPEC.version,
      options: {
        recordSize: layout.recordSize,
        capacity: layout.capacity,
        shards: layout.shards,
        slotBytes: layout.slotBytes,
        slotsPerShard: layout.slotsPerShard,
      },
      counts: {
        next,
        first: Math.max(0, next - layout.capacity),
        size: Math.min(next, layout.capacity),
        waiters,
      },
    };
  } finally {
    file.close();
  }
}

/**
 * Check the CRC of every slot of the ring at `path` (opened read-only). Damaged records are
 * listed, never thrown; only a ring that cannot be read at all throws `OffheapError`.
 * @throws as {@link describeRing}; `ERR_INVALID` for an `onProgress` that is not a function.
 */
export function verifyRing(path: string, onProgress?: (done: number, total: number) => void): VerifyReport {
  pathArg("path", path);
  functionOption("onProgress", onProgress);
  const { layout, files } = openRingFiles(path, {
    readonly: true,
    lockTimeout: 0,
    recordSize: undefined,
    capacity: undefined,
    shards: undefined,
  });
  const bad: VerifyReport["bad"] = [];
  let checked = 0;
  let done = 0;
  try {
    const { next, uncheckedBelow } = readHeadWords(files[0]!);
    const perChunk = Math.max(1, Math.floor((1 << 20) / layout.slotBytes));
    const chunk = new Uint8Array(perChunk * layout.slotBytes);
    const view = new DataView(chunk.buffer);
    for (let s = 0; s < layout.shards; s++) {
      const file = files[s]!;
      const slots = slotsInShard(layout, s);
      for (let from = 0; from < slots; from += perChunk) {
        const n = Math.min(perChunk, slots - from);
        const got = file.read(chunk.subarray(0, n * layout.slotBytes), DATA_OFFSET + from * layout.slotBytes);
        for (let k = 0; k < n; k++) {
          const slot = s * layout.slotsPerShard + from + k;
          const off = k * layout.slotBytes;
          if (off + layout.slotBytes > got) {
            bad.push({ id: slot, reason: `slot ${slot}: ${shardPath(path, s)} ends inside it` });
            continue;
          }
          const meta = view.getUint32(off, true);
          const id = joinId(view.getUint32(off + 4, true), view.getUint32(off + 8, true));
          const crc = view.getUint32(off + 12, true);
          const kind = metaKind(meta, layout.recordSize);
          // Every id in the window has its slot written (skipped ones are marked deleted).
          const expected = windowIdOf(slot, next, layout.capacity);
          const mustHold = expected >= uncheckedBelow;
          if (kind === META_EMPTY) {
            if (mustHold) bad.push({ id: expected, reason: `slot ${slot}: empty, but id ${expected} of the window belongs here` });
            continue;
          }
          checked++;
          if (kind === META_BUSY) {
            if (id < next) bad.push({ id, reason: `slot ${slot}: a write was interrupted here` });
            continue;
          }
          if (kind !== META_WRITTEN && kind !== META_DELETED) {
            bad.push({ id: slot, reason: `slot ${slot}: meta word 0x${meta.toString(16)} is not a valid state` });
            continue;
          }
          const length = kind === META_WRITTEN ? metaLength(meta) : 0;
          const start = off + 16;
          const computed = slotCrc(id, meta, chunk.subarray(start, start + length));
          if (computed !== crc) {
            bad.push({ id, reason: `slot ${slot}: stored CRC 0x${crc.toString(16)}, computed 0x${computed.toString(16)}` });
          } else if (id % layout.capacity !== slot) {
            bad.push({ id, reason: `slot ${slot}: holds id ${id}, which belongs in slot ${id % layout.capacity}` });
          } else if (mustHold && id < expected) {
            bad.push({ id: expected, reason: `slot ${slot}: holds the older id ${id}, but id ${expected} of the window belongs here` });
          }
        }
        done += n;
        onProgress?.(done, layout.capacity);
      }
    }
  } finally {
    for (const f of files) f.close();
  }
  return { checked, bad };
}
