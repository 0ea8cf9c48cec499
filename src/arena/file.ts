/**
 * The file behind `ArenaCache.open(path)`: creating it, checking it, and mapping its parts.
 *
 * ```
 *         0  header (src/primitives/header.ts), kind "ARNA", the fields in ARENA_FIELDS
 *      2048  ready word: READY once the file is fully initialized
 *  pageSize  registry of handles (primitives/shared-mutex.ts): registrySlots × 32 B
 *  stripesOffset + i × stripeBytes: stripe i, each part page-aligned:
 *            meta   (state words incl. the lock, counters, slot metadata, index, leases)
 *            policy (the eviction policy's arrays)
 *            arena  (slabs × slabBytes of records)
 * ```
 * Every part is mapped on its own (MAP_SHARED), so each is an ArrayBuffer of its own, as in
 * the in-memory caches, and no mapping passes 4 GiB.
 *
 * Opening holds an exclusive `flock` on the file for its duration (waiting with sleeps, up
 * to `lockTimeout`), so one process creates while the others wait; nothing holds it after.
 * A new file is written in full (zeros, then the header) before it is mapped, so its pages
 * exist on tmpfs and on disk: a full disk is `ERR_SYSTEM` (ENOSPC) from open, never a
 * SIGBUS later. The ready word is written last: a file whose creator died before that is
 * initialized again by the next opener (nobody can have used it).
 */
import { existsSync, unlinkSync } from "node:fs";
import { File, Lock, Mapping, platform } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";
import { assertSameOptions, encodeHeader, readHeader, registerKind, type HeaderSpec } from "../primitives/header.ts";
import { POLICY_NAMES, policyBytes, type PolicyName } from "../policy/index.ts";
import type { CachePlan, LayoutOptions } from "./config.ts";
import { MAX_SHARD_ARENA, MAX_STRIPES } from "./config.ts";
import { OwnerRegistry } from "../primitives/shared-mutex.ts";
import { Shard, type ShardConfig } from "./shard.ts";

/** Header fields of a shared cache file, in stored order. */
export const ARENA_FIELDS = [
  "maxBytes",
  "ttlMicros",
  "policy",
  "stripes",
  "maxEntries",
  "slabBytes",
  "slabs",
  "registrySlots",
  "registryOffset",
  "stripesOffset",
  "metaBytes",
  "policyBytes",
  "arenaBytes",
  "stripeBytes",
  "fileBytes",
] as const;

/** A header field name. */
export type ArenaField = (typeof ARENA_FIELDS)[number];

/** The header spec of shared cache files. */
export const ARENA_SPEC: HeaderSpec<ArenaField> = { kind: "ARNA", name: "shared ArenaCache", version: 1, fields: ARENA_FIELDS };
registerKind(ARENA_SPEC);

/** Byte offset of the ready word in the first page. */
export const READY_OFFSET = 2048;
/** The ready word's value once a file is initialized ("ARN1"). */
const READY = 0x314e5241;
/** Handles that can be open on one file at once. */
export const FILE_REGISTRY_SLOTS = 1023;

/** Where everything is in a cache file. */
export type FileLayout = Record<ArenaField, number>;

const page = platform.pageSize;
const roundPage = (n: number) => Math.ceil(n / page) * page;

/** The file layout for a cache plan. */
export function fileLayout(plan: CachePlan): FileLayout {
  const cfg = plan.shard;
  const metaBytes = Shard.metaBytes(cfg);
  const polBytes = policyBytes(cfg.policy, cfg.maxEntries);
  const arenaBytes = cfg.slabBytes * cfg.slabs;
  const registryOffset = page;
  const stripesOffset = registryOffset + roundPage(OwnerRegistry.bytes(FILE_REGISTRY_SLOTS));
  const stripeBytes = roundPage(metaBytes) + roundPage(polBytes) + roundPage(arenaBytes);
  return {
    maxBytes: plan.maxBytes,
    ttlMicros: Math.round(plan.ttl * 1000),
    policy: POLICY_NAMES.indexOf(plan.policy),
    stripes: plan.stripes,
    maxEntries: cfg.maxEntries,
    slabBytes: cfg.slabBytes,
    slabs: cfg.slabs,
    registrySlots: FILE_REGISTRY_SLOTS,
    registryOffset,
    stripesOffset,
    metaBytes,
    policyBytes: polBytes,
    arenaBytes,
    stripeBytes,
    fileBytes: stripesOffset + plan.stripes * stripeBytes,
  };
}

