/**
 * Strict parsers for the fields that decide caching (RFC 9111 §5, RFC 9110 §5.6.7), and
 * the canonical forms the cache policy is given: a value that does not parse is treated
 * as the specs say (an invalid `Expires` is in the past, an invalid `Age` is ignored, a
 * freshness directive given twice with different values makes the response stale).
 */

/** Largest delta-seconds value; larger ones are taken as this (RFC 9111 §1.2.2). */
export const MAX_DELTA_SECONDS = 2147483648;

/** Directives the cache acts on; others are dropped from the canonical form. */
const KNOWN_DIRECTIVES = new Set([
  "max-age",
  "s-maxage",
  "no-cache",
  "no-store",
  "private",
  "public",
  "must-revalidate",
  "proxy-revalidate",
  "must-understand",
  "immutable",
  "stale-while-revalidate",
  "stale-if-error",
  "only-if-cached",
  "min-fresh",
  "max-stale",
  "no-transform",
]);

/** Directives whose argument is delta-seconds. */
const DELTA_DIRECTIVES = new Set(["max-age", "s-maxage", "stale-while-revalidate", "stale-if-error", "min-fresh", "max-stale"]);

/** Directives that decide freshness: given twice with different values, the response is stale. */
const FRESHNESS_DIRECTIVES = new Set(["max-age", "s-maxage"]);

/** A parsed `Cache-Control`: directive name (lowercase) to its argument, or `true` for none. */
export type Directives = Map<string, string | true>;

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Parse delta-seconds (`1*DIGIT`), saturating at 2^31; undefined when not digits. */
export function deltaSeconds(value: string): number | undefined {
  if (!/^[0-9]+$/.test(value)) return undefined;
  const n = Number(value);
  return n > MAX_DELTA_SECONDS ? MAX_DELTA_SECONDS : n;
}

/**
 * Parse a `Cache-Control` value: a comma-separated list of `token [= token / quoted-string]`,
 * names case-insensitive, commas inside quoted strings kept. A malformed member is skipped.
 */
export function parseCacheControl(value: string | null | undefined): Directives {
  const out: Directives = new Map();
  if (value == null) return out;
  const duplicates = new Set<string>();
  let i = 0;
  const n = value.length;
  while (i < n) {
    while (i < n && (value[i] === "," || value[i] === " " || value[i] === "\t")) i++;
    if (i >= n) break;
    let end = i;
    while (end < n && value[end] !== "=" && value[end] !== "," && value[end] !== " " && value[end] !== "\t") end++;
    const name = value.slice(i, end).toLowerCase();
    i = end;
    let arg: string | true = true;
    let malformed = !TCHAR.test(name);
    if (value[i] === "=") {
      i++;
      if (value[i] === '"') {
        let s = "";
        i++;
        let closed = false;
        while (i < n) {
          const c = value[i]!;
          if (c === "\\" && i + 1 < n) {
            s += value[i + 1];
            i += 2;
            continue;
          }
          if (c === '"') {
            closed = true;
            i++;
            break;
          }
          s += c;
          i++;
        }
        if (!closed) malformed = true;
        arg = s;
      } else {
        let e = i;
        while (e < n && value[e] !== "," && value[e] !== " " && value[e] !== "\t") e++;
        arg = value.slice(i, e);
        if (!TCHAR.test(arg)) malformed = true;
        i = e;
      }
    }
    // Anything but optional whitespace before the next comma makes the member malformed.
    while (i < n && value[i] !== ",") {
      if (value[i] !== " " && value[i] !== "\t") malformed = true;
      i++;
    }
    if (malformed || name === "") continue;
    if (out.has(name)) {
      const before = out.get(name);
      if (before !== arg) duplicates.add(name);
      continue;
    }
    out.set(name, arg);
  }
  for (const name of duplicates) if (FRESHNESS_DIRECTIVES.has(name)) out.set(name, "0");
  return out;
}

/**
 * The canonical `Cache-Control` for the policy: known directives only, lowercase, delta
 * arguments as plain digits. A freshness directive with an argument that is not
 * delta-seconds makes the response stale (`0`); other bad arguments drop the directive.
 */
