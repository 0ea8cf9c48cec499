/**
 * What every store writer keeps: the body's size and running CRC-32, and whether it
 * ended, with the rules that go with them — no write or commit after the writer ended,
 * abort at most once, and a commit that fails leaves the writer ready to be aborted.
 */
import { crc32 } from "../../primitives/crc.ts";
import { OffheapError } from "../../errors.ts";

/** The progress of one store write. */
export class WriteProgress {
  #size = 0;
  #crc = 0;
  #ended = false;

  /** Body bytes written. */
  get size(): number {
    return this.#size;
  }

  /** CRC-32 of the body written. */
  get crc(): number {
    return this.#crc >>> 0;
  }

  /** Whether the write was committed or aborted. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Count `chunk` (throws `ERR_INVALID` after the writer ended). */
  add(chunk: Uint8Array): void {
    if (this.#ended) throw new OffheapError("ERR_INVALID", "write after commit or abort");
    this.#size += chunk.length;
    this.#crc = crc32(chunk, this.#crc);
  }

  /** Begin a commit: the writer ends now (throws `ERR_INVALID` when it already had). */
  beginCommit(): void {
    if (this.#ended) throw new OffheapError("ERR_INVALID", "commit after commit or abort");
    this.#ended = true;
  }

  /** A commit failed part-way: let the caller abort the writer. */
  commitFailed(): void {
    this.#ended = false;
  }

  /** Begin an abort; false when the writer already ended (abort is idempotent). */
  beginAbort(): boolean {
    if (this.#ended) return false;
    this.#ended = true;
    return true;
  }
}
