/**
 * RFC 9111 storage and reuse for a shared cache, one rule a test, through `Bun.serve` and
 * `fetch`. The cache's clock is moved by hand; the origin dates its responses by the same
 * clock, so ages are exact.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import type { ProxyOptions, TieredCacheOptions } from "../../../src/tiered/index.ts";
import { until } from "../../helpers/index.ts";
import { Clock, isHit, ourCacheStatus, startOrigin, startProxy, type Origin, type Proxy, type SeenRequest } from "./harness.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

type Answer = (req: Request, seen: SeenRequest, n: number) => Response | Promise<Response>;

/** Run `fn` against a fresh origin answering with `answer` and a proxy in front of it. */
async function withProxy(
  answer: Answer,
  fn: (ctx: { origin: Origin; proxy: Proxy; clock: Clock }) => Promise<void>,
  options: { cache?: Partial<TieredCacheOptions>; handler?: ProxyOptions } = {},
): Promise<void> {
  const clock = new Clock();
  const origin = startOrigin(answer, clock.fn);
  const proxy = startProxy(origin.url, { cache: { clock: clock.fn, ...options.cache }, handler: options.handler ?? {} });
  try {
    await fn({ origin, proxy, clock });
  } finally {
    await proxy.stop();
    origin.stop();
  }
}

/** Bodies that say which origin request produced them. */
const numbered =
  (headers: Record<string, string>, status = 200): Answer =>
  (_req, _seen, n) =>
    new Response(`v${n}`, { status, headers });

const body = (r: Response) => r.text();