export function canonicalCacheControl(value: string | null | undefined): string | undefined {
  if (value == null) return undefined;
  const parts: string[] = [];
  for (const [name, arg] of parseCacheControl(value)) {
    if (!KNOWN_DIRECTIVES.has(name)) continue;
    if (DELTA_DIRECTIVES.has(name)) {
      if (arg === true) {
        // max-stale alone means "any staleness"; the others need an argument.
        if (name === "max-stale") parts.push(name);
        else if (FRESHNESS_DIRECTIVES.has(name)) parts.push(`${name}=0`);
        continue;
      }
      const seconds = deltaSeconds(arg);
      if (seconds === undefined) {
        if (FRESHNESS_DIRECTIVES.has(name)) parts.push(`${name}=0`);
        continue;
      }
      parts.push(`${name}=${seconds}`);
    } else {
      // Field-qualified forms (`no-cache="set-cookie"`) act as the unqualified directive here.
      parts.push(name);
    }
  }
  return parts.join(", ");
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const IMF_FIXDATE = /^(Sun|Mon|Tue|Wed|Thu|Fri|Sat), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const RFC850 = /^(Sunday|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday), (\d{2})-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const ASCTIME = /^(Sun|Mon|Tue|Wed|Thu|Fri|Sat) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ( \d|\d{2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

function utc(year: number, month: string, day: number, h: number, m: number, s: number): number | undefined {
  const mon = MONTHS.indexOf(month);
  if (day < 1 || day > 31 || h > 23 || m > 59 || s > 60) return undefined;
  const t = Date.UTC(year, mon, day, h, m, Math.min(s, 59));
  // Reject dates that roll over (31 Feb).
  if (new Date(t).getUTCDate() !== day) return undefined;
  return t;
}

/**
 * Parse an HTTP-date in any of its three forms (IMF-fixdate, RFC 850, asctime); ms since
 * the epoch, or undefined when it is not one. A two-digit RFC 850 year more than 50 years
 * ahead is taken as the past century (RFC 9110 §5.6.7).
 */
export function parseHttpDate(value: string | null | undefined): number | undefined {
  if (value == null) return undefined;
  const v = value.trim();
  let m = IMF_FIXDATE.exec(v);
  if (m !== null) return utc(Number(m[4]), m[3]!, Number(m[2]), Number(m[5]), Number(m[6]), Number(m[7]));
  m = RFC850.exec(v);
  if (m !== null) {
    const now = new Date().getUTCFullYear();
    let year = 2000 + Number(m[4]);
    if (year > now + 50) year -= 100;
    return utc(year, m[3]!, Number(m[2]), Number(m[5]), Number(m[6]), Number(m[7]));
  }
  m = ASCTIME.exec(v);
  if (m !== null) return utc(Number(m[7]), m[2]!, Number(m[3]!.trim()), Number(m[4]), Number(m[5]), Number(m[6]));
  return undefined;
}

/** An HTTP-date (IMF-fixdate) for `ms`. */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

/**
 * The `Age` value in seconds: the first member of the list, if it is delta-seconds;
 * otherwise the field is ignored (RFC 9111 §5.1) and this is undefined.
 */
export function parseAge(value: string | null | undefined): number | undefined {
  if (value == null) return undefined;
  const first = value.split(",")[0]!.trim();
  return deltaSeconds(first);
}

/**
 * The field names a `Vary` value lists, lowercase, sorted and without repeats; `["*"]`
 * when any member is `*`; empty when it lists none.
 */
export function parseVary(value: string | null | undefined): string[] {
  if (value == null) return [];
  const names = new Set<string>();
  for (const part of value.split(",")) {
    const name = part.trim().toLowerCase();
    if (name === "") continue;
    if (name === "*") return ["*"];
    names.add(name);
  }
  return [...names].sort();
}

/** A Structured Fields bare item (RFC 8941 §3.3), as the targeted cache-control fields use them. */
export type SfItem = number | string | boolean | { token: string } | { bytes: string };

/**
 * Parse a Structured Fields Dictionary (RFC 8941 §4.2.2): `key[=item][;params]`, members
 * separated by commas. Parameters and inner lists are read and dropped (no directive uses
 * them). Undefined when the value is not a valid dictionary: the field is then ignored.
 */
export function parseSfDictionary(value: string): Map<string, SfItem> | undefined {
  const out = new Map<string, SfItem>();
  const s = value;
  let i = 0;
  const ows = () => {
    while (s[i] === " " || s[i] === "\t") i++;
  };
  const sp = () => {
    while (s[i] === " ") i++;
  };
  const key = (): string | undefined => {
    const m = /^[a-z*][a-z0-9_\-.*]*/.exec(s.slice(i));
    if (m === null) return undefined;
    i += m[0].length;
    return m[0];
  };
  const bareItem = (): SfItem | undefined => {
    const c = s[i];
    if (c === undefined) return undefined;
    if (c === "-" || (c >= "0" && c <= "9")) {
      const m = /^-?[0-9]{1,15}(\.[0-9]{1,3})?/.exec(s.slice(i));
      if (m === null) return undefined;
      const intPart = m[0].split(".")[0]!.replace("-", "");
      if (m[1] !== undefined ? intPart.length > 12 : intPart.length > 15) return undefined;
      i += m[0].length;
      return Number(m[0]);
    }
    if (c === '"') {
      let str = "";
      i++;
      while (i < s.length) {
        const ch = s[i]!;
        if (ch === "\\") {
          const next = s[i + 1];
          if (next !== '"' && next !== "\\") return undefined;
          str += next;
          i += 2;
          continue;
        }
        if (ch === '"') {
          i++;
          return str;
        }
        const code = ch.charCodeAt(0);
        if (code < 0x20 || code > 0x7e) return undefined;
        str += ch;
        i++;
      }
      return undefined;
    }
    if (c === ":") {
      const m = /^:([A-Za-z0-9+/=]*):/.exec(s.slice(i));
      if (m === null) return undefined;
      i += m[0].length;
      return { bytes: m[1]! };
    }
    if (c === "?") {
      if (s[i + 1] === "0" || s[i + 1] === "1") {
        i += 2;
        return s[i - 1] === "1";
      }
      return undefined;
    }
    const m = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*/.exec(s.slice(i));
    if (m === null) return undefined;
    i += m[0].length;
    return { token: m[0] };
  };
  const params = (): boolean => {
    while (s[i] === ";") {
      i++;
      sp();
      if (key() === undefined) return false;
      if (s[i] === "=") {
        i++;
        if (bareItem() === undefined) return false;
      }
    }
    return true;
  };
  const innerList = (): boolean => {
    i++; // "("
    for (;;) {
      sp();
      if (s[i] === ")") {
        i++;
        return params();
      }
      if (bareItem() === undefined || !params()) return false;
      if (s[i] !== " " && s[i] !== ")") return false;
    }
  };
  sp();
  if (i >= s.length) return out;
  for (;;) {
    const k = key();
    if (k === undefined) return undefined;
    let item: SfItem = true;
    if (s[i] === "=") {
      i++;
      if (s[i] === "(") {
        if (!innerList()) return undefined;
        item = true; // no directive takes a list: keep the member's presence only
      } else {
        const v = bareItem();
        if (v === undefined || !params()) return undefined;
        item = v;
      }
    } else if (!params()) return undefined;
    out.set(k, item);
    ows();
    if (i >= s.length) return out;
    if (s[i] !== ",") return undefined;
    i++;
    ows();
    if (i >= s.length) return undefined; // trailing comma
  }
}

/**
 * A targeted cache-control field such as `CDN-Cache-Control` (RFC 9213) as a plain
 * `Cache-Control` value, or undefined when it is not a valid dictionary (then it is
 * ignored and `Cache-Control` applies). A delta directive whose value is not a
 * non-negative integer is dropped.
 */
export function targetedCacheControl(value: string | null | undefined): string | undefined {
  if (value == null) return undefined;
  const dict = parseSfDictionary(value);
  if (dict === undefined) return undefined;
  const parts: string[] = [];
  for (const [name, item] of dict) {
    if (DELTA_DIRECTIVES.has(name)) {
      if (typeof item === "number" && Number.isInteger(item) && item >= 0) parts.push(`${name}=${Math.min(item, MAX_DELTA_SECONDS)}`);
    } else if (item === true) {
      parts.push(name);
    } else if (typeof item === "string" || typeof item === "object") {
      // e.g. no-cache="field": acts as the unqualified directive
      if (name === "no-cache" || name === "private") parts.push(name);
    }
  }
  return parts.join(", ");
}
