/**
 * Entity-tag handling (RFC 9110 §8.8.3, §13.1.2): normalising stored tags and the weak
 * comparison `If-None-Match` uses.
 */
import { stringArg } from "../primitives/arguments.ts";

/**
 * Quote a bare tag (`v1` -> `"v1"`); leave quoted and weak tags as they are.
 * @throws `ERR_INVALID` unless `etag` is a string.
 */
export function normalizeEtag(etag: string): string {
  const t = stringArg("etag", etag).trim();
  if (t.startsWith('"') || t.startsWith("W/\"")) return t;
  return `"${t}"`;
}

function opaque(tag: string): string {
  const t = tag.startsWith("W/") ? tag.slice(2) : tag;
  return t;
}

/**
 * Whether an `If-None-Match` value matches `etag` by weak comparison: `*` matches any
 * existing entry, otherwise any listed tag equal to `etag` once `W/` is ignored.
 * @throws `ERR_INVALID` when either argument is neither a string nor absent.
 */
export function ifNoneMatchMatches(ifNoneMatch: string | undefined | null, etag: string | undefined): boolean {
  if (ifNoneMatch != null) stringArg("ifNoneMatch", ifNoneMatch);
  if (etag !== undefined) stringArg("etag", etag);
  if (ifNoneMatch == null) return false;
  const header = ifNoneMatch.trim();
  if (header === "*") return true;
  if (etag === undefined) return false;
  const want = opaque(normalizeEtag(etag));
  // Tags may contain commas only inside quotes; scan rather than split.
  let i = 0;
  while (i < header.length) {
    while (i < header.length && (header[i] === "," || header[i] === " " || header[i] === "\t")) i++;
    if (i >= header.length) break;
    let start = i;
    if (header.startsWith("W/", i)) i += 2;
    let tag: string;
    if (header[i] === '"') {
      const end = header.indexOf('"', i + 1);
      if (end < 0) return false;
      tag = header.slice(start, end + 1);
      i = end + 1;
    } else {
      // A bare token (not RFC-conformant, but callers pass `v1`): up to the next comma.
      const end = header.indexOf(",", i);
      tag = normalizeEtag(header.slice(start, end < 0 ? header.length : end));
      i = end < 0 ? header.length : end;
      start = i;
    }
    if (opaque(tag) === want) return true;
  }
  return false;
}
