/**
 * Helpers for the HTTP face's tests (not a test file): an origin that records what it
 * was asked, a proxy in front of it (real `Bun.serve`, real `fetch`), a raw HTTP/1.1
 * client for request targets `fetch` would normalise, and a clock tests move by hand.
 */
import { connect } from "node:net";
import { MemoryStore, TieredCache, type ProxyOptions, type Store, type TieredCacheOptions } from "../../../src/tiered/index.ts";

/** One request the origin received. */
export interface SeenRequest {
  method: string;
  /** Path and query as the origin saw them. */
  path: string;
  headers: Headers;
  body: string;
}

/** An origin whose answers a test sets per request. */
export interface Origin {
  readonly url: string;
  readonly port: number;
  /** Every request received, oldest first. */
  readonly seen: SeenRequest[];
  /** Requests received for `path` (path and query). */
  count(path: string): number;
  stop(): void;
}

/**
 * Start an origin on 127.0.0.1. `answer` builds each response (it may be async); the
 * `Date` header is taken from `clock` unless the answer sets one.
 */
export function startOrigin(answer: (req: Request, seen: SeenRequest, n: number) => Response | Promise<Response>, clock: () => number = Date.now): Origin {
  const seen: SeenRequest[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const body = req.method === "GET" || req.method === "HEAD" ? "" : await req.text();
      const s: SeenRequest = { method: req.method, path: url.pathname + url.search, headers: new Headers(req.headers), body };
      seen.push(s);
      const res = await answer(req, s, seen.length);
      if (!res.headers.has("date")) res.headers.set("date", new Date(clock()).toUTCString());
      return res;
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port!,
    seen,
    count: (path) => seen.filter((s) => s.path === path).length,
    stop: () => server.stop(true),
  };
}

/** A clock a test moves with `advance`. Starts at the real time (origins send real-looking dates). */
export class Clock {
  now = Math.floor(Date.now() / 1000) * 1000;
  readonly fn = (): number => this.now;
  /** Move forward by `seconds`. */
  advance(seconds: number): void {
    this.now += seconds * 1000;
  }
}

/** A caching proxy in front of an origin. */
export interface Proxy {
  readonly url: string;
  readonly port: number;
  readonly cache: TieredCache;
  /** `fetch` a path on the proxy. */
  get(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

/** Start `cache.handler(originUrl, handlerOptions)` on `Bun.serve`. */
export function startProxy(
  originUrl: string,
  options: { cache?: Partial<TieredCacheOptions>; handler?: ProxyOptions; tiers?: Store[] } = {},
): Proxy {
  const cache = new TieredCache({ tiers: options.tiers ?? [new MemoryStore({ maxBytes: 16 << 20 })], ...options.cache });
  const handler = cache.handler(originUrl, options.handler);
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handler });
  const url = `http://127.0.0.1:${server.port}`;
  return {
    url,
    port: server.port!,
    cache,
    get: (path, init) => fetch(url + path, init),
    async stop() {
      server.stop(true);
      await cache.close();
    },
  };
}

/** A raw HTTP/1.1 exchange: the status, headers (lowercase) and body text of the answer. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Send `head` (the request line and header lines, without the final blank line) exactly
 * as given, with `Connection: close`, and read the answer. For request targets that a
 * URL-based client would rewrite (`//host`, `/\host`, absolute forms).
 */
export function rawRequest(port: number, head: string, body = ""): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to ${JSON.stringify(head.split("\r\n")[0])}`));
    }, 10_000);
    socket.on("connect", () => {
      const lines = head.includes("\r\n") ? head : head.replace(/\n/g, "\r\n");
      socket.write(`${lines}\r\nConnection: close\r\n${body === "" ? "" : `Content-Length: ${Buffer.byteLength(body)}\r\n`}\r\n${body}`);
    });
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      const [statusLine = "", ...lines] = text.slice(0, end < 0 ? text.length : end).split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const at = line.indexOf(":");
        if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
      }
      resolve({ status: Number(statusLine.split(" ")[1] ?? 0), headers, body: end < 0 ? "" : text.slice(end + 4) });
    });
  });
}

/** The members of a `Cache-Status` value that are this cache's (`offheap; ...`), as a list of parameters. */
export function ourCacheStatus(res: Response): string[] {
  const value = res.headers.get("cache-status") ?? "";
  const member = value.split(",").map((m) => m.trim()).find((m) => m.startsWith("offheap"));
  return member === undefined ? [] : member.split(";").map((p) => p.trim()).slice(1);
}

/** Whether the response was served from the cache (its Cache-Status says `hit`). */
export function isHit(res: Response): boolean {
  return ourCacheStatus(res).includes("hit");
}
