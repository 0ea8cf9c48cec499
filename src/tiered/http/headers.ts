/**
 * Header handling for a proxy (RFC 9110 §7.6.1): hop-by-hop fields never cross it, and
 * stored responses keep their end-to-end fields as the origin sent them, repeated
 * `Set-Cookie` lines included.
 */

/** Fields that describe one connection, never forwarded or stored (plus those `Connection` names). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authentication-info",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** A header list as stored: lowercase names in the origin's order, one pair per line. */
export type HeaderList = [name: string, value: string][];

function connectionTokens(headers: Headers): Set<string> | undefined {
  const connection = headers.get("connection");
  if (connection === null) return undefined;
  const out = new Set<string>();
  for (const t of connection.split(",")) {
    const name = t.trim().toLowerCase();
    if (name !== "") out.add(name);
  }
  return out;
}

/** Whether a field named `name` (lowercase) is hop-by-hop for a message whose `Connection` listed `listed`. */
function isHopByHop(name: string, listed: Set<string> | undefined): boolean {
  return HOP_BY_HOP.has(name) || (listed !== undefined && listed.has(name));
}

/** The end-to-end fields of `headers` as a new `Headers`. */
export function endToEnd(headers: Headers): Headers {
  const listed = connectionTokens(headers);
  const out = new Headers();
  for (const [name, value] of headers) if (!isHopByHop(name, listed)) out.append(name, value);
  return out;
}

/** The end-to-end fields of a response, as a list to store (each `Set-Cookie` its own pair). */
export function storedHeaderList(headers: Headers): HeaderList {
  const listed = connectionTokens(headers);
  const out: HeaderList = [];
  for (const [name, value] of headers) {
    if (name === "set-cookie" || isHopByHop(name, listed)) continue;
    out.push([name, value]);
  }
  for (const cookie of headers.getSetCookie()) out.push(["set-cookie", cookie]);
  return out;
}

/** Built once per stored list (a list never changes once stored), copied per answer. */
const templates = new WeakMap<HeaderList, Headers>();

/** A new `Headers` holding a stored list. */
export function headersFromList(list: HeaderList): Headers {
  let template = templates.get(list);
  if (template === undefined) {
    template = new Headers();
    for (const [name, value] of list) template.append(name, value);
    templates.set(list, template);
  }
  return new Headers(template);
}

/**
 * A flat record of `headers` (lowercase names; repeated fields joined with `, `, as
 * `Headers` does), the form the cache policy reads.
 */
export function headerRecord(headers: Headers | HeaderList): Record<string, string> {
  // Bun's Headers#toJSON joins repeated fields the same way, natively (Set-Cookie aside).
  if (headers instanceof Headers && !headers.has("set-cookie") && typeof (headers as { toJSON?: unknown }).toJSON === "function") {
    return (headers as unknown as { toJSON(): Record<string, string> }).toJSON();
  }
  const out: Record<string, string> = {};
  for (const [name, value] of headers) out[name] = name in out ? `${out[name]}, ${value}` : value;
  return out;
}

/**
 * Apply a 304's fields to a stored list (RFC 9111 §3.2): each field the 304 carries
 * replaces every stored line of that name, except those that describe the stored body.
 */
export function updatedHeaderList(stored: HeaderList, notModified: Headers): HeaderList {
  const keep = new Set(["content-length", "content-encoding", "content-range", "transfer-encoding"]);
  const listed = connectionTokens(notModified);
  const replace = new Map<string, string[]>();
  for (const [name, value] of notModified) {
    if (name === "set-cookie" || keep.has(name) || isHopByHop(name, listed)) continue;
    const values = replace.get(name);
    if (values === undefined) replace.set(name, [value]);
    else values.push(value);
  }
  const cookies = notModified.getSetCookie();
  if (cookies.length > 0) replace.set("set-cookie", cookies);
  const out: HeaderList = [];
  for (const [name, value] of stored) if (!replace.has(name)) out.push([name, value]);
  for (const [name, values] of replace) for (const value of values) out.push([name, value]);
  return out;
}