describe("freshness (RFC 9111 §4.2)", () => {
  test("max-age: reused while fresh, asked again once stale", async () => {
    await withProxy(numbered({ "cache-control": "max-age=60" }), async ({ proxy, clock, origin }) => {
      expect(await body(await proxy.get("/a"))).toBe("v1");
      clock.advance(59);
      const hit = await proxy.get("/a");
      expect(await body(hit)).toBe("v1");
      expect(hit.headers.get("age")).toBe("59");
      expect(ourCacheStatus(hit)).toEqual(["hit", "ttl=1", "detail=memory"]);
      clock.advance(2);
      expect(await body(await proxy.get("/a"))).toBe("v2");
      expect(origin.count("/a")).toBe(2);
    });
  });

  test("s-maxage overrides max-age in a shared cache, both ways", async () => {
    await withProxy(
      (req, _s, n) => new Response(`v${n}`, { headers: { "cache-control": new URL(req.url).pathname === "/long" ? "max-age=1, s-maxage=100" : "max-age=100, s-maxage=1" } }),
      async ({ proxy, clock }) => {
        await proxy.get("/long").then(body);
        await proxy.get("/short").then(body);
        clock.advance(10);
        expect(isHit(await proxy.get("/long"))).toBe(true);
        expect(isHit(await proxy.get("/short"))).toBe(false);
      },
    );
  });

  test("Expires against Date; an invalid or past Expires is already stale", async () => {
    await withProxy(
      (req, _s, n) => {
        const path = new URL(req.url).pathname;
        const date = new Date(Math.floor(Date.now() / 1000) * 1000);
        const expires = path === "/future" ? new Date(date.getTime() + 100_000).toUTCString() : path === "/past" ? new Date(date.getTime() - 100_000).toUTCString() : "0";
        return new Response(`v${n}`, { headers: { date: date.toUTCString(), expires } });
      },
      async ({ proxy, clock }) => {
        clock.now = Math.floor(Date.now() / 1000) * 1000;
        for (const p of ["/future", "/past", "/invalid"]) await proxy.get(p).then(body);
        clock.advance(50);
        expect(isHit(await proxy.get("/future"))).toBe(true);
        expect(isHit(await proxy.get("/past"))).toBe(false);
        expect(isHit(await proxy.get("/invalid"))).toBe(false);
      },
    );
  });

  test("Age from upstream counts (§4.2.3): Age 50 with max-age 60 leaves 10 s, and hits report the current age", async () => {
    await withProxy(numbered({ "cache-control": "max-age=60", age: "50" }), async ({ proxy, clock }) => {
      await proxy.get("/a").then(body);
      clock.advance(5);
      const hit = await proxy.get("/a");
      expect(isHit(hit)).toBe(true);
      expect(hit.headers.get("age")).toBe("55");
      clock.advance(6);
      expect(isHit(await proxy.get("/a"))).toBe(false);
    });
  });

  test("heuristic freshness only for heuristically cacheable statuses, and capped by the cache's fresh", async () => {
    const lastModified = new Date(Date.now() - 100 * 86_400_000).toUTCString(); // 10% = 10 days
    await withProxy(
      (req, _s, n) => {
        const status = Number(new URL(req.url).pathname.slice(1));
        return new Response(`v${n}`, { status, headers: { "last-modified": lastModified } });
      },
      async ({ proxy, clock }) => {
        const statuses = [200, 203, 204, 300, 301, 404, 405, 410, 414, 501, 201, 202, 403, 500, 502, 503, 504, 599];
        for (const s of statuses) await proxy.get(`/${s}`, { redirect: "manual" }).then(body);
        clock.advance(30);
        for (const s of statuses) {
          const cacheable = [200, 203, 204, 300, 301, 404, 405, 410, 414, 501].includes(s);
          expect([s, isHit(await proxy.get(`/${s}`, { redirect: "manual" }))]).toEqual([s, cacheable]);
        }
        clock.advance(31); // past the cache's fresh (60 s), far inside the 10-day heuristic
        expect(isHit(await proxy.get("/200"))).toBe(false);
      },
      { cache: { fresh: 60_000 } },
    );
  });

  test("a response with no freshness information and no validator is never reused (no default lifetime)", async () => {
    await withProxy(numbered({}), async ({ proxy, origin }) => {
      expect(await body(await proxy.get("/plain"))).toBe("v1");
      expect(await body(await proxy.get("/plain"))).toBe("v2");
      expect(origin.count("/plain")).toBe(2);
    });
  });

  test("a 404 without freshness is remembered for the cache's negative time; one with no-store is not", async () => {
    await withProxy(
      (req, _s, n) => new Response(`gone ${n}`, { status: 404, headers: new URL(req.url).pathname === "/nostore" ? { "cache-control": "no-store" } : {} }),
      async ({ proxy, clock, origin }) => {
        await proxy.get("/missing").then(body);
        await proxy.get("/nostore").then(body);
        clock.advance(5);
        const again = await proxy.get("/missing");
        expect(again.status).toBe(404);
        expect(isHit(again)).toBe(true);
        expect(isHit(await proxy.get("/nostore"))).toBe(false);
        clock.advance(6);
        expect(isHit(await proxy.get("/missing"))).toBe(false);
        expect(origin.count("/missing")).toBe(2);
      },
      { cache: { negative: 10_000 } },
    );
  });
});

