/**
 * What a queue's files say, for recovery (the writer) and for the check of a read-only
 * open: which entries exist, which are live, which a crash lost or left torn.
 *
 * Recovery is two steps, so that a queue that can't be read is left exactly as it was:
 * {@link planRecovery} reads every file and decides, throwing `ERR_CORRUPT`/`ERR_SYSTEM`
 * with nothing touched; then the queue applies the plan.
 *
 * The rule: unreadable is an error, and only a tail proven torn is dropped. The crash-safe
 * floors say how far the index is known complete: every item below `nextFloor` had its
 * entry written (and, with a sync mode, flushed) before the floor was raised — at
 * rollover, close, truncate, segment removal and recovery. Below it a blank or damaged
 * entry is damage (`ERR_CORRUPT`), and bytes that fail their CRC are left for reads to
 * report, never dropped. Past it, among items appended since, entries a crash lost are
 * rebuilt from the self-describing records, and the last segment's trailing items whose
 * bytes fail their CRC (writes that never finished) are dropped.
 *
 * {@link recover} is the whole of it for a writer holding the lock: plan, apply, and the
 * shared state rebuilt from what the index then holds.
 */
import { join } from "node:path";
import { OffheapError } from "../errors.ts";
import { listDir, removeFile } from "../primitives/publish.ts";
import { DATA_START, RECORD_HEADER, parseSegmentName, segmentFileName } from "./layout.ts";
import type { QueueRemover } from "./removal.ts";
import { dataFileIsEmpty, Segment, type SegmentGeometry } from "./segment.ts";
import type { SegmentTable } from "./segment-table.ts";
import type { SharedState } from "./shared-state.ts";

/** What recovery does to one segment. */
export interface SegmentPlan {
  segment: Segment;
  /** Entries in use once the plan is applied. */
  written: number;
  /** Entries to write, rebuilt from their records: `[pos, offset, length, crc]` repeated. */
  rebuild: number[];
}

/** Everything recovery will change, decided before anything changes. */
export interface RecoveryPlan {
  /** Files to unlink: temp files of dead creates, data files of creates that died empty. */
  remove: string[];
  /** Index files whose data file is gone and whose items were all removed (a removal that died halfway). */
  orphans: Segment[];
  /** The segments, in order, each with its plan. */
  plans: SegmentPlan[];
}

/** Live items and bytes of one segment, and where its data ends. */
export interface SegmentCounts {
  live: number;
  liveBytes: number;
  dataEnd: number;
}

function corrupt(path: string, message: string): OffheapError {
  return new OffheapError("ERR_CORRUPT", `${path}: ${message}`, { path });
}

function damagedEntry(segment: Segment, pos: number): OffheapError {
  return corrupt(segment.indexPath, `entry ${pos} (item ${segment.base + pos}) is damaged: its check does not match its offset, length, CRC and flags`);
}

/** How many entry positions of segment `k` can hold items (up to where the next one starts). */
export function roomOf(segments: readonly Segment[], k: number): number {
  const segment = segments[k]!;
  const following = segments[k + 1];
  return following === undefined ? segment.limit : Math.min(segment.limit, following.base - segment.base);
}

/** Where recovery finds the queue's files and what it rebuilds. */
export interface RecoveryTarget {
  dir: string;
  prefix: string;
  geometry: SegmentGeometry;
  shared: SharedState;
  table: SegmentTable;
  remover: QueueRemover;
}

/**
 * Rebuild the shared state from the files (under the lock). Every file is read and
 * judged first ({@link planRecovery}); a queue that can't be read throws with every file
 * as it was. Then: lost entries are rebuilt, a torn tail dropped, stale entries cleared,
 * the counts recomputed, segments with nothing live removed, and the floors raised to
 * what the index now holds.
 */
