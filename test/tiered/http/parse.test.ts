/** The strict field parsers the cache policy reads through (RFC 9111 §5, RFC 9110 §5.6.7, RFC 8941). */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import {
  MAX_DELTA_SECONDS,
  canonicalCacheControl,
  parseAge,
  parseCacheControl,
  parseHttpDate,
  parseSfDictionary,
  parseVary,
  targetedCacheControl,
} from "../../../src/tiered/http/parse.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

describe("Cache-Control", () => {
  test("directives, arguments, quoted strings with commas, case", () => {
    const d = parseCacheControl('Max-Age=60, no-cache="set-cookie, x", private, ext="a, b", s-maxage="30"');
    expect(d.get("max-age")).toBe("60");
    expect(d.get("no-cache")).toBe("set-cookie, x");
    expect(d.get("private")).toBe(true);
    expect(d.get("ext")).toBe("a, b");
    expect(d.get("s-maxage")).toBe("30");
  });

  test("a max-age inside another directive's quoted string is not a max-age", () => {
    expect(canonicalCacheControl('extension="max-age=3600", max-age=1')).toBe("max-age=1");
    expect(canonicalCacheControl('max-age=1, extension="max-age=3600"')).toBe("max-age=1");
  });

  test("delta-seconds: leading zeros kept, quotes accepted, other forms make the response stale", () => {
    expect(canonicalCacheControl("max-age=003600")).toBe("max-age=3600");
    expect(canonicalCacheControl('max-age="3600"')).toBe("max-age=3600");
    for (const bad of ["max-age='3600'", "max-age=3600.0", "max-age=a3600", "max-age=3600a", "max-age=-1", "max-age"]) {
      expect([bad, canonicalCacheControl(bad)]).toEqual([bad, "max-age=0"]);
    }
    expect(canonicalCacheControl("max-age=99999999999")).toBe(`max-age=${MAX_DELTA_SECONDS}`);
  });

  test("a freshness directive given twice with different values is stale; the same value twice is fine", () => {
    expect(canonicalCacheControl("max-age=1800, max-age=1")).toBe("max-age=0");
    expect(canonicalCacheControl("max-age=60, max-age=60")).toBe("max-age=60");
  });

  test("malformed members are skipped; unknown directives are dropped from the canonical form", () => {
    expect(canonicalCacheControl("max-age =3600")).toBe("");
    expect(canonicalCacheControl("max-age= 3600")).toBe("");
    expect(canonicalCacheControl("foo, NO-STORE, bar=baz")).toBe("no-store");
    expect(canonicalCacheControl(undefined)).toBeUndefined();
  });
});

describe("HTTP-date", () => {
  test("the three forms of RFC 9110 §5.6.7", () => {
    const t = Date.UTC(1994, 10, 6, 8, 49, 37);
    expect(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT")).toBe(t);
    expect(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT")).toBe(t);
    expect(parseHttpDate("Sun Nov  6 08:49:37 1994")).toBe(t);
  });

  test("anything else is invalid", () => {
    for (const bad of [
      "0",
      "-1",
      "Sun, 06 Nov 1994 08:49:37 UTC",
      "Sun, 06 Nov 1994 08:49:37 +1000",
      "Sun, 06 Nov 94 08:49:37 GMT",
      "Sun 06 Nov 1994 08:49:37 GMT",
      "Sun,  06 Nov 1994 08:49:37 GMT",
      "Sun, 06-Nov-1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 08.49.37 GMT",
      "Sun, 06 Nov 1994 8:49:37 GMT",
      "sun, 06 nov 1994 08:49:37 gmt",
      "Sun, 31 Feb 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
      "",
    ]) {
      expect([bad, parseHttpDate(bad)]).toEqual([bad, undefined]);
    }
  });
});

describe("Age, Vary", () => {
  test("Age: the first member if it is delta-seconds, else ignored; saturates at 2^31", () => {
    expect(parseAge("7200")).toBe(7200);
    expect(parseAge("7200, 0")).toBe(7200);
    expect(parseAge("0, 7200")).toBe(0);
    for (const bad of ["abc", "-7200", "7200.0", "1 hour", ""]) expect([bad, parseAge(bad)]).toEqual([bad, undefined]);
    expect(parseAge("2147483649")).toBe(MAX_DELTA_SECONDS);
  });

  test("Vary: lowercase, sorted, unique; any * is *", () => {
    expect(parseVary("Accept-Language, accept-encoding, Accept-Language")).toEqual(["accept-encoding", "accept-language"]);
    for (const star of ["*", "*, *", "foo, *", ", *", " * "]) expect([star, parseVary(star)]).toEqual([star, ["*"]]);
    expect(parseVary("")).toEqual([]);
  });
});

describe("Structured Fields dictionaries and CDN-Cache-Control (RFC 8941, RFC 9213)", () => {
  test("valid dictionaries", () => {
    const d = parseSfDictionary('max-age=3600, private, a="x, y", b=?0, c=tok;p=1, d=:AQID:, e=(1 2);q, f=1.5')!;
    expect(d.get("max-age")).toBe(3600);
    expect(d.get("private")).toBe(true);
    expect(d.get("a")).toBe("x, y");
    expect(d.get("b")).toBe(false);
    expect(d.get("c")).toEqual({ token: "tok" });
    expect(d.get("d")).toEqual({ bytes: "AQID" });
    expect(d.get("f")).toBe(1.5);
  });

  test("invalid dictionaries are rejected whole", () => {
    for (const bad of ["max-age=10000, &&&&&", "MaX-aGe=3600", "max-age =100", "max-age= 100", "a,", 'a="unterminated', "a=1.23456"]) {
      expect([bad, parseSfDictionary(bad)]).toEqual([bad, undefined]);
    }
  });

  test("targeted field to Cache-Control: wrong-typed delta values are dropped", () => {
    expect(targetedCacheControl("max-age=600, no-store")).toBe("max-age=600, no-store");
    expect(targetedCacheControl('max-age="10000"')).toBe("");
    expect(targetedCacheControl("max-age=10000, &&&&&")).toBeUndefined();
  });
});
