/**
 * Names for keys: a 128-bit hash as 32 hex digits, so any key (long, with slashes or NULs)
 * maps to a short, safe file or object name. Stores keep the key itself and compare it on
 * read, so a collision is a miss, never another key's body.
 */

import { invalidArg } from "../../primitives/arguments.ts";

/** A store's key: any string (`ERR_INVALID` naming `key` for anything else). */
export function keyArg(key: unknown): string {
  if (typeof key !== "string") throw invalidArg("key", "a string", key);
  return key;
}

/** A key's stored name and a 32-bit hash for policies' ghost history. */
export interface KeyHash {
  /** 32 lowercase hex digits. */
  name: string;
  hash32: number;
}

const SEED_A = 0x6f66666865617001n; // "offheap" + 1
const SEED_B = 0x6f66666865617002n;

/** Hash `key` (wyhash with two seeds; stable across runs and processes). */
export function keyHash(key: string): KeyHash {
  keyArg(key);
  const a = Bun.hash.wyhash(key, SEED_A);
  const b = Bun.hash.wyhash(key, SEED_B);
  const name = a.toString(16).padStart(16, "0") + b.toString(16).padStart(16, "0");
  return { name, hash32: Number(a & 0xffffffffn) | 0 };
}