export function recover(target: RecoveryTarget): void {
  const { shared, table, remover } = target;
  table.closeAll();
  const [firstFloor, nextFloor, lastEpoch] = shared.readFloors();
  const plan = planRecovery(target.dir, target.prefix, target.geometry, nextFloor);
  // Decided: from here on the files change.
  for (const path of plan.remove) removeFile(path);
  for (const orphan of plan.orphans) {
    removeFile(orphan.indexPath);
    orphan.close();
  }
  const segments = plan.plans.map((p) => p.segment);
  table.replace(segments);
  let next = nextFloor;
  let count = 0;
  let bytes = 0;
  for (const p of plan.plans) {
    applySegmentPlan(p);
    const counts = countSegment(p.segment, p.written, firstFloor, true);
    p.segment.written = p.written;
    p.segment.live = counts.live;
    p.segment.liveBytes = counts.liveBytes;
    p.segment.dataEnd = counts.dataEnd;
    count += counts.live;
    bytes += counts.liveBytes;
    next = Math.max(next, p.segment.base + p.written);
  }
  // Records written from now on carry a higher epoch than anything a dead writer left.
  const epoch = Math.min(lastEpoch + 1, 0xffffffff);
  shared.restore({ first: Math.min(Math.max(firstFloor, segments[0]?.base ?? next), next), next, count, bytes, epoch });
  for (const segment of [...segments]) if (segment.live <= 0) remover.removeSegment(segment);
  remover.advanceFirst();
  shared.raiseFloors(table.list, { epoch });
  table.seen(shared.bumpSegmentGeneration());
  shared.recovered();
}

/**
 * Read the queue's files and decide what recovery does. Opens every segment writable (the
 * caller owns the returned segments); throws, with every file as it was, when a file can't
 * be opened or read (`ERR_SYSTEM`), is damaged (`ERR_CORRUPT`/`ERR_FORMAT`), or is missing
 * while its partner holds items.
 */
export function planRecovery(dir: string, prefix: string, geometry: SegmentGeometry, nextFloor: number): RecoveryPlan {
  const remove: string[] = [];
  const idx = new Set<number>();
  const dat = new Set<number>();
  for (const name of listDir(dir)) {
    if (name.startsWith(`${prefix}-`) && name.includes(".tmp-")) {
      remove.push(join(dir, name)); // a segment half made by a process that died holding the lock
      continue;
    }
    const parsed = parseSegmentName(prefix, name);
    if (parsed !== undefined) (parsed.ext === "idx" ? idx : dat).add(parsed.base);
  }
  for (const base of dat) {
    if (idx.has(base)) continue;
    const path = join(dir, segmentFileName(prefix, base, "dat"));
    if (!dataFileIsEmpty(path, base, geometry)) {
      throw corrupt(path, `holds items, but its index file ${segmentFileName(prefix, base, "idx")} is missing`);
    }
    remove.push(path); // a create that died before publishing the index
  }
  const opened: Segment[] = [];
  try {
    const segments: Segment[] = [];
    const orphans: Segment[] = [];
    for (const base of [...idx].sort((a, b) => a - b)) {
      const segment = Segment.open(dir, prefix, base, geometry, false);
      opened.push(segment);
      if (dat.has(base)) {
        segment.probeData();
        segments.push(segment);
      } else if (holdsNothing(segment)) {
        orphans.push(segment);
      } else {
        throw corrupt(segment.dataPath, `is missing, but its index ${segment.indexPath} lists items`);
      }
    }
    const plans = segments.map((segment, k) => planSegment(segment, roomOf(segments, k), k === segments.length - 1, nextFloor));
    return { remove, orphans, plans };
  } catch (e) {
    for (const s of opened) s.close();
    throw e;
  }
}

/** Whether every entry of `segment` is blank or a removed item. */
export function holdsNothing(segment: Segment): boolean {
  for (let pos = 0; pos < segment.limit; pos++) {
    if (segment.isBlank(pos)) continue;
    if (segment.entryOk(pos) && !segment.isLive(pos)) continue;
    return false;
  }
  return true;
}

/**
 * The plan for one segment (see the module comment). Reads only.
 *
 * A segment's entries end where its items end: later items went to the next segment,
 * which may since have been removed. So a blank entry is where the entries end unless the
 * data file holds the record of that position: then the entry was lost, which below the
 * floor is damage and past it a crash (rebuilt).
 */