describe("what may be stored (RFC 9111 §3, §5.2.2)", () => {
  test("no-store and private are never stored or served to the next client, whatever the cache's own fresh", async () => {
    for (const cc of ["no-store", "private", "private, max-age=600", "max-age=600, no-store", "NO-STORE"]) {
      await withProxy(
        (_req, seen, n) => new Response(`secret for ${seen.headers.get("cookie")} #${n}`, { headers: { "cache-control": cc } }),
        async ({ proxy, origin }) => {
          expect(await body(await proxy.get("/me", { headers: { cookie: "alice" } }))).toBe("secret for alice #1");
          const bob = await proxy.get("/me", { headers: { cookie: "bob" } });
          expect([cc, await body(bob)]).toEqual([cc, "secret for bob #2"]);
          expect(origin.count("/me")).toBe(2);
        },
        { cache: { fresh: 3_600_000 } },
      );
    }
  });

  test("a request with Authorization: its response is stored only when public, s-maxage or must-revalidate allows", async () => {
    for (const [cc, shared] of [
      ["max-age=600", false],
      ["public, max-age=600", true],
      ["s-maxage=600", true],
      ["max-age=600, must-revalidate", true],
    ] as const) {
      await withProxy(numbered({ "cache-control": cc }), async ({ proxy }) => {
        await proxy.get("/doc", { headers: { authorization: "Bearer alice" } }).then(body);
        const next = await proxy.get("/doc");
        expect([cc, isHit(next)]).toEqual([cc, shared]);
      });
    }
  });

  test("Set-Cookie: a response that sets one is not stored unless it is public (then the cookie is stored with it)", async () => {
    await withProxy(
      (req, _s, n) => {
        const pub = new URL(req.url).pathname === "/public";
        return new Response(`v${n}`, { headers: { "cache-control": pub ? "public, max-age=60" : "max-age=60", "set-cookie": `id=${n}` } });
      },
      async ({ proxy }) => {
        await proxy.get("/private").then(body);
        const second = await proxy.get("/private");
        expect(isHit(second)).toBe(false);
        expect(second.headers.getSetCookie()).toEqual(["id=2"]);
        await proxy.get("/public").then(body);
        const hit = await proxy.get("/public");
        expect(isHit(hit)).toBe(true);
        expect(hit.headers.getSetCookie()).toEqual(["id=3"]);
      },
    );
  });

  test("no-cache: stored, and validated with the origin before every reuse", async () => {
    await withProxy(
      (req, _s, n) => (req.headers.get("if-none-match") === '"t1"' ? new Response(null, { status: 304, headers: { etag: '"t1"' } }) : new Response(`v${n}`, { headers: { "cache-control": "no-cache", etag: '"t1"' } })),
      async ({ proxy, origin }) => {
        expect(await body(await proxy.get("/nc"))).toBe("v1");
        for (let i = 0; i < 3; i++) {
          const r = await proxy.get("/nc");
          expect(await body(r)).toBe("v1");
          expect(ourCacheStatus(r)).toContain("fwd-status=304");
        }
        expect(origin.seen.slice(1).map((s) => s.headers.get("if-none-match"))).toEqual(['"t1"', '"t1"', '"t1"']);
      },
    );
  });

  test("a response with a status the cache does not understand is stored only with explicit freshness, and never with must-understand", async () => {
    await withProxy(
      (req, _s, n) => new Response(`v${n}`, { status: 299, headers: { "cache-control": new URL(req.url).pathname === "/mu" ? "max-age=60, must-understand" : "max-age=60" } }),
      async ({ proxy }) => {
        await proxy.get("/plain").then(body);
        await proxy.get("/mu").then(body);
        expect(isHit(await proxy.get("/plain"))).toBe(true);
        expect(isHit(await proxy.get("/mu"))).toBe(false);
      },
    );
  });

  test("CDN-Cache-Control (RFC 9213) takes the place of Cache-Control and Expires; an invalid one is ignored", async () => {
    await withProxy(
      (req, _s, n) => {
        const path = new URL(req.url).pathname;
        const headers: Record<string, string> =
          path === "/cdn-longer" ? { "cache-control": "no-store", "cdn-cache-control": "max-age=600" } : path === "/cdn-private" ? { "cache-control": "max-age=600", "cdn-cache-control": "private" } : { "cache-control": "no-store", "cdn-cache-control": "max-age=600, &&&" };
        return new Response(`v${n}`, { headers });
      },
      async ({ proxy }) => {
        for (const p of ["/cdn-longer", "/cdn-private", "/cdn-invalid"]) await proxy.get(p).then(body);
        expect(isHit(await proxy.get("/cdn-longer"))).toBe(true);
        expect(isHit(await proxy.get("/cdn-private"))).toBe(false);
        expect(isHit(await proxy.get("/cdn-invalid"))).toBe(false);
      },
    );
  });
});