/** The plan a stored layout describes. */
export function planOf(l: FileLayout): CachePlan {
  const policy = POLICY_NAMES[l.policy] as PolicyName;
  const shard: ShardConfig = { maxBytes: Math.floor(l.maxBytes / l.stripes), maxEntries: l.maxEntries, slabBytes: l.slabBytes, slabs: l.slabs, policy };
  return { maxBytes: l.maxBytes, ttl: l.ttlMicros / 1000, policy, stripes: l.stripes, shard };
}

/** Check that a stored layout is one this code could have written; `ERR_CORRUPT` if not. */
function checkLayout(path: string, l: FileLayout): void {
  const bad = (why: string) => new OffheapError("ERR_CORRUPT", `${path}: the header's layout is impossible (${why})`, { path });
  if (l.policy >= POLICY_NAMES.length) throw bad(`policy ${l.policy}`);
  if (l.stripes < 1 || l.stripes > MAX_STRIPES) throw bad(`${l.stripes} stripes`);
  if (l.maxEntries < 1 || l.maxEntries > 2 ** 30 || l.slabBytes < 8 || l.slabs < 3) throw bad("entries or slabs");
  if (l.slabBytes * l.slabs > MAX_SHARD_ARENA || l.arenaBytes !== l.slabBytes * l.slabs) throw bad("arena size");
  if (Math.floor(l.maxBytes / l.stripes) < 64) throw bad("maxBytes");
  const plan = planOf(l);
  if (l.metaBytes < Shard.metaBytes(plan.shard) || l.policyBytes < policyBytes(plan.policy, l.maxEntries)) throw bad("stripe parts too small");
  if (l.registrySlots < 1 || l.registrySlots > FILE_REGISTRY_SLOTS) throw bad(`${l.registrySlots} registry slots`);
  for (const f of ["registryOffset", "stripesOffset", "stripeBytes"] as const) if (l[f] % page !== 0) throw bad(`${f} not page-aligned`);
  if (l.registryOffset < page || l.registryOffset + OwnerRegistry.bytes(l.registrySlots) > l.stripesOffset) throw bad("registry");
  if (l.stripeBytes < roundPage(l.metaBytes) + roundPage(l.policyBytes) + roundPage(l.arenaBytes)) throw bad("stripe size");
  if (l.fileBytes !== l.stripesOffset + l.stripes * l.stripeBytes) throw bad("file size");
}

/** The mapped parts of one stripe. */
export interface StripeMappings {
  meta: Mapping;
  policy: Mapping;
  arena: Mapping;
}

/** An open cache file, mapped. */
export interface MappedCache {
  layout: FileLayout;
  registry: Mapping;
  stripes: StripeMappings[];
  /** Every mapping, to close. */
  all: Mapping[];
  /** True when the file was (re)initialized by this open: the stripes must be reset. */
  fresh: boolean;
}

/** What a caller asked of `open`. */
export interface OpenRequest {
  /** The options given; `maxBytes` undefined means "the file's" (it must exist then). */
  given: Partial<LayoutOptions>;
  /** The layout to create, when the caller gave enough to create one. */
  plan: CachePlan | undefined;
  lockTimeout: number;
}

function storedOptions(l: FileLayout) {
  return {
    maxBytes: l.maxBytes,
    ttl: l.ttlMicros / 1000,
    policy: POLICY_NAMES[l.policy] ?? String(l.policy),
    stripes: l.stripes,
    maxEntries: l.maxEntries * l.stripes,
    slabBytes: l.slabBytes,
  };
}

function givenOptions(g: Partial<LayoutOptions>, l: FileLayout) {
  return {
    maxBytes: g.maxBytes,
    ttl: g.ttl === undefined ? undefined : Math.round(g.ttl * 1000) / 1000,
    policy: g.policy,
    stripes: g.stripes,
    // What the planner makes of a total: a per-stripe count, rounded up.
    maxEntries: g.maxEntries === undefined ? undefined : Math.ceil(g.maxEntries / l.stripes) * l.stripes,
    slabBytes: g.slabBytes === undefined ? undefined : (g.slabBytes + 7) & ~7,
  };
}

