/**
 * Slot checksums and the states a slot can be in. Shared by both I/O modes and by verify.
 */
import { crc32, crc32Words3 } from "../primitives/crc.ts";
import { BUSY, DELETED, MAX_RECORD_SIZE, WRITTEN } from "./layout.ts";

const TWO32 = 0x1_0000_0000;

/**
 * CRC-32 of a slot: its first 12 bytes as stored (meta, idLo, idHi, little-endian), then
 * the payload.
 * Computed as `crc32(payload, crc32(header))`, which is the CRC of the concatenation.
 */
export function slotCrc(id: number, meta: number, payload: Uint8Array): number {
  return slotCrcWords(meta, id >>> 0, Math.floor(id / TWO32), payload);
}

/**
 * {@link slotCrc} from the slot's three header words as stored (int32: meta, id low, id
 * high), for the read path, which has them in hand.
 */
export function slotCrcWords(meta: number, lo: number, hi: number, payload: Uint8Array): number {
  // Twelve header bytes cost less in JS than a native call; the payload goes native.
  return crc32(payload, crc32Words3(meta, lo, hi));
}

/** Meta kind: never written. */
export const META_EMPTY = 0;
/** Meta kind: holds a record. */
export const META_WRITTEN = 1;
/** Meta kind: the record was deleted. */
export const META_DELETED = 2;
/** Meta kind: a value no writer produces (damage). */
export const META_INVALID = 3;
/** Meta kind: a writer is rewriting the slot (or died doing it). */
export const META_BUSY = 4;

/** Classify a meta word; `recordSize` bounds the length a written slot may claim. */
export function metaKind(meta: number, recordSize: number): number {
  const m = meta >>> 0;
  if (m === 0) return META_EMPTY;
  if (m === DELETED) return META_DELETED;
  if (m === BUSY) return META_BUSY;
  if ((m & 0xc000_0000) >>> 0 === WRITTEN && (m & MAX_RECORD_SIZE) <= recordSize) return META_WRITTEN;
  return META_INVALID;
}

/** The record length a written meta word carries. */
export function metaLength(meta: number): number {
  return meta & MAX_RECORD_SIZE;
}

/** Join the two halves of a stored id. */
export function joinId(lo: number, hi: number): number {
  return (hi >>> 0) * TWO32 + (lo >>> 0);
}