describe("Vary and secondary keys (RFC 9111 §4.1)", () => {
  test("each variant is stored under its own key and reused only for matching requests", async () => {
    await withProxy(
      (req, _s, n) => new Response(`${req.headers.get("accept-language") ?? "none"} #${n}`, { headers: { "cache-control": "max-age=600", vary: "Accept-Language" } }),
      async ({ proxy, origin }) => {
        const get = (lang?: string) => proxy.get("/v", lang === undefined ? {} : { headers: { "accept-language": lang } }).then(body);
        expect(await get("en")).toBe("en #1");
        expect(await get("fr")).toBe("fr #2");
        expect(await get("en")).toBe("en #1");
        expect(await get("fr")).toBe("fr #2");
        expect(await get()).toBe("none #3");
        expect(await get()).toBe("none #3");
        expect(await get("de")).toBe("de #4");
        expect(origin.count("/v")).toBe(4);
      },
    );
  });

  test("a two-field Vary matches on both fields in any order of the header", async () => {
    await withProxy(
      (req, _s, n) => new Response(`#${n}`, { headers: { "cache-control": "max-age=600", vary: "Accept-Encoding, X-Tenant" } }),
      async ({ proxy }) => {
        const get = (enc: string, tenant: string) => proxy.get("/v2", { headers: { "accept-encoding": enc, "x-tenant": tenant } });
        await get("gzip", "a").then(body);
        expect(isHit(await get("gzip", "a"))).toBe(true);
        expect(isHit(await get("gzip", "b"))).toBe(false);
        expect(isHit(await get("br", "a"))).toBe(false);
      },
    );
  });

  test("Vary: * (alone or in a list) is never reused", async () => {
    for (const vary of ["*", "Accept, *", "*, *"]) {
      await withProxy(numbered({ "cache-control": "max-age=600", vary }), async ({ proxy }) => {
        await proxy.get("/star").then(body);
        expect([vary, isHit(await proxy.get("/star"))]).toEqual([vary, false]);
      });
    }
  });
});

describe("validation (RFC 9111 §4.3)", () => {
  test("a stale response is validated with If-None-Match and If-Modified-Since; a 304 updates its stored headers", async () => {
    const lm = "Mon, 30 Nov 2026 10:00:00 GMT";
    await withProxy(
      (req, _s, n) => {
        if (req.headers.get("if-none-match") === '"e1"') return new Response(null, { status: 304, headers: { "cache-control": "max-age=100", "x-version": "updated", etag: '"e1"' } });
        return new Response(`v${n}`, { headers: { "cache-control": "max-age=10", etag: '"e1"', "last-modified": lm, "x-version": "first" } });
      },
      async ({ proxy, clock, origin }) => {
        await proxy.get("/val").then(body);
        clock.advance(20);
        const validated = await proxy.get("/val");
        expect(await body(validated)).toBe("v1");
        expect(validated.headers.get("x-version")).toBe("updated");
        expect(ourCacheStatus(validated)).toContain("fwd=stale");
        const conditional = origin.seen[1]!;
        expect(conditional.headers.get("if-none-match")).toBe('"e1"');
        expect(conditional.headers.get("if-modified-since")).toBe(lm);
        clock.advance(50); // inside the new max-age=100
        const hit = await proxy.get("/val");
        expect(isHit(hit)).toBe(true);
        expect(hit.headers.get("cache-control")).toBe("max-age=100");
        expect(origin.count("/val")).toBe(2);
      },
    );
  });

  test("validation by Last-Modified alone", async () => {
    const lm = "Mon, 30 Nov 2026 10:00:00 GMT";
    await withProxy(
      (req, _s, n) => (req.headers.get("if-modified-since") === lm ? new Response(null, { status: 304 }) : new Response(`v${n}`, { headers: { "cache-control": "max-age=10", "last-modified": lm } })),
      async ({ proxy, clock }) => {
        await proxy.get("/lm").then(body);
        clock.advance(20);
        const r = await proxy.get("/lm");
        expect(await body(r)).toBe("v1");
        expect(ourCacheStatus(r)).toContain("fwd-status=304");
      },
    );
  });

  test("a 200 in answer to a validation replaces the stored response", async () => {
    await withProxy(numbered({ "cache-control": "max-age=10", etag: '"e"' }), async ({ proxy, clock }) => {
      await proxy.get("/replace").then(body);
      clock.advance(20);
      expect(await body(await proxy.get("/replace"))).toBe("v2");
      expect(await body(await proxy.get("/replace"))).toBe("v2");
    });
  });

  test("the client's own conditional requests are answered 304 from the cache (If-None-Match, If-Modified-Since)", async () => {
    const lm = "Mon, 30 Nov 2026 10:00:00 GMT";
    await withProxy(numbered({ "cache-control": "max-age=600", etag: '"abc"', "last-modified": lm }), async ({ proxy, origin }) => {
      await proxy.get("/c").then(body);
      const conditions: Record<string, string>[] = [{ "if-none-match": '"abc"' }, { "if-none-match": 'W/"abc"' }, { "if-none-match": '"x", "abc"' }, { "if-none-match": "*" }, { "if-modified-since": lm }];
      for (const headers of conditions) {
        const r = await proxy.get("/c", { headers });
        expect([headers, r.status]).toEqual([headers, 304]);
        expect(r.headers.get("etag")).toBe('"abc"');
        expect(await body(r)).toBe("");
      }
      const changed = await proxy.get("/c", { headers: { "if-none-match": '"old"' } });
      expect(changed.status).toBe(200);
      const older = await proxy.get("/c", { headers: { "if-modified-since": "Sun, 01 Nov 2026 10:00:00 GMT" } });
      expect(older.status).toBe(200);
      expect(origin.count("/c")).toBe(1);
    });
  });

  test("on a miss, the client's validators are not forwarded (the proxy fills the cache) but still answered: 304", async () => {
    await withProxy(numbered({ "cache-control": "max-age=600", etag: '"abc"' }), async ({ proxy, origin }) => {
      const r = await proxy.get("/first", { headers: { "if-none-match": '"abc"' } });
      expect(r.status).toBe(304);
      expect(origin.seen[0]!.headers.get("if-none-match")).toBeNull();
      await until(async () => isHit(await proxy.get("/first")), "the full response was stored");
    });
  });
});

