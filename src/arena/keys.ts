/**
 * Keys: hashing, comparing and copying JS strings against their stored bytes without
 * allocating. Keys are stored as WTF-8 (UTF-8 that also encodes lone surrogates), so two
 * different strings never share bytes and every key round-trips exactly.
 */
import { OffheapError } from "../errors.ts";

/** Longest key, in WTF-8 bytes. */
export const MAX_KEY_BYTES = 65535;

/**
 * {@link hashKey} of a key a caller passed, after checking it: `ERR_INVALID` for a
 * non-string, `ERR_TOO_LARGE` past {@link MAX_KEY_BYTES} (counted only for keys long enough
 * to reach it, so short keys pay one comparison).
 */
export function keyHash(key: string): number {
  if (typeof key !== "string") throw new OffheapError("ERR_INVALID", `key must be a string; got ${typeof key}`);
  if (key.length > MAX_KEY_BYTES / 3) {
    const n = keyByteLength(key);
    if (n > MAX_KEY_BYTES) throw new OffheapError("ERR_TOO_LARGE", `a key may be at most ${MAX_KEY_BYTES} bytes of UTF-8; got ${n}`);
  }
  return hashKey(key);
}

/**
 * 32-bit hash of a string's UTF-16 code units (FNV-1a, then murmur3's finalizer). It is a
 * pure function of the string, so every thread attached to a shared cache agrees on it.
 */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  const n = key.length;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Length of `key` in WTF-8 bytes. */
export function keyByteLength(key: string): number {
  const n = key.length;
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && isLow(key.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function isLow(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** Write `key` as WTF-8 at `off`; returns the bytes written. The caller sized the room. */
export function writeKey(key: string, out: Uint8Array, off: number): number {
  const n = key.length;
  let o = off;
  for (let i = 0; i < n; i++) {
    let c = key.charCodeAt(i);
    if (c < 0x80) out[o++] = c;
    else if (c < 0x800) {
      out[o++] = 0xc0 | (c >> 6);
      out[o++] = 0x80 | (c & 63);
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && isLow(key.charCodeAt(i + 1))) {
      c = 0x10000 + ((c - 0xd800) << 10) + (key.charCodeAt(++i) - 0xdc00);
      out[o++] = 0xf0 | (c >> 18);
      out[o++] = 0x80 | ((c >> 12) & 63);
      out[o++] = 0x80 | ((c >> 6) & 63);
      out[o++] = 0x80 | (c & 63);
    } else {
      out[o++] = 0xe0 | (c >> 12);
      out[o++] = 0x80 | ((c >> 6) & 63);
      out[o++] = 0x80 | (c & 63);
    }
  }
  return o - off;
}

/** Whether the `len` bytes at `off` are `key`'s WTF-8 encoding. */
export function keyEquals(key: string, buf: Uint8Array, off: number, len: number): boolean {
  const n = key.length;
  if (n === len) {
    // Equal lengths: equal only if all ASCII (any other char needs more than one byte).
    for (let i = 0; i < n; i++) if (key.charCodeAt(i) !== buf[off + i]) return false;
    return true;
  }
  if (n > len || n * 3 < len) return false;
  return slowEquals(key, buf, off, len);
}

function slowEquals(key: string, buf: Uint8Array, off: number, len: number): boolean {
  const n = key.length;
  const end = off + len;
  let o = off;
  for (let i = 0; i < n; i++) {
    let c = key.charCodeAt(i);
    if (c < 0x80) {
      if (o >= end || buf[o++] !== c) return false;
    } else if (c < 0x800) {
      if (o + 2 > end || buf[o++] !== (0xc0 | (c >> 6)) || buf[o++] !== (0x80 | (c & 63))) return false;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && isLow(key.charCodeAt(i + 1))) {
      c = 0x10000 + ((c - 0xd800) << 10) + (key.charCodeAt(++i) - 0xdc00);
      if (
        o + 4 > end ||
        buf[o++] !== (0xf0 | (c >> 18)) ||
        buf[o++] !== (0x80 | ((c >> 12) & 63)) ||
        buf[o++] !== (0x80 | ((c >> 6) & 63)) ||
        buf[o++] !== (0x80 | (c & 63))
      )
        return false;
    } else if (
      o + 3 > end ||
      buf[o++] !== (0xe0 | (c >> 12)) ||
      buf[o++] !== (0x80 | ((c >> 6) & 63)) ||
      buf[o++] !== (0x80 | (c & 63))
    )
      return false;
  }
  return o === end;
}

/** Decode WTF-8 written by {@link writeKey} back to the exact string. */
export function readKey(buf: Uint8Array, off: number, len: number): string {
  const end = off + len;
  const units: number[] = [];
  let out = "";
  for (let o = off; o < end; ) {
    const b = buf[o]!;
    let c: number;
    if (b < 0x80) {
      c = b;
      o += 1;
    } else if (b < 0xe0) {
      c = ((b & 31) << 6) | (buf[o + 1]! & 63);
      o += 2;
    } else if (b < 0xf0) {
      c = ((b & 15) << 12) | ((buf[o + 1]! & 63) << 6) | (buf[o + 2]! & 63);
      o += 3;
    } else {
      c = ((b & 7) << 18) | ((buf[o + 1]! & 63) << 12) | ((buf[o + 2]! & 63) << 6) | (buf[o + 3]! & 63);
      o += 4;
    }
    if (c >= 0x10000) {
      c -= 0x10000;
      units.push(0xd800 + (c >> 10), 0xdc00 + (c & 1023));
    } else units.push(c);
    if (units.length >= 4096) {
      out += String.fromCharCode(...units);
      units.length = 0;
    }
  }
  return out + String.fromCharCode(...units);
}
