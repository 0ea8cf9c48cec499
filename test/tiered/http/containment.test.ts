/**
 * The proxy only ever asks its configured origin: every escape shape a request target,
 * Host header or redirect can take is sent through a real socket, and the other host
 * (a second server holding a "secret") must receive nothing.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { OffheapError } from "../../../src/errors.ts";
import { MemoryStore, TieredCache } from "../../../src/tiered/index.ts";
import { rawRequest, startOrigin, startProxy, type Origin, type Proxy } from "./harness.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

let other: Origin; // the host nothing may reach
let origin: Origin;
let proxy: Proxy;
let prefixed: Proxy; // handler("http://origin/app/")

beforeAll(() => {
  other = startOrigin(() => new Response("SECRET", { headers: { "cache-control": "max-age=3600" } }));
  origin = startOrigin((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/redirect") return new Response(null, { status: 302, headers: { location: `${other.url}/secret` } });
    if (path === "/redirect-relative") return new Response(null, { status: 301, headers: { location: "/elsewhere", "cache-control": "max-age=60" } });
    return new Response(`origin saw ${path}`, { headers: { "cache-control": "max-age=3600" } });
  });
  proxy = startProxy(origin.url);
  prefixed = startProxy(`${origin.url}/app/`);
});

afterAll(async () => {
  await proxy.stop();
  await prefixed.stop();
  origin.stop();
  other.stop();
});

const host = () => `127.0.0.1:${other.port}`;

/** Every request-target shape that has been used to make a proxy fetch another host. */
function escapes(): string[] {
  const h = host();
  return [
    `//${h}/secret`,
    `///${h}/secret`,
    `/\\${h}/secret`,
    `/\\\\${h}/secret`,
    `\\\\${h}/secret`,
    `/%2F%2F${h}/secret`,
    `/%2f/${h}/secret`,
    `/%5C%5C${h}/secret`,
    `/%5c/${h}/secret`,
    `http://${h}/secret`,
    `https://${h}/secret`,
    `HTTP://${h}/secret`,
    `ftp://${h}/secret`,
    `file:///etc/passwd`,
    `//user:pass@${h}/secret`,
    `/@${h}/secret`,
    `@${h}/secret`,
    `/.//${h}/secret`,
    `/..//${h}/secret`,
    `/a/../..//${h}/secret`,
    `/%2e%2e//${h}/secret`,
    `/%09//${h}/secret`,
    `/?//${h}/secret`,
    `/#//${h}/secret`,
    `/%00//${h}/secret`,
    `${h}/secret`,
    `*`,
  ];
}

describe("containment: nothing but the configured origin is ever fetched", () => {
  test("every escape shape in the request target reaches the origin (or is refused), never the other host", async () => {
    for (const target of escapes()) {
      for (const p of [proxy, prefixed]) {
        const res = await rawRequest(p.port, `GET ${target} HTTP/1.1\nHost: 127.0.0.1:${p.port}`);
        expect([target, res.body]).not.toEqual([target, "SECRET"]);
        expect([target, res.status === 200 || res.status === 400 || res.status === 404]).toEqual([target, true]);
        if (res.status === 200) expect([target, res.body.startsWith("origin saw ")]).toEqual([target, true]);
      }
    }
    expect(other.seen).toEqual([]);
  });

  test("the same shapes through fetch (as a client library sends them)", async () => {
    const h = host();
    for (const path of [`//${h}/secret`, `/\\${h}/secret`, `/%2F%2F${h}/secret`, `/..//${h}/secret`]) {
      const res = await proxy.get(path);
      expect(await res.text()).not.toBe("SECRET");
    }
    expect(other.seen).toEqual([]);
  });

  test("a Host header naming the other host changes nothing", async () => {
    const res = await rawRequest(proxy.port, `GET /host-check HTTP/1.1\nHost: ${host()}`);
    expect(res.status).toBe(200);
    expect(res.body).toBe("origin saw /host-check");
    const forwarded = origin.seen.find((s) => s.path === "/host-check")!;
    expect(forwarded.headers.get("host")).toBe(`127.0.0.1:${origin.port}`);
    expect(forwarded.headers.get("x-forwarded-host")).toBe(host());
    expect(other.seen).toEqual([]);
  });

  test("other methods with escape targets (POST, PUT, DELETE, OPTIONS, CONNECT) never reach the other host", async () => {
    const h = host();
    for (const method of ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"]) {
      for (const target of [`//${h}/secret`, `http://${h}/secret`, `/\\${h}/secret`]) {
        const res = await rawRequest(proxy.port, `${method} ${target} HTTP/1.1\nHost: 127.0.0.1:${proxy.port}\nContent-Type: text/plain`, "x");
        expect([method, target, res.body]).not.toEqual([method, target, "SECRET"]);
      }
    }
    await rawRequest(proxy.port, `CONNECT ${h} HTTP/1.1\nHost: ${h}`).catch(() => undefined);
    expect(other.seen).toEqual([]);
  });

  test("the origin's path prefix is kept and cannot be left with dot segments", async () => {
    const ok = await prefixed.get("/page?x=1");
    expect(await ok.text()).toBe("origin saw /app/page");
    expect(origin.seen.at(-1)!.path).toBe("/app/page?x=1");
    const before = origin.seen.length;
    for (const target of ["/../secret", "/%2e%2e/secret", "/.%2e/secret", "/%2E%2E/%2E%2E/secret", "/a/../../secret"]) {
      const res = await rawRequest(prefixed.port, `GET ${target} HTTP/1.1\nHost: 127.0.0.1`);
      if (res.status === 200) expect([target, res.body.startsWith("origin saw /app/")]).toEqual([target, true]);
      else expect([target, res.status]).toEqual([target, 400]);
    }
    const asked = origin.seen.slice(before).map((s) => s.path);
    expect(asked.filter((path) => !path.startsWith("/app/"))).toEqual([]);
  });

  test("redirects are passed to the client with their Location, never followed", async () => {
    const res = await proxy.get("/redirect", { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(`${other.url}/secret`);
    expect(await res.text()).toBe("");
    const again = await proxy.get("/redirect", { redirect: "manual" });
    expect(again.status).toBe(302);
    expect(other.seen).toEqual([]);
    // A cacheable redirect is stored as a redirect, and served as one.
    const r1 = await proxy.get("/redirect-relative", { redirect: "manual" });
    const r2 = await proxy.get("/redirect-relative", { redirect: "manual" });
    expect([r1.status, r2.status]).toEqual([301, 301]);
    expect(r2.headers.get("location")).toBe("/elsewhere");
    expect(r2.headers.get("cache-status")).toContain("hit");
    expect(origin.count("/redirect-relative")).toBe(1);
  });

  test("an origin that is not plain http(s) is refused up front with ERR_INVALID", () => {
    const cache = new TieredCache({ tiers: [new MemoryStore()] });
    for (const bad of ["ftp://example.com/", "file:///etc", "x", "", "http://u:p@example.com/", "http://example.com/?q=1", "http://example.com/#f", 42, null]) {
      let caught: unknown;
      try {
        cache.handler(bad as string);
      } catch (e) {
        caught = e;
      }
      expect([bad, caught instanceof OffheapError && caught.code]).toEqual([bad, "ERR_INVALID"]);
    }
    void cache.close();
  });
});
