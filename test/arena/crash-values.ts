/**
 * Values for the crash rounds (not a test file): each names its key, its writer and a
 * sequence number, and ends with a CRC of all that, so a reader can tell a value written
 * for that key from torn bytes or another key's value.
 */

/** The value `writer` stores as its `seq`-th write of `key`, `pad` filler bytes long. */
export function valueFor(key: string, writer: string, seq: number, pad: number): string {
  const body = `${key}|${writer}|${seq}|${"x".repeat(pad)}`;
  return `${body}|${(Bun.hash.crc32(body) >>> 0).toString(16)}`;
}

/** Undefined when `v` is a value some writer wrote for `key`; else what is wrong with it. */
export function checkValue(key: string, v: string): string | undefined {
  const cut = v.lastIndexOf("|");
  if (cut < 0) return `no checksum in ${JSON.stringify(v.slice(0, 60))}`;
  const body = v.slice(0, cut);
  if ((Bun.hash.crc32(body) >>> 0).toString(16) !== v.slice(cut + 1)) return `checksum mismatch for ${key}: ${JSON.stringify(v.slice(0, 60))}`;
  if (!body.startsWith(`${key}|`)) return `value of another key under ${key}: ${JSON.stringify(v.slice(0, 60))}`;
  return undefined;
}
