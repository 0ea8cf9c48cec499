/**
 * The jump block in shard 0's header page (see JUMPS in layout.ts): the unchecked floor
 * and the latest jump (`write(id)` past `next`, or a batch larger than the ring), which the
 * writer stores before the slots and the head it covers are written.
 */
import type { Mapping } from "../../ffi/index.ts";
import { JUMPS } from "./layout.ts";

/** `[uncheckedBelow, jumpFrom, jumpTo]`: ids below the floor were skipped; the jump runs from `jumpFrom` to `jumpTo`. */
export type Jumps = readonly [uncheckedBelow: number, jumpFrom: number, jumpTo: number];

/** The jump block as stored (0s when never written). */
export function readJumps(headMap: Mapping, path: string): [number, number, number] {
  const values = JUMPS.read(headMap.bytes, path)?.values;
  return [values?.[0] ?? 0, values?.[1] ?? 0, values?.[2] ?? 0];
}

/** Store the jump block (the writer only); `sync`: flush it before the slots it covers are written. */
export function writeJumps(headMap: Mapping, path: string, jumps: Jumps, sync: boolean): void {
  const bytes = headMap.bytes;
  const seq = JUMPS.read(bytes, path)?.seq ?? 0;
  JUMPS.write(bytes, seq + 1, jumps);
  if (sync) headMap.sync(JUMPS.offset, JUMPS.size);
}
