/**
 * `RedisStore`: a shared tier in Redis (or Valkey) through `Bun.RedisClient`.
 *
 * Keys (`P` is the prefix, `N` the key's 32-hex name, `I` a random id per write):
 * ```
 * P m:N          the entry: JSON { key, id, chunks, size, crc, chunkPrefix, meta }
 * P d:N:I:<i>    body chunk i (binary, at most chunkBytes)
 * ```
 * A write stores its chunks under a fresh id with an expiry (so an abandoned write cleans
 * itself up), and a Lua script publishes it atomically: it swaps the entry, makes the new
 * chunks persistent and gives the old ones `graceMs` to live, so readers already streaming
 * the old body finish it. Bodies stream chunk by chunk (one chunk read ahead), so a large
 * body never sits whole in memory; the CRC is checked at the end.
 */
import { crc32 } from "../../primitives/crc.ts";
import { OffheapError } from "../../errors.ts";
import { integerArg, invalidArg, optionsArg, stringArg, urlArg } from "../../primitives/arguments.ts";
import { keyArg, keyHash } from "./key-hash.ts";
import { WriteProgress } from "./writer-state.ts";
import { entryMetaArg, metaFromRecord, metaRecord } from "../meta.ts";
import { REDIS_STORE_METRICS, type RedisStoreStats } from "../stats.ts";
import { describeStats } from "../../metrics/describe.ts";
import type { EntryMeta, StoredEntry, Store, StoreWriter } from "../types.ts";

/** Options of a {@link RedisStore}. */
export interface RedisStoreOptions {
  /** Connection URL (default: `Bun.RedisClient`'s, i.e. `REDIS_URL` or localhost). Ignored when `client` is given. */
  url?: string;
  /** Use this client (the store will not close it). */
  client?: Bun.RedisClient;
  /**
   * Options for the client the store makes. Default `{ connectionTimeout: 2000, maxRetries: 3 }`,
   * so a dead server fails requests quickly (the cache then goes on without this tier)
   * instead of queueing them.
   */
  clientOptions?: Bun.RedisOptions;
  /** Prefix of every key. Default `"offheap:"`. */
  prefix?: string;
  /** Body chunk size. Default 256 KiB. */
  chunkBytes?: number;
  /** Expiry of chunks of a write not yet published. Default 1 hour. */
  pendingTtlMs?: number;
  /** How long a replaced or deleted body stays readable for readers already streaming it. Default 60 s. */
  graceMs?: number;
  /** Expire entries this long after they are written (Redis-side). Default: no expiry. */
  ttlMs?: number;
}

/** The URL schemes `Bun.RedisClient` connects with. */
export const REDIS_PROTOCOLS = ["redis:", "rediss:", "redis+unix:", "redis+tls:", "redis+tls+unix:", "valkey:", "valkeys:"] as const;

interface Record_ {
  key: string;
  id: string;
  chunks: number;
  size: number;
  crc: number;
  chunkPrefix: string;
  meta: string;
}

const COMMIT = `
local old = redis.call('GET', KEYS[1])
if tonumber(ARGV[5]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
for i = 0, tonumber(ARGV[3]) - 1 do
  if tonumber(ARGV[5]) > 0 then redis.call('PEXPIRE', ARGV[2] .. i, ARGV[5]) else redis.call('PERSIST', ARGV[2] .. i) end
end
if old then
  local ok, o = pcall(cjson.decode, old)
  if ok and o.chunkPrefix ~= ARGV[2] then
    for i = 0, o.chunks - 1 do redis.call('PEXPIRE', o.chunkPrefix .. i, ARGV[4]) end
  end
end
return 1`;

const DELETE = `
local old = redis.call('GET', KEYS[1])
if not old then return 0 end
redis.call('DEL', KEYS[1])
local ok, o = pcall(cjson.decode, old)
if ok then for i = 0, o.chunks - 1 do redis.call('PEXPIRE', o.chunkPrefix .. i, ARGV[1]) end end
return 1`;

const TOUCH = `
local old = redis.call('GET', KEYS[1])
if not old then return 0 end
local ok, o = pcall(cjson.decode, old)
if not ok or o.key ~= ARGV[1] then return 0 end
local mok, m = pcall(cjson.decode, o.meta)
local want = nil
if ARGV[4] == '1' then want = ARGV[3] end
if not mok or m.etag ~= want then return 0 end
o.meta = ARGV[2]
redis.call('SET', KEYS[1], cjson.encode(o), 'KEEPTTL')
return 1`;

function metaJson(meta: EntryMeta): string {
  return JSON.stringify(metaRecord(meta));
}

