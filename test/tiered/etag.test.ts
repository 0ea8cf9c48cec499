import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { ifNoneMatchMatches, normalizeEtag, type GetResult } from "../../src/tiered/index.ts";
import { cacheStatusMember } from "../../src/tiered/http/cache-status.ts";
import { cacheStatusParts } from "../../src/tiered/http/fetcher-handler.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const cacheStatus = (r: Pick<GetResult, "status" | "meta" | "source" | "revalidated" | "collapsed">, now: number, fresh: number | undefined) => cacheStatusMember(cacheStatusParts(r, now, fresh));

describe("entity tags", () => {
  test("normalizeEtag quotes bare tags and keeps quoted and weak ones", () => {
    expect(normalizeEtag("v1")).toBe('"v1"');
    expect(normalizeEtag('"v1"')).toBe('"v1"');
    expect(normalizeEtag('W/"v1"')).toBe('W/"v1"');
  });

  test("If-None-Match uses weak comparison over a list; * matches any entry", () => {
    const cases: Array<[string | null | undefined, string | undefined, boolean]> = [
      ['"v1"', '"v1"', true],
      ['W/"v1"', '"v1"', true],
      ['"v1"', 'W/"v1"', true],
      ['"a", "b", "v1"', '"v1"', true],
      ['"a",W/"v1"', '"v1"', true],
      ['"a,b", "c"', '"a,b"', true],
      ['"a,b", "c"', '"a"', false],
      ["*", '"anything"', true],
      ["*", undefined, true],
      ['"v2"', '"v1"', false],
      ['"v1"', undefined, false],
      [null, '"v1"', false],
      [undefined, '"v1"', false],
      ["", '"v1"', false],
      ["v1", '"v1"', true],
      ['"unterminated', '"unterminated"', false],
    ];
    for (const [header, etag, want] of cases) expect([header, etag, ifNoneMatchMatches(header, etag)]).toEqual([header, etag, want]);
  });

  test("Cache-Status values follow RFC 9211", () => {
    const meta = { cachedAt: 1_000_000 };
    expect(cacheStatus({ status: "hit", meta, source: "memory" }, 1_010_000, 60_000)).toBe("offheap; hit; ttl=50; detail=memory");
    expect(cacheStatus({ status: "stale", meta, source: "file" }, 1_070_000, 60_000)).toBe("offheap; hit; ttl=-10; detail=file");
    expect(cacheStatus({ status: "miss", meta, source: "origin" }, 0, undefined)).toBe("offheap; fwd=uri-miss; fwd-status=200; stored");
    expect(cacheStatus({ status: "miss", meta, source: "origin", revalidated: true, collapsed: true }, 0, undefined)).toBe(
      "offheap; fwd=stale; fwd-status=200; stored; collapsed",
    );
    expect(cacheStatus({ status: "hit", meta, source: "redis", revalidated: true }, 0, undefined)).toBe("offheap; fwd=stale; fwd-status=304; detail=redis");
    expect(cacheStatus({ status: "not-found", meta, source: "negative" }, 0, 1)).toBe("offheap; hit; detail=negative");
  });
});
