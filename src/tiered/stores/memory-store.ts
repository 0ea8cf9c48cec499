/**
 * `MemoryStore`: the in-process tier, on an {@link ArenaCache}, so bodies and metadata
 * live in arena slabs off the JS heap and the GC never traces them. With `path`, the arena
 * is a shared cache file (`ArenaCache.open`): every process of a fleet that opens the same
 * path shares one top tier.
 *
 * Each entry is one arena value: `{ version u8, flags u8, etagBytes u16, typeBytes u16,
 * extraBytes u16, cachedAt f64, etag, contentType, extra, body }`. A hit copies the body out of the arena once
 * (the arena may move it later) and hands that copy to the reader as a one-chunk stream.
 */
import { ArenaCache, type ArenaCacheOptions, type Codec } from "../../arena/index.ts";
import { OffheapError } from "../../errors.ts";
import { POLICY_NAMES, type PolicyName } from "../../policy/index.ts";
import { existsSync, statSync } from "node:fs";
import { integerArg, oneOfArg, optionalArg, optionsArg, pathArg } from "../../primitives/arguments.ts";
import { BytesEntry } from "../body.ts";
import { WriteProgress } from "./writer-state.ts";
import { keyArg } from "./key-hash.ts";
import { entryMetaArg } from "../meta.ts";
import { MEMORY_STORE_METRICS, type MemoryStoreStats } from "../stats.ts";
import { describeStats } from "../../metrics/describe.ts";
import type { EntryMeta, StoredEntry, Store, StoreWriter } from "../types.ts";

/** Options of a {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Bytes of keys, bodies, metadata and per-entry overhead kept. Default 64 MiB. */
  maxBytes?: number;
  /**
   * Largest body kept; bigger ones stream through without being stored. Default
   * min(maxBytes / 8, 4 MiB) less 1 KiB; with `path`, min(maxBytes / 16, 4 MiB) less 1 KiB
   * (what one of the file's stripes holds).
   */
  maxEntryBytes?: number;
  /** Eviction policy. Default `"s3-fifo"`. */
  policy?: PolicyName;
  /** Most entries held (arena index size). Default the arena's (maxBytes / 128). */
  maxEntries?: number;
  /**
   * Keep the entries in the shared cache file at this path (e.g. under `/dev/shm`), shared
   * by every process that opens it; created with these options when missing, and an
   * existing file's options are used where these are omitted (ones that differ are
   * `ERR_MISMATCH`). See `ArenaCache.open`.
   */
  path?: string;
  /** With `path`: the longest wait for a stripe held by another running process, in ms. Default 5000. */
  lockTimeout?: number;
}

interface MemoryValue {
  meta: EntryMeta;
  body: Uint8Array;
  /** The encoded form, when the writer already built it. */
  encoded?: Uint8Array;
}

/** Stripes of a shared store's file. */
const SHARED_STRIPES = 4;
const HEAD = 16;
const VERSION = 2;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const EMPTY = new Uint8Array(0);

function encodeValue(meta: EntryMeta, bodyBytes: number): { out: Uint8Array; bodyStart: number } {
  const etag = meta.etag !== undefined ? encoder.encode(meta.etag) : EMPTY;
  const type = meta.contentType !== undefined ? encoder.encode(meta.contentType) : EMPTY;
  const extra = meta.extra !== undefined ? encoder.encode(meta.extra) : EMPTY;
  if (etag.length > 0xffff || type.length > 0xffff || extra.length > 0xffff) {
    throw new OffheapError("ERR_TOO_LARGE", "etag, content type and extra metadata are at most 65535 bytes each");
  }
  const bodyStart = HEAD + etag.length + type.length + extra.length;
  const out = new Uint8Array(bodyStart + bodyBytes);
  const view = new DataView(out.buffer);
  out[0] = VERSION;
  // Absent and empty strings differ: bit 0 of byte 1 = has etag, bit 1 = has type, bit 2 = has extra.
  out[1] = (meta.etag !== undefined ? 1 : 0) | (meta.contentType !== undefined ? 2 : 0) | (meta.extra !== undefined ? 4 : 0);
  view.setUint16(2, etag.length, true);
  view.setUint16(4, type.length, true);
  view.setUint16(6, extra.length, true);
  view.setFloat64(8, meta.cachedAt, true);
  out.set(etag, HEAD);
  out.set(type, HEAD + etag.length);
  out.set(extra, HEAD + etag.length + type.length);
  return { out, bodyStart };
}