/** The entry record for `key` with its metadata parsed, or `undefined` when `raw` is not one. */
function parseRecord(raw: string, key: string): (Record_ & { parsedMeta: EntryMeta }) | undefined {
  try {
    const r = JSON.parse(raw) as Record_;
    if (r.key !== key || typeof r.chunks !== "number" || typeof r.chunkPrefix !== "string" || typeof r.meta !== "string") return undefined;
    const meta = metaFromRecord(JSON.parse(r.meta));
    if (meta === undefined) return undefined;
    meta.size = r.size;
    return Object.assign(r, { parsedMeta: meta });
  } catch {
    return undefined;
  }
}

/** A tier in Redis. See the module comment for the key layout. */
export class RedisStore implements Store {
  readonly name = "redis";
  /** Every instance reads it: invalidations from others leave it alone. */
  readonly shared = true;
  readonly #client: Bun.RedisClient;
  readonly #ownsClient: boolean;
  readonly #prefix: string;
  readonly #chunkBytes: number;
  readonly #pendingTtl: number;
  readonly #grace: number;
  readonly #ttl: number;
  #closed = false;
  readonly #stats = { hits: 0, misses: 0, writes: 0, aborts: 0, deletes: 0, touches: 0, corrupt: 0 };

  /**
   * A tier in Redis at `options.url` (or over the given client). Connects lazily: the first
   * command that can't reach Redis fails with `ERR_SYSTEM`.
   * @throws `ERR_INVALID` naming the option for bad options (a URL that is not redis://…).
   */
  constructor(options: RedisStoreOptions = {}) {
    optionsArg("RedisStore options", options);
    if (options.url !== undefined) urlArg("url", options.url, REDIS_PROTOCOLS);
    if (options.prefix !== undefined) stringArg("prefix", options.prefix);
    if (options.client !== undefined && typeof (options.client as { send?: unknown } | null)?.send !== "function") {
      throw invalidArg("client", "a Bun.RedisClient", options.client);
    }
    if (options.clientOptions !== undefined) optionsArg("clientOptions", options.clientOptions);
    for (const name of ["chunkBytes", "pendingTtlMs", "graceMs", "ttlMs"] as const) {
      if (options[name] !== undefined) integerArg(name, options[name], { min: name === "chunkBytes" ? 1 : 0 });
    }
    this.#ownsClient = options.client === undefined;
    const clientOptions: Bun.RedisOptions = options.clientOptions ?? { connectionTimeout: 2_000, maxRetries: 3 };
    this.#client = options.client ?? new Bun.RedisClient(options.url, clientOptions);
    this.#prefix = options.prefix ?? "offheap:";
    this.#chunkBytes = options.chunkBytes ?? 256 * 1024;
    this.#pendingTtl = options.pendingTtlMs ?? 3_600_000;
    this.#grace = options.graceMs ?? 60_000;
    this.#ttl = options.ttlMs ?? 0;
    if (!(this.#chunkBytes >= 1)) throw new OffheapError("ERR_INVALID", `chunkBytes must be positive, got ${options.chunkBytes}`);
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The underlying client. */
  get client(): Bun.RedisClient {
    return this.#client;
  }

  async get(key: string): Promise<StoredEntry | undefined> {
    this.#assertOpen();
    const r = await this.#record(key);
    if (r === undefined) {
      this.#stats.misses++;
      return undefined;
    }
    this.#stats.hits++;
    return { meta: r.parsedMeta, body: this.#bodyStream(r) };
  }

  async stat(key: string): Promise<EntryMeta | undefined> {
    this.#assertOpen();
    const r = await this.#record(key);
    return r?.parsedMeta;
  }

  writer(key: string, meta: EntryMeta): StoreWriter {
    this.#assertOpen();
    keyArg(key);
    return new RedisWriter(this, key, entryMetaArg(meta));
  }

  async delete(key: string): Promise<boolean> {
    this.#assertOpen();
    const n = await this.#client.send("EVAL", [DELETE, "1", this.#metaKey(key), String(this.#grace)]);
    if (Number(n) === 1) this.#stats.deletes++;
    return Number(n) === 1;
  }

  async touch(key: string, meta: EntryMeta): Promise<boolean> {
    this.#assertOpen();
    keyArg(key);
    entryMetaArg(meta);
    const n = await this.#client.send("EVAL", [TOUCH, "1", this.#metaKey(key), key, metaJson(meta), meta.etag ?? "", meta.etag === undefined ? "0" : "1"]);
    if (Number(n) === 1) this.#stats.touches++;
    return Number(n) === 1;
  }

  stats(): RedisStoreStats {
    this.#assertOpen();
    return { ...this.#stats };
  }

  /** Close the connection (when the store made it). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsClient) this.#client.close();
  }

  /** {@link RedisStore.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  // --- used by RedisWriter ---------------------------------------------------------

  /** @internal */
  get chunkBytes(): number {
    return this.#chunkBytes;
  }

  /** @internal */
  chunkPrefix(key: string, id: string): string {
    return `${this.#prefix}d:${keyHash(key).name}:${id}:`;
  }

  /** @internal Store one pending chunk. */
  async putChunk(chunkKey: string, bytes: Uint8Array): Promise<void> {
    this.#assertOpen();
    await this.#client.set(chunkKey, bytes, "PX", this.#pendingTtl);
  }

  /** @internal Publish a finished write. */
  async publish(key: string, record: Record_): Promise<void> {
    this.#assertOpen();
    await this.#client.send("EVAL", [
      COMMIT,
      "1",
      this.#metaKey(key),
      JSON.stringify(record),
      record.chunkPrefix,
      String(record.chunks),
      String(this.#grace),
      String(this.#ttl),
    ]);
    this.#stats.writes++;
  }

  /** @internal Drop the chunks of an abandoned write. */
  async dropChunks(prefix: string, count: number): Promise<void> {
    this.#stats.aborts++;
    if (this.#closed || count === 0) return;
    const keys: string[] = [];
    for (let i = 0; i < count; i++) keys.push(prefix + i);
    await this.#client.send("DEL", keys);
  }

  // --------------------------------------------------------------------------------

  #metaKey(key: string): string {
    return `${this.#prefix}m:${keyHash(key).name}`;
  }

  async #record(key: string): Promise<(Record_ & { parsedMeta: EntryMeta }) | undefined> {
    const raw = await this.#client.get(this.#metaKey(key));
    if (raw === null) return undefined;
    const r = parseRecord(raw, key);
    if (r === undefined) this.#stats.corrupt++;
    return r;
  }

  #bodyStream(r: Record_): ReadableStream<Uint8Array> {
    let i = 0;
    let crc = 0;
    let ahead: Promise<Uint8Array | null> | undefined;
    const fetchChunk = (n: number) => this.#client.getBuffer(r.chunkPrefix + n);
    const corrupt = (why: string) => {
      this.#stats.corrupt++;
      return new OffheapError("ERR_CORRUPT", `redis entry ${JSON.stringify(r.key)}: ${why}`);
    };
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          if (i >= r.chunks) {
            if ((crc >>> 0) !== r.crc) controller.error(corrupt("body checksum mismatch"));
            else controller.close();
            return;
          }
          const current = ahead ?? fetchChunk(i);
          ahead = i + 1 < r.chunks ? fetchChunk(i + 1) : undefined;
          ahead?.catch(() => {});
          const bytes = await current;
          if (bytes === null) {
            controller.error(corrupt(`chunk ${i} of ${r.chunks} is gone (replaced more than graceMs ago)`));
            return;
          }
          crc = crc32(bytes, crc);
          i++;
          controller.enqueue(bytes);
        },
        cancel: () => {
          ahead?.catch(() => {});
        },
      },
      { highWaterMark: 0 },
    );
  }

