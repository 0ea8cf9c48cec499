/**
 * Reading file store entries: small ones whole (one pread through a cached descriptor,
 * checked before anything is returned), large ones as a stream over their own descriptor
 * whose body CRC is checked when the stream ends. A damaged entry is `ERR_CORRUPT`; the
 * store decides what to do with it.
 */
import { File } from "../../../ffi/index.ts";
import { OffheapError } from "../../errors.ts";
import { crc32 } from "../../primitives/crc.ts";
import type { EntryMeta } from "../types.ts";
import { parseHead, parseTrailer, TRAILER, type EntryHead } from "./file-entry.ts";

/** Bytes read per chunk of a streamed body. */
const CHUNK = 256 * 1024;

/**
 * The entry read whole into `buf` (`n` bytes of it were read): its metadata and body, or
 * `undefined` when it is another key's (a hash collision). Throws `ERR_CORRUPT` /
 * `ERR_FORMAT` for a damaged entry.
 */
export function checkWholeEntry(key: string, buf: Uint8Array, n: number, path: string): { meta: EntryMeta; body: Uint8Array } | undefined {
  if (n !== buf.length) throw new OffheapError("ERR_CORRUPT", `${path}: ${n} bytes where ${buf.length} were written`, { path });
  const size = buf.length;
  const head = parseHead(buf, size, path);
  if (head.key !== key) return undefined;
  const t = parseTrailer(buf.subarray(size - TRAILER), head.bodyStart, size, path);
  const body = buf.subarray(head.bodyStart, head.bodyStart + t.bodyBytes);
  if (crc32(body) !== t.bodyCrc) throw new OffheapError("ERR_CORRUPT", `${path}: body checksum mismatch`, { path });
  head.meta.size = t.bodyBytes;
  return { meta: head.meta, body };
}

const unclosed = new FinalizationRegistry<File>((file) => {
  try {
    if (file.isOpen) file.close();
  } catch {
    // Nothing to report to: the stream that owned it is gone.
  }
});

/**
 * The body of the entry open as `file` (whose head is `head`), as a stream that owns the
 * descriptor: it closes it at the end, on cancel, on error, and when the stream is
 * dropped unread. A body whose CRC doesn't match errors the stream after `onCorrupt()`.
 */
export function entryBodyStream(file: File, head: EntryHead, path: string, onCorrupt: () => void): ReadableStream<Uint8Array> {
  let off = 0;
  let crc = 0;
  const close = () => {
    if (file.isOpen) file.close();
    unclosed.unregister(stream);
  };
  const stream: ReadableStream<Uint8Array> = new ReadableStream<Uint8Array>(
    {
      pull: (controller) => {
        try {
          if (off >= head.bodyBytes) {
            close();
            if ((crc >>> 0) !== head.bodyCrc) {
              onCorrupt();
              controller.error(new OffheapError("ERR_CORRUPT", `${path}: body checksum mismatch`, { path }));
              return;
            }
            controller.close();
            return;
          }
          const chunk = new Uint8Array(Math.min(CHUNK, head.bodyBytes - off));
          const n = file.read(chunk, head.bodyStart + off);
          if (n !== chunk.length) throw new OffheapError("ERR_CORRUPT", `${path}: body ends early at ${off + n} of ${head.bodyBytes} bytes`, { path });
          crc = crc32(chunk, crc);
          off += n;
          controller.enqueue(chunk);
        } catch (e) {
          close();
          controller.error(e);
        }
      },
      cancel: () => close(),
    },
    { highWaterMark: 0 },
  );
  // A caller that drops the stream without reading or cancelling must not leak the descriptor.
  unclosed.register(stream, file, stream);
  return stream;
}

/**
 * Descriptors of recently read entries, oldest evicted first, so a small hit is one
 * `pread`. The store drops an entry's descriptor whenever it replaces or removes it.
 */
export class OpenEntries {
  readonly #files = new Map<string, File>();
  /** Most descriptors held; 0 holds none. */
  readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  /** Descriptors held. */
  get size(): number {
    return this.#files.size;
  }

  /** The descriptor of entry `name`, opening `path` if none is held (ENOENT surfaces). */
  get(name: string, path: string): File {
    let file = this.#files.get(name);
    if (file !== undefined) return file;
    file = File.open(path, { readonly: true });
    this.#files.set(name, file);
    if (this.#files.size > this.max) {
      const [oldest, f] = this.#files.entries().next().value as [string, File];
      this.#files.delete(oldest);
      f.close();
    }
    return file;
  }

  /** Close the descriptor of `name`, if one is held. */
  drop(name: string): void {
    const f = this.#files.get(name);
    if (f === undefined) return;
    this.#files.delete(name);
    try {
      f.close();
    } catch {
      // Closing a read-only descriptor has nothing to lose.
    }
  }

  /** Close them all. */
  clear(): void {
    for (const name of [...this.#files.keys()]) this.drop(name);
  }
}
