/**
 * Opening a ring handle: its shard files (files.ts), their mappings and slot store for the
 * I/O mode, and the checks and repairs of recovery.ts, in the order they must run. On any
 * failure everything opened so far is closed again.
 */
import { Mapping, writerHolds, type File, type Lock } from "../../ffi/index.ts";
import { openRingFiles } from "./files.ts";
import { loadHead } from "./head.ts";
import { readJumps, writeJumps } from "./jumps.ts";
import { DATA_OFFSET, shardFileBytes, shardPath, type RingLayout } from "./layout.ts";
import type { RingOptions, RingSettings } from "./options.ts";
import { checkHead, recoverHead, repairInterrupted, settledHead, unwindJump } from "./recovery.ts";
import { MmapSlots, PreadSlots, type SlotStore } from "./store.ts";

/** An open ring, checked, as a new handle takes it over. */
export interface OpenedRing {
  layout: RingLayout;
  files: File[];
  /** The writer's lock (undefined for a read-only handle). */
  lock: Lock | undefined;
  store: SlotStore;
  /** Shard 0's header page (the head words, the waiters counter, the jump block). */
  headMap: Mapping;
  headWords: Int32Array;
  /** The writer's head as recovered (0 for a reader). */
  next: number;
  /** The head the writer publishes at once: past what a killed writer left whole (see settledHead). */
  settled: number;
  /** The writer's copy of the jump block ([0, 0, 0] for a reader). */
  jumps: [number, number, number];
  /** A reader's floor for its view of the head (0 for a writer). */
  headAtLeast: number;
}

/** Open, map and check the ring at `path` for a handle with `settings`. */
export function openRing(path: string, settings: RingSettings, options: RingOptions): OpenedRing {
  const { readonly, io } = settings;
  const opened = openRingFiles(path, {
    readonly,
    lockTimeout: settings.lockTimeout,
    recordSize: options.recordSize,
    capacity: options.capacity,
    shards: options.shards,
    zeroAhead: io === "mmap",
  });
  const { layout, files, lock, zero } = opened;
  const maps: Mapping[] = [];
  try {
    let store: SlotStore;
    let headMap: Mapping;
    if (io === "mmap") {
      files.forEach((f, i) => maps.push(Mapping.file(f, { length: shardFileBytes(layout, i), readonly })));
      store = new MmapSlots(layout, files.map((_, i) => shardPath(path, i)), maps, readonly, zero);
      headMap = maps[0]!;
    } else {
      headMap = Mapping.file(files[0]!, { length: DATA_OFFSET, readonly });
      maps.push(headMap);
      store = new PreadSlots(layout, files, readonly);
    }
    const headWords = new Int32Array(headMap.buffer, 0, DATA_OFFSET / 4);
    const path0 = shardPath(path, 0);
    const base = { layout, files, lock, store, headMap, headWords };
    if (readonly) {
      checkHead(store, headWords, headMap, loadHead(headWords), path0, undefined);
      // No writer will publish what a dead one left whole until one opens: see it meanwhile.
      const headAtLeast = writerHolds(files[0]!) ? 0 : settledHead(store, loadHead(headWords), readJumps(headMap, path0));
      return { ...base, next: 0, settled: 0, jumps: [0, 0, 0], headAtLeast };
    }
    const next = recoverHead(store, headWords, path0);
    const jumps = readJumps(headMap, path0);
    repairInterrupted(store, next, layout.capacity);
    checkHead(store, headWords, headMap, next, path0, jumps);
    const settled = settledHead(store, next, jumps);
    if (settled === next && unwindJump(store, next, jumps, layout.capacity)) {
      jumps[1] = jumps[2] = 0;
      writeJumps(headMap, path, jumps, settings.sync !== "none");
    }
    return { ...base, next, settled, jumps, headAtLeast: 0 };
  } catch (e) {
    zero?.close(); // before the files: nothing may be written through their descriptors after
    for (const m of maps) m.close();
    lock?.unlock();
    for (const f of files) f.close();
    throw e;
  }
}
