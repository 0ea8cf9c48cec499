/**
 * What every store writer keeps: the body's size and running CRC-32, and whether it
 * ended, with the rules that go with them — no write or commit after the writer ended
 * (`ERR_CLOSED`), a chunk that is no Uint8Array refused (`ERR_INVALID`),
 * abort at most once, and a commit that fails leaves the writer ready to be aborted.
 */
import { crc32 } from "../../primitives/crc.ts";
import { bytesArg } from "../../primitives/arguments.ts";
import { OffheapError } from "../../errors.ts";

/** The error of a `write` or `commit` on a writer that was committed or aborted: it is closed. */
export function writerClosed(call: "write" | "commit"): OffheapError {
  return new OffheapError("ERR_CLOSED", `${call} after commit or abort: the writer is closed`);
}

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

  /** `chunk`, checked before a write uses it: `ERR_CLOSED` after the writer ended, `ERR_INVALID` unless a Uint8Array. */
  accept(chunk: unknown): Uint8Array {
    if (this.#ended) throw writerClosed("write");
    return bytesArg("chunk", chunk);
  }

  /** Count `chunk`, checked as {@link accept} checks it. */
  add(chunk: Uint8Array): void {
    this.accept(chunk);
    this.#size += chunk.length;
    this.#crc = crc32(chunk, this.#crc);
  }

  /** Begin a commit: the writer ends now (throws `ERR_CLOSED` when it already had). */
  beginCommit(): void {
    if (this.#ended) throw writerClosed("commit");
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