function planSegment(segment: Segment, room: number, isTail: boolean, nextFloor: number): SegmentPlan {
  const floorPos = Math.max(0, Math.min(room, nextFloor - segment.base));
  const rebuild: number[] = [];
  let written = 0;
  let at = DATA_START;
  let minEpoch = 0;
  while (written < room) {
    if (segment.entryOk(written)) {
      at = segment.offset(written) + segment.length(written);
      minEpoch = segment.recordEpoch(segment.offset(written));
      written++;
      continue;
    }
    if (segment.damaged(written)) throw damagedEntry(segment, written);
    const record = segment.readRecord(at, written, minEpoch);
    if (record === undefined) break;
    if (written < floorPos) {
      throw corrupt(
        segment.indexPath,
        `entry ${written} (item ${segment.base + written}) is blank, but its record is in the data file and every item below ${nextFloor} was indexed: the index file was damaged`,
      );
    }
    rebuild.push(written, at + RECORD_HEADER, record.length, record.crc);
    at += RECORD_HEADER + record.length;
    minEpoch = record.epoch;
    written++;
  }
  // Entries past the end are cleared: never one below the floor.
  for (let pos = written; pos < floorPos; pos++) {
    if (!segment.isBlank(pos)) throw corrupt(segment.indexPath, `entry ${pos} (item ${segment.base + pos}) follows a blank entry: the index file was damaged`);
  }
  if (isTail) {
    // Trailing items whose bytes never fully reached the file: a write a crash cut short.
    while (written > floorPos) {
      const pos = written - 1;
      if (rebuild.length > 0 && rebuild[rebuild.length - 4] === pos) break; // its record passed its CRC
      if (!segment.isLive(pos) || segment.check(pos) === undefined) break;
      written--;
    }
  }
  return { segment, written, rebuild };
}

/** Write a plan's rebuilt entries and clear every entry past what it keeps. */
export function applySegmentPlan(plan: SegmentPlan): void {
  const { segment, written, rebuild } = plan;
  for (let i = 0; i < rebuild.length; i += 4) segment.writeEntry(rebuild[i]!, rebuild[i + 1]!, rebuild[i + 2]!, rebuild[i + 3]!);
  for (let pos = written; pos < segment.limit; pos++) if (!segment.isBlank(pos)) segment.clearEntry(pos);
}

/**
 * Count the live items among the first `written` entries of `segment` (only entries whose
 * check matches), ignoring those below `firstFloor` (gone whatever their entry says; with
 * `mark`, their entries are marked deleted).
 */
export function countSegment(segment: Segment, written: number, firstFloor: number, mark: boolean): SegmentCounts {
  let live = 0;
  let liveBytes = 0;
  let dataEnd = DATA_START;
  const limit = segment.geometry.segmentBytes;
  for (let pos = 0; pos < written; pos++) {
    if (!segment.entryOk(pos)) continue;
    const end = segment.offset(pos) + segment.length(pos);
    if (end > dataEnd && end <= limit) dataEnd = end;
    if (!segment.isLive(pos)) continue;
    if (segment.base + pos < firstFloor) {
      if (mark) segment.markDeleted(pos);
      continue;
    }
    live++;
    liveBytes += segment.length(pos);
  }
  return { live, liveBytes, dataEnd };
}

/** The state a read-only open derives from the index files, to hold the shared state against. */
export interface DerivedState {
  first: number;
  next: number;
  count: number;
  bytes: number;
  /** Entries that are set but fail their check: while there are any, count and first are bounds. */
  damaged: number;
  /** The first item known live (or `next`). */
  firstKnownLive: number;
  /** Per segment: entries in use (set ones, damaged included), and its counts. */
  segments: Array<SegmentCounts & { written: number }>;
}

/** Derive first, next, count and bytes from the entries of `segments` (reads only). */
export function deriveState(segments: readonly Segment[], firstFloor: number, nextFloor: number): DerivedState {
  let next = nextFloor;
  let count = 0;
  let bytes = 0;
  let damaged = 0;
  let first = Infinity;
  let firstKnownLive = Infinity;
  const out: DerivedState["segments"] = [];
  segments.forEach((segment, k) => {
    const room = roomOf(segments, k);
    let written = 0;
    while (written < room && !segment.isBlank(written)) {
      if (segment.damaged(written)) {
        damaged++;
        if (segment.base + written >= firstFloor) first = Math.min(first, segment.base + written);
      } else if (segment.isLive(written) && segment.base + written >= firstFloor) {
        first = Math.min(first, segment.base + written);
        firstKnownLive = Math.min(firstKnownLive, segment.base + written);
      }
      written++;
    }
    const counts = countSegment(segment, written, firstFloor, false);
    count += counts.live;
    bytes += counts.liveBytes;
    next = Math.max(next, segment.base + written);
    out.push({ ...counts, written });
  });
  return { first: Math.min(first, next), next, count, bytes, damaged, firstKnownLive: Math.min(firstKnownLive, next), segments: out };
}