describe("serving stale (RFC 9111 §4.2.4, RFC 5861)", () => {
  test("stale-while-revalidate: served at once while one background request refreshes it", async () => {
    await withProxy(numbered({ "cache-control": "max-age=10, stale-while-revalidate=100" }), async ({ proxy, clock, origin }) => {
      await proxy.get("/swr").then(body);
      clock.advance(20);
      const stale = await proxy.get("/swr");
      expect(await body(stale)).toBe("v1");
      expect(ourCacheStatus(stale)).toContain("hit");
      await until(() => origin.count("/swr") === 2, "the background refresh");
      await until(async () => (await body(await proxy.get("/swr"))) === "v2", "the refreshed body served");
    });
  });

  test("the cache's staleWhileRevalidate is the default window where the origin gives none; never with must-revalidate", async () => {
    for (const [cc, stale] of [
      ["max-age=10", true],
      ["max-age=10, must-revalidate", false],
    ] as const) {
      await withProxy(
        numbered({ "cache-control": cc }),
        async ({ proxy, clock }) => {
          await proxy.get("/w").then(body);
          clock.advance(20);
          const r = await proxy.get("/w");
          expect([cc, await body(r), isHit(r)]).toEqual([cc, stale ? "v1" : "v2", stale]);
        },
        { cache: { staleWhileRevalidate: 600_000 } },
      );
    }
  });

  test("stale-if-error: 500, 502, 503, 504 and an unreachable origin serve the stale response; 401, 403, 404, 451 reach the client", async () => {
    for (const failure of [500, 502, 503, 504, 401, 403, 404, 451]) {
      let fail = false;
      await withProxy(
        (_req, _s, n) => (fail ? new Response("refused", { status: failure }) : new Response(`v${n}`, { headers: { "cache-control": "max-age=10, stale-if-error=600" } })),
        async ({ proxy, clock }) => {
          await proxy.get("/sie").then(body);
          clock.advance(20);
          fail = true;
          const r = await proxy.get("/sie");
          const servesStale = [500, 502, 503, 504].includes(failure);
          expect([failure, r.status, await body(r)]).toEqual([failure, servesStale ? 200 : failure, servesStale ? "v1" : "refused"]);
          if (servesStale) expect(ourCacheStatus(r)).toContain(`fwd-status=${failure}`);
        },
      );
    }
  });

  test("the cache's staleIfError is the default where the origin says nothing, and never overrides must-revalidate, proxy-revalidate, no-cache or s-maxage", async () => {
    for (const [cc, stale] of [
      ["max-age=10", true],
      ["max-age=10, must-revalidate", false],
      ["max-age=10, proxy-revalidate", false],
      ["s-maxage=10", false],
    ] as const) {
      let fail = false;
      await withProxy(
        (_req, _s, n) => (fail ? new Response("down", { status: 503 }) : new Response(`v${n}`, { headers: { "cache-control": cc } })),
        async ({ proxy, clock }) => {
          await proxy.get("/d").then(body);
          clock.advance(20);
          fail = true;
          const r = await proxy.get("/d");
          expect([cc, r.status]).toEqual([cc, stale ? 200 : 503]);
        },
        { cache: { staleIfError: 600_000 } },
      );
    }
  });

  test("an unreachable origin: stale served (within staleIfUnreachable) unless the origin forbade it", async () => {
    for (const [cc, stale] of [
      ["max-age=10", true],
      ["max-age=10, must-revalidate", false],
      ["no-cache", false],
    ] as const) {
      const clock = new Clock();
      const origin = startOrigin(numbered({ "cache-control": cc, etag: '"x"' }), clock.fn);
      const proxy = startProxy(origin.url, { cache: { clock: clock.fn } });
      try {
        await proxy.get("/u").then(body);
        clock.advance(20);
        origin.stop();
        const r = await proxy.get("/u");
        expect([cc, r.status]).toEqual([cc, stale ? 200 : 502]);
        if (stale) expect(ourCacheStatus(r)).toContain("detail=\"stale-if-error ERR_UPSTREAM\"");
      } finally {
        await proxy.stop();
      }
    }
  });
});

