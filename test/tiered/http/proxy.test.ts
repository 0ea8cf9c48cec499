/**
 * The handler as a reverse proxy: methods, bodies, headers and statuses pass through as
 * they were (hop-by-hop fields excepted), `X-Forwarded-*` and `Via` are added, and origin
 * failures are 502/504 with `ERR_UPSTREAM`/`ERR_TIMEOUT` in `Cache-Status`.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { rawRequest, startOrigin, startProxy, ourCacheStatus, type Origin, type Proxy } from "./harness.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

let origin: Origin;
let proxy: Proxy;

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'self'",
  "x-frame-options": "DENY",
  "strict-transport-security": "max-age=63072000; includeSubDomains",
  "content-disposition": 'attachment; filename="report.csv"',
  "last-modified": "Tue, 01 Dec 2026 10:00:00 GMT",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

beforeAll(() => {
  origin = startOrigin(async (req, seen) => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path === "/echo") {
      return Response.json(
        { method: seen.method, body: seen.body, headers: Object.fromEntries(seen.headers) },
        { status: seen.method === "POST" ? 201 : 200, headers: { "cache-control": "no-store" } },
      );
    }
    if (path === "/status") return new Response(`status ${url.searchParams.get("s")}`, { status: Number(url.searchParams.get("s")) });
    if (path === "/headers") {
      const h = new Headers({ ...SECURITY_HEADERS, "cache-control": "public, max-age=300", "x-custom": "kept", connection: "x-secret-hop", "x-secret-hop": "dropped" });
      h.append("set-cookie", "a=1; Path=/");
      h.append("set-cookie", "b=2; Path=/");
      return new Response("with headers", { headers: h });
    }
    if (path === "/slow") {
      await Bun.sleep(400);
      return new Response("late");
    }
    if (path === "/no-content") return new Response(null, { status: 204, headers: { "cache-control": "max-age=60", "x-kind": "empty" } });
    return new Response(`page ${path}`, { headers: { "cache-control": "max-age=60" } });
  });
  proxy = startProxy(origin.url);
});

afterAll(async () => {
  await proxy.stop();
  origin.stop();
});

describe("the handler is a reverse proxy", () => {
  test("every method is forwarded with its body; the origin's status comes back as it was", async () => {
    for (const method of ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
      const res = await proxy.get("/echo", { method, body: method === "OPTIONS" ? undefined : `body of ${method}`, headers: { "content-type": "text/plain" } });
      expect(res.status).toBe(method === "POST" ? 201 : 200);
      const seen = (await res.json()) as { method: string; body: string };
      expect(seen.method).toBe(method);
      if (method !== "OPTIONS") expect(seen.body).toBe(`body of ${method}`);
      expect(ourCacheStatus(res)).toContain("fwd=method");
    }
  });

  test("a large request body streams through to the origin unchanged", async () => {
    const big = "x".repeat(3 << 20) + "end";
    const res = await proxy.get("/echo", { method: "POST", body: big });
    const seen = (await res.json()) as { body: string };
    expect(seen.body.length).toBe(big.length);
    expect(seen.body.endsWith("end")).toBe(true);
  });

  test("end-to-end request headers are forwarded; hop-by-hop ones are not; X-Forwarded-* and Via are added", async () => {
    const res = await rawRequest(
      proxy.port,
      [
        "GET /echo HTTP/1.1",
        "Host: shop.example",
        "Cookie: session=abc",
        "Authorization: Bearer t0ken",
        "Accept-Language: fr-CH, fr;q=0.9",
        "X-Forwarded-For: 10.0.0.9",
        "X-Forwarded-Proto: https",
        "Keep-Alive: timeout=5",
        "TE: trailers",
        "Proxy-Authorization: Basic c2VjcmV0",
        "Upgrade: websocket",
        "X-Hop: secret",
        "Connection: X-Hop, keep-alive",
      ].join("\n"),
    );
    expect(res.status).toBe(200);
    const h = (JSON.parse(res.body) as { headers: Record<string, string> }).headers;
    expect(h.cookie).toBe("session=abc");
    expect(h.authorization).toBe("Bearer t0ken");
    expect(h["accept-language"]).toBe("fr-CH, fr;q=0.9");
    for (const hop of ["keep-alive", "te", "proxy-authorization", "upgrade", "x-hop"]) expect([hop, h[hop]]).toEqual([hop, undefined]);
    expect(h.host).toBe(`127.0.0.1:${origin.port}`);
    expect(h["x-forwarded-for"]).toBe("10.0.0.9, 127.0.0.1");
    expect(h["x-forwarded-proto"]).toBe("http"); // the proxy's own view, not the client's claim
    expect(h["x-forwarded-host"]).toBe("shop.example");
    expect(h.via).toMatch(/^1\.1 offheap-[0-9a-f]{8}$/);
  });

  test("preserveHost sends the client's Host to the origin", async () => {
    const p = startProxy(origin.url, { handler: { preserveHost: true } });
    try {
      const res = await rawRequest(p.port, "GET /echo HTTP/1.1\nHost: shop.example");
      expect((JSON.parse(res.body) as { headers: Record<string, string> }).headers.host).toBe("shop.example");
    } finally {
      await p.stop();
    }
  });

  test("response headers pass through, on the miss and on the hit; Connection-listed ones are dropped", async () => {
    for (const round of ["miss", "hit"]) {
      const res = await proxy.get("/headers");
      expect(await res.text()).toBe("with headers");
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect([round, name, res.headers.get(name)]).toEqual([round, name, value]);
      expect(res.headers.get("cache-control")).toBe("public, max-age=300");
      expect(res.headers.get("x-custom")).toBe("kept");
      expect(res.headers.get("x-secret-hop")).toBeNull();
      expect(res.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; Path=/"]);
      expect(ourCacheStatus(res)).toContain(round === "hit" ? "hit" : "stored");
    }
    expect(origin.count("/headers")).toBe(1);
  });

  test("the origin's own 4xx and 5xx reach the client as they were (status and body)", async () => {
    for (const s of [400, 401, 403, 404, 410, 451, 429, 500, 502, 503, 504]) {
      const res = await proxy.get(`/status?s=${s}`);
      expect(res.status).toBe(s);
      expect(await res.text()).toBe(`status ${s}`);
      expect(ourCacheStatus(res)).toContain(`fwd-status=${s}`);
    }
  });

  test("204 and HEAD carry no body; a HEAD hit answers the stored response's headers", async () => {
    const a = await proxy.get("/no-content");
    expect(a.status).toBe(204);
    expect(await a.text()).toBe("");
    const b = await proxy.get("/no-content");
    expect(b.status).toBe(204);
    expect(b.headers.get("x-kind")).toBe("empty");
    expect(ourCacheStatus(b)).toContain("hit");
    const page = await proxy.get("/head-me");
    expect(await page.text()).toBe("page /head-me");
    const head = await proxy.get("/head-me", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String("page /head-me".length));
    expect(await head.text()).toBe("");
    expect(ourCacheStatus(head)).toContain("hit");
    expect(origin.count("/head-me")).toBe(1);
  });

  test("an unreachable origin is 502 with ERR_UPSTREAM; a slow one is 504 with ERR_TIMEOUT", async () => {
    const gone = startOrigin(() => new Response("x"));
    const url = gone.url;
    gone.stop();
    const p = startProxy(url);
    try {
      const res = await p.get("/anything");
      expect(res.status).toBe(502);
      expect(ourCacheStatus(res)).toContain("detail=ERR_UPSTREAM");
      const post = await p.get("/anything", { method: "POST", body: "x" });
      expect(post.status).toBe(502);
    } finally {
      await p.stop();
    }
    const q = startProxy(origin.url, { cache: { timeout: 100 } });
    try {
      const res = await q.get("/slow");
      expect(res.status).toBe(504);
      expect(ourCacheStatus(res)).toContain("detail=ERR_TIMEOUT");
      expect(q.cache.stats().originTimeouts).toBe(1);
    } finally {
      await q.stop();
    }
  });

  test("a request loop (the proxy as its own origin) is cut off with 508", async () => {
    const { MemoryStore, TieredCache } = await import("../../../src/tiered/index.ts");
    const cache = new TieredCache({ tiers: [new MemoryStore()] });
    let handler: ((req: Request) => Promise<Response>) | undefined;
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => handler!(req) });
    handler = cache.handler(`http://127.0.0.1:${server.port}`);
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/loop`);
      expect(res.status).toBe(508);
    } finally {
      server.stop(true);
      await cache.close();
    }
  });

  test("after close, the handler answers 503", async () => {
    const p = startProxy(origin.url);
    const handler = p.cache.handler(origin.url);
    await p.stop();
    const res = await handler(new Request("http://proxy.local/x"));
    expect(res.status).toBe(503);
  });
});
