/**
 * One FileStore entry being written: to a temp file, head first, the body as it comes,
 * then the trailer; committing hands the finished temp file to the store, which fsyncs
 * and renames it into place. The store gives the writer only what it needs (a
 * `FileWriterHost`), so none of this is on the store's public surface.
 */
import { File } from "../../../ffi/index.ts";
import { OffheapError } from "../../errors.ts";
import { encodeEntryHead, encodeTrailer, TRAILER } from "./file-entry.ts";
import { keyHash } from "./key-hash.ts";
import type { EntryMeta, StoreWriter } from "../types.ts";
import { WriteProgress, writerClosed } from "./writer-state.ts";

/** What a writer needs of its store. */
export interface FileWriterHost {
  /** Largest entry file. */
  maxEntryBytes: number;
  /** fsync before publishing. */
  syncWrites: boolean;
  /** A fresh temp file path. */
  tempPath(): string;
  /** Throw `ERR_CLOSED` once the store closed. */
  assertOpen(): void;
  /** Publish the finished temp file as the entry `name` (rename, account). */
  publish(w: FileWriter, temp: string, name: string, hash32: number, size: number): void;
  /** The writer ended without publishing. */
  discarded(w: FileWriter, tooLarge: boolean): void;
  /** Remove a file, ignoring one that is gone. */
  removeFile(path: string): void;
}

/** One entry being written to a temp file. */
export class FileWriter implements StoreWriter {
  readonly #host: FileWriterHost;
  readonly #name: string;
  readonly #hash32: number;
  readonly #temp: string;
  #file: File | undefined;
  #offset: number;
  readonly #progress = new WriteProgress();

  constructor(host: FileWriterHost, key: string, meta: EntryMeta) {
    const h = keyHash(key);
    this.#host = host;
    this.#name = h.name;
    this.#hash32 = h.hash32;
    const head = encodeEntryHead(key, meta);
    this.#temp = host.tempPath();
    this.#file = File.open(this.#temp, { create: true, exclusive: true });
    try {
      this.#file.write(head, 0);
    } catch (e) {
      this.abortSync();
      throw e;
    }
    this.#offset = head.length;
  }

  write(chunk: Uint8Array): void {
    this.writeSync(chunk);
  }

  /** CRC-32 of the body written so far. */
  get bodyCrc(): number {
    return this.#progress.crc;
  }

  writeSync(chunk: Uint8Array): void {
    const file = this.#file;
    if (file === undefined) throw writerClosed("write");
    this.#progress.accept(chunk);
    if (this.#offset + chunk.length + TRAILER > this.#host.maxEntryBytes) {
      this.abortSync(true);
      throw new OffheapError("ERR_TOO_LARGE", `entry grew past the file store's maxBytes (${this.#host.maxEntryBytes})`);
    }
    file.write(chunk, this.#offset);
    this.#offset += chunk.length;
    this.#progress.add(chunk);
  }

  async commit(): Promise<void> {
    this.commitSync();
  }

  commitSync(): void {
    const file = this.#file;
    if (file === undefined) throw writerClosed("commit");
    this.#progress.beginCommit();
    try {
      this.#host.assertOpen();
      file.write(encodeTrailer(this.#progress.size, this.#progress.crc), this.#offset);
      if (this.#host.syncWrites) file.sync();
      file.close();
      this.#file = undefined;
      this.#host.publish(this, this.#temp, this.#name, this.#hash32, this.#offset + TRAILER);
    } catch (e) {
      this.#progress.commitFailed();
      this.abortSync();
      throw e;
    }
  }

  async abort(): Promise<void> {
    this.abortSync();
  }

  abortSync(tooLarge = false): void {
    if (!this.#progress.beginAbort()) return;
    try {
      this.#file?.close();
    } catch {
      // The temp file goes anyway.
    }
    this.#file = undefined;
    this.#host.removeFile(this.#temp);
    this.#host.discarded(this, tooLarge);
  }
}