describe("requests (RFC 9111 §5.2.1)", () => {
  test("no-cache and max-age=0 make the cache ask the origin; only-if-cached never does; max-stale accepts stale", async () => {
    await withProxy(numbered({ "cache-control": "max-age=10" }), async ({ proxy, clock, origin }) => {
      await proxy.get("/r").then(body);
      expect(isHit(await proxy.get("/r", { headers: { "cache-control": "no-cache" } }))).toBe(false);
      clock.advance(1);
      expect(isHit(await proxy.get("/r", { headers: { "cache-control": "max-age=0" } }))).toBe(false);
      expect(isHit(await proxy.get("/r", { headers: { pragma: "no-cache" } }))).toBe(false);
      const n = origin.count("/r");
      const miss = await proxy.get("/never-fetched", { headers: { "cache-control": "only-if-cached" } });
      expect(miss.status).toBe(504);
      expect(origin.count("/never-fetched")).toBe(0);
      clock.advance(20);
      const stale = await proxy.get("/r", { headers: { "cache-control": "max-stale=60" } });
      expect(isHit(stale)).toBe(true);
      expect(origin.count("/r")).toBe(n);
    });
  });

  test("a request with no-store is answered but nothing is stored", async () => {
    await withProxy(numbered({ "cache-control": "max-age=60" }), async ({ proxy }) => {
      await proxy.get("/ns", { headers: { "cache-control": "no-store" } }).then(body);
      expect(isHit(await proxy.get("/ns"))).toBe(false);
    });
  });

  test("HEAD: a miss is forwarded and stores nothing; a stored GET answers a later HEAD", async () => {
    await withProxy(numbered({ "cache-control": "max-age=60" }), async ({ proxy, origin }) => {
      const head = await proxy.get("/h", { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(origin.seen[0]!.method).toBe("HEAD");
      expect(isHit(await proxy.get("/h"))).toBe(false);
      const hit = await proxy.get("/h", { method: "HEAD" });
      expect(isHit(hit)).toBe(true);
      expect(origin.seen.map((s) => s.method)).toEqual(["HEAD", "GET"]);
    });
  });

  test("a Range request is answered 206 from a stored complete response; an unsatisfiable one 416", async () => {
    await withProxy(numbered({ "cache-control": "max-age=60" }), async ({ proxy }) => {
      await proxy.get("/range").then(body);
      const part = await proxy.get("/range", { headers: { range: "bytes=1-1" } });
      expect(part.status).toBe(206);
      expect(part.headers.get("content-range")).toBe("bytes 1-1/2");
      expect(await body(part)).toBe("1");
      const suffix = await proxy.get("/range", { headers: { range: "bytes=-1" } });
      expect(await body(suffix)).toBe("1");
      const bad = await proxy.get("/range", { headers: { range: "bytes=5-" } });
      expect(bad.status).toBe(416);
      expect(bad.headers.get("content-range")).toBe("bytes */2");
    });
  });
});

describe("Age and Cache-Status (RFC 9111 §5.1, RFC 9211)", () => {
  test("every answer says what the cache did; every answer from a stored response has its Age", async () => {
    let fail = false;
    await withProxy(
      (req, _s, n) => {
        if (req.method === "POST") return new Response("posted");
        if (fail) return new Response("down", { status: 503 });
        return new Response(`v${n}`, { headers: { "cache-control": "max-age=10, stale-if-error=60", etag: '"e"' } });
      },
      async ({ proxy, clock }) => {
        const miss = await proxy.get("/x");
        expect(ourCacheStatus(miss)).toEqual(["fwd=uri-miss", "fwd-status=200", "stored"]);
        clock.advance(3);
        const hit = await proxy.get("/x");
        expect(ourCacheStatus(hit)).toEqual(["hit", "ttl=7", "detail=memory"]);
        expect(hit.headers.get("age")).toBe("3");
        clock.advance(10);
        fail = true;
        const stale = await proxy.get("/x");
        expect(ourCacheStatus(stale)).toEqual(["hit", "fwd=stale", "fwd-status=503", "ttl=-3", "detail=stale-if-error"]);
        expect(stale.headers.get("age")).toBe("13");
        const post = await proxy.get("/x", { method: "POST", body: "x" });
        expect(ourCacheStatus(post)).toEqual(["fwd=method", "fwd-status=200"]);
        const head = await proxy.get("/x", { method: "HEAD" });
        expect(ourCacheStatus(head)[0]).toBe("fwd=uri-miss");
        for (const r of [miss, hit, stale, post, head]) await r.text();
      },
    );
  });

  test("a Cache-Status from a cache nearer the origin is kept, ours appended", async () => {
    await withProxy(numbered({ "cache-control": "max-age=60", "cache-status": "inner; hit" }), async ({ proxy }) => {
      await proxy.get("/cs").then(body);
      const hit = await proxy.get("/cs");
      expect(hit.headers.get("cache-status")).toBe("inner; hit, offheap; hit; ttl=60; detail=memory");
    });
  });
});

describe("invalidation by unsafe methods (RFC 9111 §4.4)", () => {
  test("POST, PUT, DELETE and unknown methods with a non-error answer invalidate the URI (and its variants)", async () => {
    for (const method of ["POST", "PUT", "DELETE", "PURGE"]) {
      await withProxy(
        (req, _s, n) => (req.method === "GET" ? new Response(`v${n}`, { headers: { "cache-control": "max-age=600", vary: "Accept-Language" } }) : new Response("done")),
        async ({ proxy }) => {
          await proxy.get("/doc", { headers: { "accept-language": "en" } }).then(body);
          expect(isHit(await proxy.get("/doc", { headers: { "accept-language": "en" } }))).toBe(true);
          await proxy.get("/doc", { method, body: method === "DELETE" ? undefined : "x" }).then(body);
          expect([method, isHit(await proxy.get("/doc", { headers: { "accept-language": "en" } }))]).toEqual([method, false]);
        },
      );
    }
  });

  test("an error answer invalidates nothing; Location and Content-Location on the same origin are invalidated too", async () => {
    await withProxy(
      (req, _s, n) => {
        const path = new URL(req.url).pathname;
        if (req.method === "GET") return new Response(`${path} v${n}`, { headers: { "cache-control": "max-age=600" } });
        if (path === "/fail") return new Response("no", { status: 500 });
        return new Response("created", { status: 201, headers: { location: "/items/7", "content-location": "/items/7/view" } });
      },
      async ({ proxy }) => {
        for (const p of ["/fail", "/items/7", "/items/7/view", "/items"]) await proxy.get(p).then(body);
        await proxy.get("/fail", { method: "POST", body: "x" }).then(body);
        expect(isHit(await proxy.get("/fail"))).toBe(true);
        await proxy.get("/items", { method: "POST", body: "x" }).then(body);
        expect(isHit(await proxy.get("/items"))).toBe(false);
        expect(isHit(await proxy.get("/items/7"))).toBe(false);
        expect(isHit(await proxy.get("/items/7/view"))).toBe(false);
      },
    );
  });
});

describe("one origin fetch per URI, shared only when it may be", () => {
  test("concurrent misses for a cacheable URI make one origin fetch and all get the whole body", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await withProxy(
      async (_req, _s, n) => {
        await gate;
        return new Response(`shared ${n} ${"x".repeat(100_000)}`, { headers: { "cache-control": "max-age=60" } });
      },
      async ({ proxy, origin }) => {
        const all = Array.from({ length: 6 }, () => proxy.get("/hot").then(async (r) => ({ text: await body(r), status: ourCacheStatus(r) })));
        await until(() => origin.seen.length === 1, "the first origin fetch");
        await Bun.sleep(20);
        release();
        const results = await Promise.all(all);
        expect(origin.count("/hot")).toBe(1);
        for (const r of results) expect(r.text.startsWith("shared 1 ")).toBe(true);
        expect(results.filter((r) => r.status.includes("collapsed")).length).toBe(5);
      },
    );
  });

  test("a private response is never handed to the requests that waited for it: each asks the origin itself", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await withProxy(
      async (_req, seen, n) => {
        if (n === 1) await gate;
        return new Response(`for ${seen.headers.get("cookie")}`, { headers: { "cache-control": "private, max-age=60" } });
      },
      async ({ proxy, origin }) => {
        const first = proxy.get("/account", { headers: { cookie: "alice" } }).then(body);
        await until(() => origin.seen.length === 1, "the first origin fetch");
        const second = proxy.get("/account", { headers: { cookie: "bob" } }).then(body);
        await Bun.sleep(20);
        release();
        expect(await first).toBe("for alice");
        expect(await second).toBe("for bob");
        expect(origin.count("/account")).toBe(2);
      },
    );
  });

  test("a waiter whose Vary fields differ asks the origin itself", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await withProxy(
      async (req, _s, n) => {
        if (n === 1) await gate;
        return new Response(`lang ${req.headers.get("accept-language")}`, { headers: { "cache-control": "max-age=60", vary: "accept-language" } });
      },
      async ({ proxy, origin }) => {
        const en = proxy.get("/page", { headers: { "accept-language": "en" } }).then(body);
        await until(() => origin.seen.length === 1, "the first origin fetch");
        const fr = proxy.get("/page", { headers: { "accept-language": "fr" } }).then(body);
        await Bun.sleep(20);
        release();
        expect(await en).toBe("lang en");
        expect(await fr).toBe("lang fr");
      },
    );
  });
});

