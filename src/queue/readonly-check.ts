/**
 * The checks of a read-only open. A read-only handle trusts the shared state instead of
 * recomputing it (it may not write, and a writer may be mid-call), so before it trusts it
 * the state must hold together and agree with the index entries, which are checksummed
 * where the state is not: a damaged `first`, `next` or count, or damaged entries, are
 * `ERR_CORRUPT` here, never items silently hidden.
 *
 * A writer may be mid-call while we look; only a failure that persists while the change
 * word stands still is damage. Plain loads throughout: the mapping is read-only.
 */
import { isNotFound } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";
import { deriveState, holdsNothing, type DerivedState } from "./recovery.ts";
import type { Segment } from "./segment.ts";
import type { SegmentTable } from "./segment-table.ts";
import type { SharedState } from "./shared-state.ts";

/**
 * Every value a writer stores is a non-negative integer, and once no mutation is under
 * way `count` fits between `first` and `next`, which are at or above the crash-safe
 * floors. `ERR_CORRUPT` otherwise.
 */
export function checkState(shared: SharedState): void {
  let problem: string | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const changes = shared.changes;
    const dirty = shared.dirty;
    const { first, next, count, bytes } = shared;
    problem = undefined;
    for (const [name, v] of [["first", first], ["next", next], ["count", count], ["bytes", bytes]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) problem ??= `shared state says ${name} is ${v}; expected a non-negative integer`;
    }
    if (problem === undefined && !dirty) {
      const [firstFloor, nextFloor] = shared.readFloors();
      if (first > next) problem = `shared state says first ${first} is past next ${next}`;
      else if (count > next - first) problem = `shared state counts ${count} items between first ${first} and next ${next}`;
      else if (first < firstFloor) problem = `shared state says first is ${first}, below the floor ${firstFloor}`;
      else if (next < nextFloor) problem = `shared state says next is ${next}, below the floor ${nextFloor}`;
    }
    if (problem === undefined) return;
    // Values are stored whole, so a bad one is damage whatever a writer is doing; a
    // relation may be caught mid-call, so look again a little later.
    if (problem.includes("integer") || attempt === 4) break;
    if (shared.changes === changes) Bun.sleepSync(1);
  }
  throw new OffheapError("ERR_CORRUPT", `${shared.path}: ${problem}`, { path: shared.path });
}

/**
 * Every segment's data file must be there and readable, and — while no writer is
 * mid-call — the shared state and each segment's live area must be what the index
 * entries say. A writer busy the whole time leaves the state unchecked: its own open
 * recomputed it. A segment of removed items only whose data file is gone (a removal a
 * crash cut short) is dropped from `table`.
 */
export function checkAgainstIndex(shared: SharedState, table: SegmentTable): void {
  for (const segment of [...table.list]) {
    try {
      segment.probeData();
    } catch (e) {
      if (!isNotFound(e)) throw e;
      if (!holdsNothing(segment)) {
        throw new OffheapError("ERR_CORRUPT", `${segment.dataPath} is missing, but its index ${segment.indexPath} lists items`, { path: segment.dataPath, cause: e });
      }
      segment.close();
      table.remove(segment);
      table.resumeTail();
    }
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    if (attempt > 0) Bun.sleepSync(1);
    const changes = shared.changes;
    if (shared.dirty) continue;
    if (table.stale) table.relist();
    const [firstFloor, nextFloor] = shared.readFloors();
    const derived = deriveState(table.list, firstFloor, nextFloor);
    const stored = { first: shared.first, next: shared.next, count: shared.count, bytes: shared.bytes };
    const areas = table.list.map((s) => ({ written: s.written, live: s.live, liveBytes: s.liveBytes, dataEnd: s.dataEnd }));
    if (shared.dirty || shared.changes !== changes) continue; // a writer moved meanwhile
    const problem = stateProblem(derived, stored, areas, table.list);
    if (problem !== undefined) throw new OffheapError("ERR_CORRUPT", `${shared.path}: ${problem}`, { path: shared.path });
    return;
  }
}

/**
 * What differs between the shared state (and segment live areas) a read-only open found
 * and what the index entries say, or `undefined`. With damaged entries among them, only
 * what they can't change is compared: next, each segment's entries, and that no item
 * known live lies below `first`.
 */
function stateProblem(
  derived: DerivedState,
  stored: { first: number; next: number; count: number; bytes: number },
  areas: ReadonlyArray<{ written: number; live: number; liveBytes: number; dataEnd: number }>,
  segments: readonly Segment[],
): string | undefined {
  const found = (what: string, value: number, expected: number | string) => `the shared state says ${what} is ${value}, but the index files say ${expected}`;
  if (stored.next !== derived.next) return found("next", stored.next, derived.next);
  for (let k = 0; k < segments.length; k++) {
    const a = areas[k]!;
    const d = derived.segments[k]!;
    const where = `segment ${segments[k]!.base}`;
    if (a.written !== d.written) return `${where}: its live area says ${a.written} entries written, but it holds ${d.written}`;
    if (derived.damaged > 0) continue;
    if (a.live !== d.live || a.liveBytes !== d.liveBytes || a.dataEnd !== d.dataEnd) {
      return `${where}: its live area says ${a.live} live items, ${a.liveBytes} bytes, data to ${a.dataEnd}; its entries say ${d.live}, ${d.liveBytes}, ${d.dataEnd}`;
    }
  }
  if (derived.damaged > 0) {
    if (stored.first > derived.firstKnownLive) return found("first", stored.first, `at most ${derived.firstKnownLive}`);
    return undefined;
  }
  if (stored.first !== derived.first) return found("first", stored.first, derived.first);
  if (stored.count !== derived.count) return found("the item count", stored.count, derived.count);
  if (stored.bytes !== derived.bytes) return found("the byte count", stored.bytes, derived.bytes);
  return undefined;
}
