/**
 * `S3Store`: a shared tier in S3-compatible object storage through `Bun.S3Client`.
 *
 * Objects (`P` is the prefix, `N` the key's 32-hex name, `I` a random id per write):
 * ```
 * P N        the entry: JSON { v: 1, key, data, size, crc, meta } — metadata with the object
 * P N.I      the body, uploaded as a stream (multipart past partSize)
 * ```
 * Why two objects: `Bun.S3Client`'s streaming writer cannot abort an upload (ending it with
 * an error still completes the object — measured), so the body goes to a fresh object and
 * the small entry object, written with one PUT, publishes it. A reader sees the old entry
 * or the new one, never a partial body. Replaced and deleted bodies are removed after
 * `graceMs`, so readers already streaming them finish.
 */
import { crc32 } from "../../primitives/crc.ts";
import { OffheapError } from "../../errors.ts";
import { integerArg, invalidArg, optionsArg, stringArg, urlArg } from "../../primitives/arguments.ts";
import { keyArg, keyHash } from "./key-hash.ts";
import { WriteProgress } from "./writer-state.ts";
import { entryMetaArg, metaFromRecord, metaRecord, type MetaRecord } from "../meta.ts";
import { S3_STORE_METRICS, type S3StoreStats } from "../stats.ts";
import { describeStats } from "../../metrics/describe.ts";
import type { EntryMeta, StoredEntry, Store, StoreWriter } from "../types.ts";

/** Options of an {@link S3Store}: the client's options (bucket, endpoint, credentials, …) plus these. */
export interface S3StoreOptions extends Bun.S3Options {
  /** Use this client instead of making one from the options. */
  client?: Bun.S3Client;
  /** Prefix of every object name. Default `"offheap/"`. */
  prefix?: string;
  /** Multipart part size for bodies. Default 5 MiB (the S3 minimum). */
  partSize?: number;
  /** How long a replaced or deleted body object stays for readers already streaming it. Default 60 s. */
  graceMs?: number;
}

interface Pointer {
  v: 1;
  key: string;
  data: string;
  size: number;
  crc: number;
  meta: MetaRecord;
}

function isMissing(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code;
  return code === "NoSuchKey" || code === "ENOENT" || code === "ERR_S3_FILE_NOT_FOUND";
}


/** A tier in an S3 bucket. See the module comment for the object layout. */
export class S3Store implements Store {
  readonly name = "s3";
  /** Every instance reads it: invalidations from others leave it alone. */
  readonly shared = true;
  readonly #client: Bun.S3Client;
  readonly #prefix: string;
  readonly #partSize: number;
  readonly #grace: number;
  #closed = false;
  readonly #pendingDeletes = new Map<ReturnType<typeof setTimeout>, string>();
  readonly #stats = { hits: 0, misses: 0, writes: 0, aborts: 0, deletes: 0, touches: 0, corrupt: 0 };