function text(buf: Uint8Array, start: number, end: number): string {
  // Tags and media types are short ASCII almost always: skip TextDecoder for those.
  if (end - start <= 64) {
    let s = "";
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      if (c >= 0x80) return decoder.decode(buf.subarray(start, end));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return decoder.decode(buf.subarray(start, end));
}

// Reading cachedAt through a scratch pair avoids a DataView per hit (little-endian hosts).
const f64 = new Float64Array(1);
const f64bytes = new Uint8Array(f64.buffer);

const entryCodec: Codec<MemoryValue> = {
  name: "tiered-entry",
  encode(v) {
    if (v.encoded !== undefined) return v.encoded;
    const { out, bodyStart } = encodeValue(v.meta, v.body.length);
    out.set(v.body, bodyStart);
    return out;
  },
  decode(b) {
    return entryCodec.decodeRange!(b, 0, b.length);
  },
  decodeRange(buf, start, end) {
    const flags = buf[start + 1]!;
    const etagLen = buf[start + 2]! | (buf[start + 3]! << 8);
    const typeLen = buf[start + 4]! | (buf[start + 5]! << 8);
    const extraLen = buf[start + 6]! | (buf[start + 7]! << 8);
    for (let k = 0; k < 8; k++) f64bytes[k] = buf[start + 8 + k]!;
    const meta: EntryMeta = { cachedAt: f64[0]! };
    let at = start + HEAD;
    if (flags & 1) meta.etag = text(buf, at, at + etagLen);
    at += etagLen;
    if (flags & 2) meta.contentType = text(buf, at, at + typeLen);
    at += typeLen;
    if (flags & 4) meta.extra = decoder.decode(buf.subarray(at, at + extraLen));
    at += extraLen;
    meta.size = end - at;
    return { meta, body: buf.slice(at, end) };
  },
};

/** The in-memory tier. Bodies larger than `maxEntryBytes` pass through unstored. */
export class MemoryStore implements Store {
  readonly name = "memory";
  readonly #arena: ArenaCache<MemoryValue>;
  readonly #maxEntryBytes: number;
  readonly #maxBytes: number;
  #closed = false;
  readonly #stats = { writes: 0, aborts: 0, tooLarge: 0, touches: 0 };

  /**
   * A memory tier over an {@link ArenaCache} (private, or the shared one at `options.path`).
   * @throws `ERR_INVALID` naming the option for bad options; as {@link ArenaCache.open} for
   * a shared file that can't be opened.
   */
  constructor(options: MemoryStoreOptions = {}) {
    optionsArg("MemoryStore options", options);
    const path = options.path === undefined ? undefined : pathArg("path", options.path);
    // A shared file that exists already has its own layout: only the options given are
    // checked against it, and none is derived here.
    const existing = path !== undefined && existsSync(path) && statSync(path).size > 0;
    const maxBytes = optionalArg(options.maxBytes, 64 << 20, (v) => integerArg("maxBytes", v, { min: 4096 }));
    if (options.maxEntryBytes !== undefined) integerArg("maxEntryBytes", options.maxEntryBytes, { min: 0, max: maxBytes });
    if (options.maxEntries !== undefined) integerArg("maxEntries", options.maxEntries, { min: 1 });
    if (options.policy !== undefined) oneOfArg("policy", options.policy, POLICY_NAMES);
    const slab = Math.min(Math.max(256, Math.floor(maxBytes / 8)), 4 << 20);
    const arenaOptions: ArenaCacheOptions<MemoryValue> = { maxBytes, codec: entryCodec, policy: options.policy ?? "s3-fifo" };
    if (options.maxEntries !== undefined) arenaOptions.maxEntries = options.maxEntries;
    if (options.maxEntryBytes !== undefined) arenaOptions.slabBytes = Math.min(maxBytes, Math.max(slab, options.maxEntryBytes + 8192));
    if (path === undefined) {
      this.#arena = new ArenaCache<MemoryValue>(arenaOptions);
      this.#maxEntryBytes = options.maxEntryBytes ?? Math.max(0, slab - 1024);
    } else {
      const given = existing
        ? { maxBytes: options.maxBytes, policy: options.policy, maxEntries: options.maxEntries }
        : {
            maxBytes,
            policy: arenaOptions.policy,
            maxEntries: options.maxEntries,
            // 4 stripes (a store is called a few times per request, not per lookup in a
            // loop), with slabs of a quarter stripe: bodies up to maxBytes / 16.
            stripes: SHARED_STRIPES,
            slabBytes: arenaOptions.slabBytes ?? Math.min(4 << 20, Math.max(256, Math.floor(maxBytes / (SHARED_STRIPES * 4)))),
          };
      const defined = Object.fromEntries(Object.entries({ ...given, lockTimeout: options.lockTimeout }).filter(([, v]) => v !== undefined));
      this.#arena = ArenaCache.open<MemoryValue>(path, { ...defined, codec: entryCodec });
      // Whatever the file's layout: the largest body is what one of its stripes holds.
      const st = this.#arena.stats();
      const fits = Math.max(0, Math.min(st.slabBytes, Math.floor(st.maxBytes / st.stripes)) - 1024);
      this.#maxEntryBytes = Math.min(options.maxEntryBytes ?? fits, fits);
    }
    this.#maxBytes = this.#arena.maxBytes;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Number of entries held. */
  get size(): number {
    return this.#arena.size;
  }

  /** Bytes held (keys, values and overhead). */
  get bytes(): number {
    return this.#arena.bytes;
  }

  get(key: string): StoredEntry | undefined {
    this.#assertOpen();
    const v = this.#arena.get(key);
    if (v === undefined) return undefined;
    return new BytesEntry(v.meta, v.body);
  }

  stat(key: string): EntryMeta | undefined {
    this.#assertOpen();
    return this.#arena.peek(key)?.meta;
  }

  writer(key: string, meta: EntryMeta): StoreWriter {
    this.#assertOpen();
    return new MemoryWriter(this, keyArg(key), entryMetaArg(meta), this.#maxEntryBytes);
  }

  delete(key: string): boolean {
    this.#assertOpen();
    return this.#arena.delete(key);
  }

  touch(key: string, meta: EntryMeta): boolean {
    this.#assertOpen();
    keyArg(key);
    entryMetaArg(meta);
    const v = this.#arena.peek(key);
    if (v === undefined || v.meta.etag !== meta.etag) return false;
    const ok = this.#arena.set(key, { meta, body: v.body });
    if (ok) this.#stats.touches++;
    return ok;
  }

  stats(): MemoryStoreStats {
    this.#assertOpen();
    const a = this.#arena.stats();
    return { ...this.#stats, hits: a.hits, misses: a.misses, evictions: a.evictionsCapacity + a.evictionsExpired, entries: a.entries, bytes: a.bytes, maxBytes: a.maxBytes };
  }

  /** Free the arena. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#arena.close();
  }

  /** {@link MemoryStore.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal */
  put(key: string, value: MemoryValue): void {
    this.#assertOpen();
    if (!this.#arena.set(key, value)) {
      this.#stats.tooLarge++;
      throw new OffheapError("ERR_TOO_LARGE", `an entry of ${value.encoded?.length ?? value.body.length} bytes does not fit in the memory store`);
    }
    this.#stats.writes++;
  }

  /** @internal */
  discarded(tooLarge: boolean): void {
    this.#stats.aborts++;
    if (tooLarge) this.#stats.tooLarge++;
  }

  #assertOpen(): void {
    if (this.#closed) throw new OffheapError("ERR_CLOSED", "the memory store is closed");
  }
}

/** Collects a body on the heap until commit copies it into the arena. */
class MemoryWriter implements StoreWriter {
  readonly #store: MemoryStore;
  readonly #key: string;
  readonly #meta: EntryMeta;
  readonly #max: number;
  #parts: Uint8Array[] = [];
  readonly #progress = new WriteProgress();

  constructor(store: MemoryStore, key: string, meta: EntryMeta, max: number) {
    this.#store = store;
    this.#key = key;
    this.#meta = meta;
    this.#max = max;
  }

  write(chunk: Uint8Array): void {
    this.#progress.accept(chunk);
    if (this.#progress.size + chunk.length > this.#max) {
      this.#discard(true);
      throw new OffheapError("ERR_TOO_LARGE", `body passed the memory store's maxEntryBytes (${this.#max})`);
    }
    this.#progress.add(chunk);
    this.#parts.push(chunk.slice());
  }

  async commit(): Promise<void> {
    this.#progress.beginCommit();
    const { out, bodyStart } = encodeValue(this.#meta, this.#progress.size);
    let at = bodyStart;
    for (const p of this.#parts) {
      out.set(p, at);
      at += p.length;
    }
    this.#parts = [];
    this.#store.put(this.#key, { meta: this.#meta, body: out.subarray(bodyStart), encoded: out });
  }

  async abort(): Promise<void> {
    this.#discard(false);
  }

  #discard(tooLarge: boolean): void {
    if (!this.#progress.beginAbort()) return;
    this.#parts = [];
    this.#store.discarded(tooLarge);
  }
}

describeStats(MemoryStore, MEMORY_STORE_METRICS);
