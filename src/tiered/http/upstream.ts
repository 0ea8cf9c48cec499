/**
 * Asking the origin: the request as a reverse proxy forwards it (end-to-end fields,
 * `X-Forwarded-*`, the body streamed), redirects never followed, bodies never decoded, a
 * deadline for the answer's head, and failures as `ERR_UPSTREAM` / `ERR_TIMEOUT`.
 */
import { OffheapError } from "../../errors.ts";
import { endToEnd } from "./headers.ts";

/** Who asked, as the `X-Forwarded-*` fields tell it. */
export interface ClientInfo {
  /** The client's address, when the server knows it. */
  ip: string | undefined;
  /** `http` or `https`: how the client reached the proxy. */
  proto: string;
  /** The `Host` the client sent. */
  host: string | null;
}

/** The `requestIP` part of a `Bun.serve` server (the handler's second argument). */
export interface ServerLike {
  requestIP(req: Request): { address: string } | null;
}

/** What the forwarded request's headers take from the proxy's options. */
export interface ForwardingOptions {
  /** Send the client's `Host` instead of the origin's. */
  preserveHost: boolean;
  /** This proxy's name in `Via` (RFC 9110 §7.6.3), e.g. `offheap-1a2b3c4d`. */
  via: string;
}

/** Whether `req` already passed through the proxy named `via` (a request loop). */
export function isLoop(req: Request, via: string): boolean {
  const seen = req.headers.get("via");
  return seen !== null && seen.split(",").some((hop) => hop.trim().split(/[ \t]+/)[1] === via);
}

/** What the client's request says about the client. */
export function clientInfo(req: Request, server: ServerLike | undefined): ClientInfo {
  let ip: string | undefined;
  try {
    ip = server?.requestIP(req)?.address;
  } catch {
    ip = undefined; // not a Bun.serve server, or the socket is gone
  }
  return { ip, proto: new URL(req.url).protocol.replace(":", ""), host: req.headers.get("host") };
}

/**
 * The headers to send upstream: the client's end-to-end fields without `Host` (unless
 * preserved) and without the names in `drop`, and `X-Forwarded-For` (appended),
 * `X-Forwarded-Proto` and `X-Forwarded-Host` (set by this proxy, never taken from the
 * client), and this proxy in `Via`. With no `Accept-Encoding` from the client, `identity` is asked for: bodies
 * pass through undecoded, so the client must be able to read what comes back.
 */
export function forwardedHeaders(req: Request, client: ClientInfo, options: ForwardingOptions, drop?: ReadonlySet<string>): Headers {
  const headers = endToEnd(req.headers);
  headers.delete("host");
  if (drop !== undefined) for (const name of drop) headers.delete(name);
  if (options.preserveHost && client.host !== null) headers.set("host", client.host);
  if (client.ip !== undefined) {
    const before = headers.get("x-forwarded-for");
    headers.set("x-forwarded-for", before === null ? client.ip : `${before}, ${client.ip}`);
  }
  headers.set("x-forwarded-proto", client.proto);
  if (client.host !== null) headers.set("x-forwarded-host", client.host);
  else headers.delete("x-forwarded-host");
  if (!headers.has("accept-encoding")) headers.set("accept-encoding", "identity");
  const via = headers.get("via");
  headers.set("via", via === null ? `1.1 ${options.via}` : `${via}, 1.1 ${options.via}`);
  return headers;
}

/** One request to the origin. */
export interface UpstreamRequest {
  url: string;
  method: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
  /** How long to wait for the response's head (ms). */
  timeout: number;
  /** Aborts the request (and its body) when it fires. */
  signal: AbortSignal;
  /** Aborts waiting for the head only (the client went away before anything came back). */
  headSignal?: AbortSignal | undefined;
}

/**
 * Send `r` and resolve with the origin's response as it is (3xx included). Throws
 * `ERR_TIMEOUT` when no head came within `timeout`, `ERR_UPSTREAM` when the origin could
 * not be reached, and the signal's reason when aborted.
 */
export async function fetchUpstream(r: UpstreamRequest): Promise<Response> {
  if (r.signal.aborted) throw r.signal.reason;
  if (r.headSignal?.aborted) throw r.headSignal.reason;
  // `own` ends the wait for the head (deadline, client gone); `r.signal` ends everything.
  const own = new AbortController();
  const signal = AbortSignal.any([own.signal, r.signal]);
  const onHead = () => own.abort(r.headSignal?.reason);
  r.headSignal?.addEventListener("abort", onHead, { once: true });
  const timer = setTimeout(() => {
    own.abort(new OffheapError("ERR_TIMEOUT", `the origin did not answer ${r.method} ${new URL(r.url).pathname} within ${r.timeout} ms`));
  }, r.timeout);
  try {
    const init: RequestInit & { decompress: boolean; duplex?: "half" } = { method: r.method, headers: r.headers, redirect: "manual", decompress: false, signal };
    if (r.body !== null) {
      init.body = r.body;
      init.duplex = "half";
    }
    return await fetch(r.url, init);
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    const why = e instanceof Error ? e.message : String(e);
    throw new OffheapError("ERR_UPSTREAM", `the origin could not be reached for ${r.method} ${new URL(r.url).pathname}: ${why}`, { cause: e });
  } finally {
    clearTimeout(timer);
    r.headSignal?.removeEventListener("abort", onHead);
  }
}
