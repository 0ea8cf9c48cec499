/**
 * `describeArena` for the CLI: the options in a shared cache file's header and what the
 * cache holds now.
 */
import { File } from "../../ffi/index.ts";
import { pathArg } from "../primitives/arguments.ts";
import { readHeader } from "../primitives/header.ts";
import type { Description } from "../primitives/inspection.ts";
import { POLICY_NAMES } from "../policy/index.ts";
import { ArenaCache } from "./cache.ts";
import { ARENA_SPEC } from "./file.ts";

/**
 * Header options and counts of the shared cache file at `path`. The counts come from
 * joining the cache for a moment, as any handle does (it takes a registry slot and gives
 * it back); nothing in the cache changes.
 * @throws `ERR_INVALID` for a path that is not a non-empty string, `ERR_FORMAT` for a file
 * that is not a shared ArenaCache, `ERR_SYSTEM` when it can't be read.
 */
export function describeArena(path: string): Description {
  pathArg("path", path);
  let header: Record<string, number>;
  {
    using file = File.open(path, { readonly: true });
    header = readHeader(ARENA_SPEC, file);
  }
  using cache = ArenaCache.open(path);
  const { entries, bytes, hits, misses, sets, evictions, lockTakeovers, stripeResets } = cache.stats();
  return {
    kind: ARENA_SPEC.kind,
    version: ARENA_SPEC.version,
    options: {
      maxBytes: header.maxBytes!,
      ttl: header.ttlMicros! / 1000,
      policy: POLICY_NAMES[header.policy!] ?? `#${header.policy}`,
      stripes: header.stripes!,
      maxEntries: header.maxEntries! * header.stripes!,
      fileBytes: header.fileBytes!,
    },
    counts: { entries, bytes, hits, misses, sets, evictions, lockTakeovers, stripeResets },
  };
}
