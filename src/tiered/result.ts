/**
 * What `TieredCache.get` resolves to: the outcome, the metadata, and the body — a stream
 * made on first access, or the bytes themselves when the tier held them, so that a
 * memory hit read with `bytes()` or `text()` builds no stream at all.
 */
import { bytesStream, readAll } from "./body.ts";
import type { EntryMeta, GetResult, GetStatus } from "./types.ts";

const decoder = new TextDecoder();

/** A {@link GetResult}. */
export class CacheResult implements GetResult {
  status: GetStatus;
  meta: EntryMeta;
  source: string;
  revalidated?: boolean;
  collapsed?: boolean;
  #stream: ReadableStream<Uint8Array> | null | undefined;
  #bytes: Uint8Array | undefined;
  #taken = false;

  /** `body` is the stream, or `bytes` the whole body (then the stream is made only if asked for); neither: no body. */
  constructor(status: GetStatus, meta: EntryMeta, source: string, body: ReadableStream<Uint8Array> | null, bytes?: Uint8Array) {
    this.status = status;
    this.meta = meta;
    this.source = source;
    if (bytes !== undefined) this.#bytes = bytes;
    else this.#stream = body;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#stream === undefined) this.#stream = this.#bytes === undefined || this.#taken ? null : bytesStream(this.#bytes);
    return this.#stream;
  }

  async bytes(): Promise<Uint8Array | null> {
    if (this.#stream === undefined) {
      if (this.#bytes === undefined || this.#taken) return null;
      this.#taken = true;
      return this.#bytes;
    }
    return this.#stream === null ? null : readAll(this.#stream);
  }

  async text(): Promise<string | null> {
    const bytes = await this.bytes();
    return bytes === null ? null : decoder.decode(bytes);
  }
}