  /**
   * A tier in an S3-compatible bucket (`Bun.S3Client` with `options`, or the given client).
   * Connects lazily: a request that fails is `ERR_SYSTEM` from the call that made it.
   * @throws `ERR_INVALID` naming the option for bad options.
   */
  constructor(options: S3StoreOptions = {}) {
    optionsArg("S3Store options", options);
    if (options.prefix !== undefined) stringArg("prefix", options.prefix);
    if (options.client !== undefined && typeof (options.client as { file?: unknown } | null)?.file !== "function") {
      throw invalidArg("client", "a Bun.S3Client", options.client);
    }
    for (const name of ["bucket", "region", "accessKeyId", "secretAccessKey", "sessionToken"] as const) {
      if (options[name] !== undefined) stringArg(name, options[name]);
    }
    if (options.endpoint !== undefined) urlArg("endpoint", options.endpoint, ["http:", "https:"]);
    if (options.partSize !== undefined) integerArg("partSize", options.partSize, { min: 5 * 1024 * 1024 });
    if (options.graceMs !== undefined) integerArg("graceMs", options.graceMs, { min: 0 });
    const { client, prefix, partSize, graceMs, ...s3 } = options;
    this.#client = client ?? new Bun.S3Client(s3);
    this.#prefix = prefix ?? "offheap/";
    this.#partSize = partSize ?? 5 * 1024 * 1024;
    this.#grace = graceMs ?? 60_000;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The underlying client. */
  get client(): Bun.S3Client {
    return this.#client;
  }

  async get(key: string): Promise<StoredEntry | undefined> {
    this.#assertOpen();
    const p = await this.#pointer(key);
    if (p === undefined) {
      this.#stats.misses++;
      return undefined;
    }
    this.#stats.hits++;
    return { meta: { ...p.meta, size: p.size }, body: this.#bodyStream(p) };
  }

  async stat(key: string): Promise<EntryMeta | undefined> {
    this.#assertOpen();
    const p = await this.#pointer(key);
    return p === undefined ? undefined : { ...p.meta, size: p.size };
  }

  writer(key: string, meta: EntryMeta): StoreWriter {
    this.#assertOpen();
    keyArg(key);
    return new S3Writer(this, key, metaRecord(entryMetaArg(meta)));
  }

  async delete(key: string): Promise<boolean> {
    this.#assertOpen();
    const p = await this.#pointer(key);
    if (p === undefined) return false;
    await this.#client.delete(this.#pointerName(key));
    this.#deleteLater(p.data);
    this.#stats.deletes++;
    return true;
  }

  async touch(key: string, meta: EntryMeta): Promise<boolean> {
    this.#assertOpen();
    keyArg(key);
    entryMetaArg(meta);
    const p = await this.#pointer(key);
    if (p === undefined || p.meta.etag !== meta.etag) return false;
    p.meta = metaRecord(meta);
    await this.#client.write(this.#pointerName(key), JSON.stringify(p), { type: "application/json" });
    this.#stats.touches++;
    return true;
  }

  stats(): S3StoreStats {
    this.#assertOpen();
    return { ...this.#stats, pendingDeletes: this.#pendingDeletes.size };
  }

  /** Delete bodies still waiting out their grace period, then stop. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const names = [...this.#pendingDeletes.entries()];
    this.#pendingDeletes.clear();
    for (const [timer] of names) clearTimeout(timer);
    await Promise.all(names.map(([, name]) => this.#client.delete(name).catch(() => {})));
  }

  /** {@link S3Store.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // --- used by S3Writer -----------------------------------------------------------

  /** @internal */
  get partSize(): number {
    return this.#partSize;
  }

  /** @internal */
  dataName(key: string, id: string): string {
    return `${this.#pointerName(key)}.${id}`;
  }

  /** @internal */
  sink(name: string, contentType: string | undefined) {
    this.#assertOpen();
    const options: Bun.S3Options = { partSize: this.#partSize };
    if (contentType !== undefined) options.type = contentType;
    return this.#client.file(name).writer(options);
  }

  /** @internal Publish a finished body. */
  async publish(p: Pointer): Promise<void> {
    this.#assertOpen();
    const old = await this.#pointer(p.key).catch(() => undefined);
    await this.#client.write(this.#pointerName(p.key), JSON.stringify(p), { type: "application/json" });
    if (old !== undefined && old.data !== p.data) this.#deleteLater(old.data);
    this.#stats.writes++;
  }

  /** @internal Remove an abandoned body. */
  async discard(name: string): Promise<void> {
    this.#stats.aborts++;
    await this.#client.delete(name).catch(() => {});
  }

  // --------------------------------------------------------------------------------

  #pointerName(key: string): string {
    return this.#prefix + keyHash(key).name;
  }

  async #pointer(key: string): Promise<Pointer | undefined> {
    let text: string;
    try {
      text = await this.#client.file(this.#pointerName(key)).text();
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
    try {
      const p = JSON.parse(text) as Pointer;
      const meta = metaFromRecord(p.meta);
      if (p.v !== 1 || p.key !== key || typeof p.data !== "string" || meta === undefined) {
        this.#stats.corrupt++;
        return undefined;
      }
      p.meta = meta as MetaRecord;
      return p;
    } catch {
      this.#stats.corrupt++;
      return undefined;
    }
  }

  #bodyStream(p: Pointer): ReadableStream<Uint8Array> {
    let reader: AsyncIterator<Uint8Array> | undefined;
    let size = 0;
    let crc = 0;
    const corrupt = (why: string) => {
      this.#stats.corrupt++;
      return new OffheapError("ERR_CORRUPT", `s3 entry ${JSON.stringify(p.key)}: ${why}`);
    };
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          const r = (reader ??= (this.#client.file(p.data).stream() as ReadableStream<Uint8Array>)[Symbol.asyncIterator]());
          let next: IteratorResult<Uint8Array>;
          try {
            next = await r.next();
          } catch (e) {
            controller.error(isMissing(e) ? corrupt("body object is gone (replaced more than graceMs ago)") : e);
            return;
          }
          if (next.done) {
            if (size !== p.size || (crc >>> 0) !== p.crc) controller.error(corrupt(`body of ${size} bytes does not match the entry (${p.size} bytes, crc)`));
            else controller.close();
            return;
          }
          size += next.value.length;
          crc = crc32(next.value, crc);
          controller.enqueue(next.value);
        },
        cancel: async (reason) => {
          await reader?.return?.(reason).catch(() => {});
        },
      },
      { highWaterMark: 0 },
    );
  }

  #deleteLater(name: string): void {
    if (this.#grace <= 0) {
      this.#client.delete(name).catch(() => {});
      return;
    }
    const timer = setTimeout(() => {
      this.#pendingDeletes.delete(timer);
      this.#client.delete(name).catch(() => {});
    }, this.#grace);
    timer.unref?.();
    this.#pendingDeletes.set(timer, name);
  }

  #assertOpen(): void {
    if (this.#closed) throw new OffheapError("ERR_CLOSED", "the s3 store is closed");
  }
}

/** One body being uploaded. */
class S3Writer implements StoreWriter {
  readonly #store: S3Store;
  readonly #key: string;
  readonly #meta: Pointer["meta"];
  readonly #data: string;
  #sink: ReturnType<S3Store["sink"]> | undefined;
  readonly #progress = new WriteProgress();