const ZEROS = new Uint8Array(1 << 20);

/** Write the whole file: zeros (allocating every page), then the header. */
function writeNew(file: File, l: FileLayout): void {
  for (let at = 0; at < l.fileBytes; at += ZEROS.length) file.write(ZEROS.subarray(0, Math.min(ZEROS.length, l.fileBytes - at)), at);
  file.write(encodeHeader(ARENA_SPEC, l), 0);
}

function readReady(file: File): number {
  const b = new Uint8Array(4);
  file.read(b, READY_OFFSET);
  return new DataView(b.buffer).getUint32(0, true);
}

function mapAll(file: File, l: FileLayout): MappedCache {
  const all: Mapping[] = [];
  const map = (offset: number, length: number) => {
    const m = Mapping.file(file, { offset, length: Math.max(length, 8) });
    all.push(m);
    return m;
  };
  try {
    const registry = map(l.registryOffset, OwnerRegistry.bytes(l.registrySlots));
    const stripes: StripeMappings[] = [];
    for (let i = 0; i < l.stripes; i++) {
      const base = l.stripesOffset + i * l.stripeBytes;
      const policyAt = base + roundPage(l.metaBytes);
      const arenaAt = policyAt + roundPage(l.policyBytes);
      stripes.push({ meta: map(base, l.metaBytes), policy: map(policyAt, l.policyBytes), arena: map(arenaAt, l.arenaBytes) });
    }
    return { layout: l, registry, stripes, all, fresh: false };
  } catch (e) {
    for (const m of all) m.close();
    throw e;
  }
}

/**
 * Open (creating if missing or empty) the cache file at `path` and map it; `build` runs
 * on the mappings while the open lock is held (it resets the stripes of a fresh file), and
 * only after it returns is a fresh file marked ready. On failure nothing is left mapped, a
 * file this call created is removed, and an existing file is as it was.
 */
export function openCacheFile<T>(path: string, req: OpenRequest, build: (m: MappedCache) => T): T {
  // Bad options for a new file fail before anything is created.
  const existed = existsSync(path);
  if (!existed && req.plan === undefined) {
    throw new OffheapError("ERR_INVALID", `${path} does not exist: give maxBytes to create a shared cache there`, { path });
  }
  const file = File.open(path, { create: true, mode: 0o600 });
  const lock = new Lock(file, "exclusive");
  let created = false;
  let mapped: MappedCache | undefined;
  try {
    lock.lockSync(req.lockTimeout);
    let l: FileLayout;
    let fresh = false;
    if (file.size === 0) {
      if (req.plan === undefined) throw new OffheapError("ERR_INVALID", `${path} is empty: give maxBytes to create a shared cache there`, { path });
      l = fileLayout(req.plan);
      created = true;
      writeNew(file, l);
      fresh = true;
    } else {
      l = readHeader(ARENA_SPEC, file);
      checkLayout(path, l);
      assertSameOptions(path, "this shared cache", storedOptions(l), givenOptions(req.given, l));
      const size = file.size;
      if (size !== l.fileBytes) {
        throw new OffheapError("ERR_CORRUPT", `${path}: a shared cache of this layout is ${l.fileBytes} bytes; the file has ${size}`, { path });
      }
      if (readReady(file) !== READY) {
        // Its creator died before finishing: nobody ever mapped it. Start over.
        writeNew(file, l);
        fresh = true;
      }
    }
    mapped = mapAll(file, l);
    mapped.fresh = fresh;
    const out = build(mapped);
    if (fresh) {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, READY, true);
      file.write(b, READY_OFFSET);
    }
    return out;
  } catch (e) {
    if (mapped) for (const m of mapped.all) m.close();
    if (created) {
      // Leave the path as it was: missing, or empty.
      try {
        if (existed) file.truncate(0);
        else unlinkSync(path);
      } catch {
        // the original error says more
      }
    }
    throw e;
  } finally {
    lock.unlock();
    file.close();
  }
}
