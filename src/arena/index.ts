/**
 * ArenaCache: an in-process cache whose entries live off the JS heap.
 */
export {
  ArenaCache,
  MAX_KEY_BYTES,
  type ArenaCacheOptions,
  type ArenaHandle,
  type AttachOptions,
  type EvictionReason,
  type Loader,
  type LoadOptions,
  type ArenaOpenOptions,
  type SetOptions,
} from "./cache.ts";
export { codecs, type Codec } from "./codecs.ts";
export { describeArena } from "./inspect.ts";
export { ENTRY_OVERHEAD } from "./shard.ts";
export type { ArenaStats } from "./stats.ts";