  #assertOpen(): void {
    if (this.#closed) throw new OffheapError("ERR_CLOSED", "the redis store is closed");
  }
}

/** One entry being written in chunks. */
class RedisWriter implements StoreWriter {
  readonly #store: RedisStore;
  readonly #key: string;
  readonly #meta: string;
  readonly #id: string;
  readonly #prefix: string;
  readonly #buf: Uint8Array;
  #fill = 0;
  #chunks = 0;
  readonly #progress = new WriteProgress();

  constructor(store: RedisStore, key: string, meta: EntryMeta) {
    this.#store = store;
    this.#key = key;
    this.#meta = metaJson(meta);
    const rnd = crypto.getRandomValues(new Uint32Array(2));
    this.#id = rnd[0]!.toString(16) + rnd[1]!.toString(16);
    this.#prefix = store.chunkPrefix(key, this.#id);
    this.#buf = new Uint8Array(store.chunkBytes);
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#progress.add(chunk);
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, this.#buf.length - this.#fill);
      this.#buf.set(chunk.subarray(off, off + n), this.#fill);
      this.#fill += n;
      off += n;
      if (this.#fill === this.#buf.length) await this.#flush();
    }
  }

  async #flush(): Promise<void> {
    if (this.#fill === 0) return;
    const bytes = this.#buf.slice(0, this.#fill);
    this.#fill = 0;
    const i = this.#chunks++;
    await this.#store.putChunk(this.#prefix + i, bytes);
  }

  async commit(): Promise<void> {
    this.#progress.beginCommit();
    try {
      await this.#flush();
      await this.#store.publish(this.#key, {
        key: this.#key,
        id: this.#id,
        chunks: this.#chunks,
        size: this.#progress.size,
        crc: this.#progress.crc,
        chunkPrefix: this.#prefix,
        meta: this.#meta,
      });
    } catch (e) {
      this.#progress.commitFailed();
      await this.abort();
      throw e;
    }
  }

  async abort(): Promise<void> {
    if (!this.#progress.beginAbort()) return;
    await this.#store.dropChunks(this.#prefix, this.#chunks).catch(() => {});
  }
}

describeStats(RedisStore, REDIS_STORE_METRICS);
