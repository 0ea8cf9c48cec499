/**
 * From the options a caller gives to the layout of a cache: stripes, entries, slab sizes.
 * One function for every kind of cache (private, Worker-shared, file-backed), so the same
 * options give the same layout wherever the cache lives.
 */
import { integerArg, numberArg, oneOfArg, optionalArg } from "../primitives/arguments.ts";
import { OffheapError } from "../errors.ts";
import { POLICY_NAMES, type PolicyName } from "../policy/index.ts";
import type { ShardConfig } from "./shard.ts";

/** Offsets into a stripe's arena are u32, and 0xffffffff marks "none". */
export const MAX_SHARD_ARENA = 0xfff00000;
/** Stripes a cache may have. */
export const MAX_STRIPES = 256;

/** The options that fix a cache's layout. */
export interface LayoutOptions {
  maxBytes: number;
  ttl?: number | undefined;
  policy?: PolicyName | undefined;
  stripes?: number | undefined;
  maxEntries?: number | undefined;
  slabBytes?: number | undefined;
}

/** A cache's layout, checked. */
export interface CachePlan {
  maxBytes: number;
  /** Default time to live in ms (0: none). */
  ttl: number;
  policy: PolicyName;
  stripes: number;
  shard: ShardConfig;
}

/** A time to live in ms: a finite number >= 0; undefined is 0. */
export function ttlArg(name: string, v: unknown): number {
  return optionalArg(v as number | undefined, 0, (x) => numberArg(name, x, { min: 0 }));
}

/**
 * The layout for `options`. `sharedDefault` picks the default stripe count of caches used
 * by several threads (up to 16, so they seldom wait for each other); private caches have
 * one. Throws `ERR_INVALID` for bad options, `ERR_TOO_LARGE` for a stripe too big to index.
 */
export function planCache(options: LayoutOptions, sharedDefault: boolean): CachePlan {
  const maxBytes = integerArg("maxBytes", options.maxBytes, { min: 1 });
  const ttl = ttlArg("ttl", options.ttl);
  const policy = options.policy === undefined ? "s3-fifo" : oneOfArg("policy", options.policy, POLICY_NAMES);
  const stripes =
    options.stripes !== undefined
      ? integerArg("stripes", options.stripes, { min: 1, max: MAX_STRIPES })
      : sharedDefault
        ? Math.max(1, Math.min(16, Math.floor(maxBytes / (256 << 10))))
        : 1;
  const shardMax = Math.floor(maxBytes / stripes);
  if (shardMax < 64) throw new OffheapError("ERR_INVALID", `maxBytes / stripes must be at least 64; got ${shardMax}`);
  const entries = options.maxEntries !== undefined ? integerArg("maxEntries", options.maxEntries, { min: 1, max: 2 ** 30 }) : Math.max(16, maxBytes / 128);
  const maxEntries = Math.ceil(entries / stripes);
  const slabBytes =
    options.slabBytes !== undefined
      ? integerArg("slabBytes", options.slabBytes, { min: 1, max: 1 << 30 })
      : Math.min(4 << 20, Math.max(256, Math.ceil(shardMax / 8)));
  const slab = (slabBytes + 7) & ~7;
  const slabs = Math.ceil(shardMax / slab) + 2;
  if (slab * slabs > MAX_SHARD_ARENA) {
    throw new OffheapError(
      "ERR_TOO_LARGE",
      `one stripe's arena may be at most ${MAX_SHARD_ARENA} bytes; maxBytes ${maxBytes} over ${stripes} stripes needs ${slab * slabs}: use more stripes`,
    );
  }
  return { maxBytes, ttl, policy, stripes, shard: { maxBytes: shardMax, maxEntries, slabBytes: slab, slabs, policy } };
}
