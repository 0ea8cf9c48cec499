/**
 * A stale-while-revalidate refresh, run in the background: revalidate the stale version,
 * or store the new one, with a fence so that a delete or set meanwhile wins.
 */
import { toStream } from "./body.ts";
import type { TierCore } from "./core.ts";
import { callFetcher } from "./fetcher-call.ts";
import { drain, fillStream } from "./fill.ts";
import { fetchedMeta } from "./meta.ts";
import { NOT_FOUND, NOT_MODIFIED, type EntryMeta, type Fetcher, type FetchResult } from "./types.ts";

/** Refresh `key`, whose stored version is `meta`, from `fetcher`. Never throws: failures are counted. */
export async function refresh(core: TierCore, key: string, meta: EntryMeta, fetcher: Fetcher): Promise<void> {
  core.counters.refreshes++;
  const fence = core.fence(key);
  let fenceHeld = true;
  try {
    let result: FetchResult;
    try {
      result = await callFetcher({ key, fetcher, etag: meta.etag, callerSignal: undefined, closeSignal: core.closeSignal, timeout: core.limits.timeout, counters: core.counters });
    } catch {
      core.counters.refreshErrors++;
      return;
    }
    if (core.closed) return;
    if (result === NOT_MODIFIED) {
      await fence.publish(() => core.touchTiers(key, { ...meta, cachedAt: core.clock() }));
      return;
    }
    if (result === NOT_FOUND) {
      if (await fence.publish(async () => void (await core.removeFromTiers(key)))) core.negative.remember(key, core.clock());
      return;
    }
    fenceHeld = false;
    const body = fillStream(
      toStream(result.body),
      core.writers(key, fetchedMeta(result, core.clock()), core.tiers.length),
      core.fillHooks(key, fence, (r) => void (r.outcome === "published" && core.announce(key))),
    );
    await drain(body).catch(() => void core.counters.refreshErrors++);
  } finally {
    if (fenceHeld) fence.release();
  }
}
