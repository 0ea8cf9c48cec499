/**
 * Calling a fetcher: with a deadline and the caller's and the cache's signals, counted,
 * and its answer checked (a body of the wrong type is `ERR_INVALID`, never an empty hit).
 */
import { describeValue } from "../primitives/arguments.ts";
import { OffheapError } from "../errors.ts";
import { isCacheBody } from "./body.ts";
import type { Counters } from "./core.ts";
import { NOT_FOUND, NOT_MODIFIED, type Fetcher, type FetchResult } from "./types.ts";

/** One fetcher call. */
export interface FetcherCall {
  key: string;
  fetcher: Fetcher;
  /** The cached entry's etag when revalidating. */
  etag: string | undefined;
  /** The caller's signal: aborts waiting for the answer (not the body, which others may share). */
  callerSignal: AbortSignal | undefined;
  /** The cache's close signal. */
  closeSignal: AbortSignal;
  timeout: number;
  counters: Counters;
}

/** Call the fetcher; throws `ERR_TIMEOUT`, the signal's reason, the fetcher's error or `ERR_INVALID`. */
export async function callFetcher(c: FetcherCall): Promise<FetchResult> {
  // The caller's signal (and the timeout) cover waiting for the answer only: once the
  // body flows, other callers may be reading it too, so it ends when its last reader
  // cancels, not when the first caller goes away.
  if (c.callerSignal?.aborted) throw c.callerSignal.reason;
  const own = new AbortController();
  const signal = AbortSignal.any([own.signal, c.closeSignal]);
  if (signal.aborted) throw signal.reason;
  const onCaller = () => own.abort(c.callerSignal!.reason);
  c.callerSignal?.addEventListener("abort", onCaller, { once: true });
  c.counters.originFetches++;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      c.counters.originTimeouts++;
      own.abort(new OffheapError("ERR_TIMEOUT", `the fetcher for ${JSON.stringify(c.key)} did not answer within ${c.timeout} ms`));
    }, c.timeout);
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    const result = await Promise.race([(async () => c.fetcher({ key: c.key, etag: c.etag, signal }))(), stop]);
    checkFetchResult(c.key, result);
    return result;
  } catch (e) {
    c.counters.originErrors++;
    throw e;
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener("abort", onAbort);
    c.callerSignal?.removeEventListener("abort", onCaller);
  }
}

/** Throw `ERR_INVALID` unless `result` is something a fetcher may answer. */
function checkFetchResult(key: string, result: unknown): asserts result is FetchResult {
  if (result === NOT_FOUND || result === NOT_MODIFIED) return;
  if (typeof result !== "object" || result === null || !("body" in result)) {
    throw new OffheapError("ERR_INVALID", `the fetcher for ${JSON.stringify(key)} returned ${describeValue(result)}; expected { body, etag?, contentType? }, NOT_MODIFIED or NOT_FOUND`);
  }
  const r = result as Record<string, unknown>;
  if (!isCacheBody(r.body)) {
    throw new OffheapError(
      "ERR_INVALID",
      `the fetcher for ${JSON.stringify(key)} returned a body that is ${describeValue(r.body)}; expected a ReadableStream, Uint8Array, ArrayBuffer, Blob, Response or string`,
    );
  }
  for (const field of ["etag", "contentType"] as const) {
    const v = r[field];
    if (v != null && typeof v !== "string") throw new OffheapError("ERR_INVALID", `the fetcher for ${JSON.stringify(key)} returned ${field} ${describeValue(v)}; expected a string`);
  }
}