  constructor(store: S3Store, key: string, meta: Pointer["meta"]) {
    this.#store = store;
    this.#key = key;
    this.#meta = meta;
    const rnd = crypto.getRandomValues(new Uint32Array(2));
    this.#data = store.dataName(key, rnd[0]!.toString(16) + rnd[1]!.toString(16));
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#progress.add(chunk);
    this.#sink ??= this.#store.sink(this.#data, this.#meta.contentType);
    const r = this.#sink.write(chunk);
    if (typeof r !== "number") await r;
  }

  async commit(): Promise<void> {
    this.#progress.beginCommit();
    try {
      if (this.#sink !== undefined) await this.#sink.end();
      else await this.#store.client.write(this.#data, new Uint8Array(0));
      await this.#store.publish({ v: 1, key: this.#key, data: this.#data, size: this.#progress.size, crc: this.#progress.crc, meta: this.#meta });
    } catch (e) {
      await this.#store.discard(this.#data);
      throw e;
    }
  }

  async abort(): Promise<void> {
    if (!this.#progress.beginAbort()) return;
    if (this.#sink !== undefined) {
      // The writer cannot cancel an upload: finish it and delete the object.
      await Promise.resolve(this.#sink.end()).catch(() => {});
      await this.#store.discard(this.#data);
    }
  }
}

describeStats(S3Store, S3_STORE_METRICS);
