/**
 * The memory behind an ArenaCache, by how the handle came to be: its own (private, in
 * anonymous mmap; or Worker-shared, in SharedArrayBuffers), a Worker's view from an
 * {@link ArenaHandle}, or a process's view of a cache file's mappings. Each gives the
 * stripes and, when shared, the registry of who may lock them and how to wait for a lock.
 */
import { futexWait, futexWake, Mapping } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";
import { optionalArg } from "../primitives/arguments.ts";
import { type Allocator, sharedAllocator } from "../primitives/carver.ts";
import { atomicsWaiter, type LockWaiter, OwnerRegistry } from "../primitives/shared-mutex.ts";
import { type CachePlan, planCache } from "./config.ts";
import { planOf, type MappedCache } from "./file.ts";
import type { ArenaCacheOptions, ArenaHandle } from "./options.ts";
import { LOCK, Shard } from "./shard.ts";

/** The memory behind a cache: its stripes and, when shared, who may lock them and how to wait. */
export interface Backing {
  plan: CachePlan;
  shards: Shard[];
  shared: { registry: OwnerRegistry; buffer: ArrayBufferLike; waiters: LockWaiter[]; name: string } | null;
  mappings: Mapping[];
}

/** Threads that may attach to one Worker-shared cache. */
const WORKER_REGISTRY_SLOTS = 256;

/** A private or Worker-shared cache's memory. */
export function inMemory(options: ArenaCacheOptions<unknown>): Backing {
  const shared = optionalArg(options.shared, false, (v) => {
    if (typeof v !== "boolean") throw new OffheapError("ERR_INVALID", `shared must be true or false; got ${String(v)}`);
    return v;
  });
  const plan = planCache(options, shared);
  const mappings: Mapping[] = [];
  // Private caches keep everything in anonymous mmap: outside the JS heap and its GC
  // accounting, and unmapped at close. Shared ones need SharedArrayBuffers.
  const allocate: Allocator = shared
    ? sharedAllocator
    : (bytes) => {
        const m = Mapping.anonymous(bytes);
        mappings.push(m);
        return m.buffer;
      };
  const shards: Shard[] = [];
  try {
    for (let i = 0; i < plan.stripes; i++) shards.push(new Shard(plan.shard, allocate));
  } catch (e) {
    for (const m of mappings) m.close();
    if (e instanceof OffheapError) throw e;
    // An ArrayBuffer that can't be allocated at that size.
    throw new OffheapError("ERR_TOO_LARGE", `cannot allocate a cache of ${plan.maxBytes} bytes and ${plan.shard.maxEntries * plan.stripes} entries: ${(e as Error).message}`, { cause: e });
  }
  if (!shared) return { plan, shards, shared: null, mappings };
  const buffer = new SharedArrayBuffer(OwnerRegistry.bytes(WORKER_REGISTRY_SLOTS));
  return {
    plan,
    shards,
    shared: { registry: new OwnerRegistry(buffer, WORKER_REGISTRY_SLOTS), buffer, waiters: shards.map((sh) => atomicsWaiter(sh.st, LOCK)), name: "a Worker-shared cache" },
    mappings,
  };
}

/** A Worker's view of a cache from its handle. */
export function fromHandle(handle: ArenaHandle): Backing {
  try {
    const plan: CachePlan = { maxBytes: handle.maxBytes, ttl: handle.ttl, policy: handle.policy, stripes: handle.shards.length, shard: handle.shard };
    const shards = handle.shards.map((b) => new Shard(handle.shard, sharedAllocator, b));
    const registry = new OwnerRegistry(handle.registry, handle.registrySlots);
    return { plan, shards, shared: { registry, buffer: handle.registry, waiters: shards.map((sh) => atomicsWaiter(sh.st, LOCK)), name: "a Worker-shared cache" }, mappings: [] };
  } catch (e) {
    throw new OffheapError("ERR_FORMAT", `the handle's buffers don't match its layout: ${(e as Error).message}`, { cause: e });
  }
}

/** A process's view of a cache file, from its mappings. */
export function fromFile(path: string, m: MappedCache): Backing {
  const plan = planOf(m.layout);
  const shards = m.stripes.map((s) => new Shard(plan.shard, sharedAllocator, { meta: s.meta.buffer, policy: s.policy.buffer, arena: s.arena.buffer }));
  if (m.fresh) for (const sh of shards) sh.reset();
  // The lock word is the first of each stripe's meta part: a futex word in the file's pages.
  const waiters: LockWaiter[] = m.stripes.map((s) => ({
    wait: (expected, ms) => void futexWait(s.meta, LOCK * 4, expected, Math.max(1, Math.ceil(ms))),
    wake: () => void futexWake(s.meta, LOCK * 4, 1),
  }));
  const buffer = m.registry.buffer;
  return { plan, shards, shared: { registry: new OwnerRegistry(buffer, m.layout.registrySlots), buffer, waiters, name: path }, mappings: m.all };
}
