/**
 * The one stored form of {@link EntryMeta}: the file, Redis and S3 stores keep it as JSON
 * beside the body, and the memory store keeps the same fields in its binary entry head.
 * `size` is never stored here: each store counts the body bytes it holds.
 */
import { invalidArg, numberArg, objectArg } from "../primitives/arguments.ts";
import { OffheapError } from "../errors.ts";
import { normalizeEtag } from "./etag.ts";
import type { EntryMeta, FetchResult, NOT_FOUND, NOT_MODIFIED } from "./types.ts";

/** Most UTF-8 bytes of `meta.extra` an entry may carry (the HTTP face keeps response headers there). */
export const MAX_EXTRA_BYTES = 32 * 1024;

/** The JSON-able record of an entry's metadata. */
export interface MetaRecord {
  cachedAt: number;
  etag?: string;
  contentType?: string;
  extra?: string;
}

/** The record to store for `meta` (drops `size` and absent fields). */
export function metaRecord(meta: EntryMeta): MetaRecord {
  const m: MetaRecord = { cachedAt: meta.cachedAt };
  if (meta.etag !== undefined) m.etag = meta.etag;
  if (meta.contentType !== undefined) m.contentType = meta.contentType;
  if (meta.extra !== undefined) m.extra = meta.extra;
  return m;
}

/** The metadata a stored record holds, or `undefined` when `value` is not a record of ours. */
export function metaFromRecord(value: unknown): EntryMeta | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const m = value as Record<string, unknown>;
  if (typeof m.cachedAt !== "number" || !Number.isFinite(m.cachedAt)) return undefined;
  const meta: EntryMeta = { cachedAt: m.cachedAt };
  if (m.etag !== undefined) {
    if (typeof m.etag !== "string") return undefined;
    meta.etag = m.etag;
  }
  if (m.contentType !== undefined) {
    if (typeof m.contentType !== "string") return undefined;
    meta.contentType = m.contentType;
  }
  if (m.extra !== undefined) {
    if (typeof m.extra !== "string") return undefined;
    meta.extra = m.extra;
  }
  return meta;
}

/** Throw `ERR_TOO_LARGE` when `meta.extra` is longer than {@link MAX_EXTRA_BYTES}. */
export function assertExtraFits(meta: EntryMeta): void {
  const extra = meta.extra;
  if (extra === undefined || extra.length * 3 <= MAX_EXTRA_BYTES) return;
  const bytes = Buffer.byteLength(extra);
  if (bytes > MAX_EXTRA_BYTES) {
    throw new OffheapError("ERR_TOO_LARGE", `an entry's extra metadata is at most ${MAX_EXTRA_BYTES} bytes of UTF-8, got ${bytes}`);
  }
}

/** The metadata of what a fetcher answered at `now`. */
export function fetchedMeta(result: Exclude<FetchResult, typeof NOT_FOUND | typeof NOT_MODIFIED>, now: number): EntryMeta {
  const meta: EntryMeta = { cachedAt: now };
  if (result.etag) meta.etag = normalizeEtag(result.etag);
  if (result.contentType) meta.contentType = result.contentType;
  return meta;
}

/** Throw `ERR_INVALID` naming `<name>.<field>` unless `etag`, `contentType` and `extra` are strings where given. */
export function assertMetaStrings(meta: Partial<EntryMeta>, name: string): void {
  for (const field of ["etag", "contentType", "extra"] as const) {
    const v = meta[field];
    if (v !== undefined && typeof v !== "string") throw invalidArg(`${name}.${field}`, "a string", v);
  }
}

/**
 * An {@link EntryMeta} given to a store (`writer`, `touch`): an object with a finite
 * `cachedAt` and string `etag`, `contentType` and `extra` where given; `ERR_INVALID`
 * naming the field otherwise, `ERR_TOO_LARGE` for an `extra` past {@link MAX_EXTRA_BYTES}.
 */
export function entryMetaArg(meta: unknown, name = "meta"): EntryMeta {
  const m = objectArg(name, meta as EntryMeta | undefined);
  numberArg(`${name}.cachedAt`, m.cachedAt);
  assertMetaStrings(m, name);
  assertExtraFits(m);
  return m;
}