describe("fences: a delete or invalidation at any moment after a fill began wins", () => {
  test("delete while the origin fetch is still pending: the fill does not publish", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await withProxy(
      async (_req, _s, n) => {
        if (n === 1) await gate;
        return new Response(`v${n}`, { headers: { "cache-control": "max-age=600" } });
      },
      async ({ proxy, origin }) => {
        const first = proxy.get("/f").then(body);
        await until(() => origin.seen.length === 1, "the origin fetch began");
        await proxy.cache.delete("/f");
        release();
        expect(await first).toBe("v1");
        const next = await proxy.get("/f");
        expect(isHit(next)).toBe(false);
        expect(await body(next)).toBe("v2");
      },
    );
  });

  test("a POST while a GET's body is still streaming: the streamed body is not published", async () => {
    let push!: (s: string | null) => void;
    await withProxy(
      (req, _s, n) => {
        if (req.method !== "GET") return new Response("ok");
        if (n > 1) return new Response(`v${n}`, { headers: { "cache-control": "max-age=600" } });
        const stream = new ReadableStream<Uint8Array>({
          start(c) {
            push = (s) => (s === null ? c.close() : c.enqueue(new TextEncoder().encode(s)));
            push("part one ");
          },
        });
        return new Response(stream, { headers: { "cache-control": "max-age=600" } });
      },
      async ({ proxy }) => {
        const res = await proxy.get("/s");
        const reader = res.body!.getReader();
        await reader.read();
        await proxy.get("/s", { method: "POST", body: "update" }).then(body);
        push("part two");
        push(null);
        while (!(await reader.read()).done);
        const after = await proxy.get("/s");
        expect(isHit(after)).toBe(false);
      },
    );
  });
});
