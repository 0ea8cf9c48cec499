/**
 * `Mapping`: an `ArrayBuffer` over mmap'd memory (a file range or anonymous pages).
 *
 * The buffer owns the mapping: it is created with `munmap` as its deallocator, so GC unmaps
 * a forgotten mapping, and `close()` detaches it with `transfer(0)`, which unmaps at once
 * and turns every view handed out into an empty one. Nothing here calls `munmap` on a
 * buffer itself: a raw unmap under a live view is an uncatchable SIGSEGV.
 */
import { toArrayBuffer, type Pointer } from "bun:ffi";
import { OffheapError } from "./errors.ts";
import type { File } from "./file.ts";
import { libc, munmapPointer } from "./libc.ts";
import { C } from "./platform.ts";
import { systemError } from "./system-error.ts";

/** The largest single mapping: one `ArrayBuffer` holds at most 4 GiB. */
export const MAX_MAPPING_BYTES = 2 ** 32;

/** Access-pattern hints for {@link Mapping.advise}. */
export type Advice = "normal" | "random" | "sequential" | "willneed" | "dontneed";

const adviceFlag: Record<Advice, number> = {
  normal: C.MADV_NORMAL,
  random: C.MADV_RANDOM,
  sequential: C.MADV_SEQUENTIAL,
  willneed: C.MADV_WILLNEED,
  dontneed: C.MADV_DONTNEED,
};

/** How to map a file range. */
export interface FileMappingOptions {
  /** Start of the range in the file; a multiple of the page size. Default 0. */
  offset?: number;
  /** Bytes to map. Default: from `offset` to the end of the file. */
  length?: number;
  /** Map read-only (writes through the buffer are refused by the CPU). Default: the file's mode. */
  readonly?: boolean;
}

type ToArrayBufferWithDeallocator = (
  address: number,
  byteOffset: number,
  byteLength: number,
  context: number,
  deallocator: Pointer,
) => ArrayBuffer;

const wrap = toArrayBuffer as unknown as ToArrayBufferWithDeallocator;

function checkLength(length: number, what: string): void {
  if (!Number.isSafeInteger(length) || length <= 0) {
    throw new OffheapError("ERR_INVALID", `${what}: mapping length must be a positive integer, got ${length}`);
  }
  if (length > MAX_MAPPING_BYTES) {
    throw new OffheapError(
      "ERR_TOO_LARGE",
      `${what}: a mapping is at most 4 GiB (${MAX_MAPPING_BYTES} bytes), asked for ${length}; shard or segment the data`,
    );
  }
}

/**
 * A mapped range of memory. Use {@link bytes} (or a typed array over {@link buffer}) to read
 * and write it; re-read them after {@link grow}, which replaces the buffer.
 */
export class Mapping {
  /** The file this maps, or `undefined` for anonymous memory. */
  readonly file: File | undefined;
  /** File offset of the first mapped byte. */
  readonly offset: number;
  /** Whether the pages are mapped read-only. */
  readonly readonly: boolean;
  #buffer: ArrayBuffer | undefined;
  #bytes: Uint8Array;
  #address: number;
  #length: number;

  private constructor(file: File | undefined, offset: number, readonly: boolean, address: number, length: number) {
    this.file = file;
    this.offset = offset;
    this.readonly = readonly;
    this.#address = address;
    this.#length = length;
    this.#buffer = wrap(address, 0, length, length, munmapPointer);
    this.#bytes = new Uint8Array(this.#buffer);
  }

  /**
   * Map `length` bytes of `file` from `offset`. The range must lie inside the file
   * (pages past the end of a file raise SIGBUS when touched): grow the file first.
   */
  static file(file: File, options: FileMappingOptions = {}): Mapping {
    const offset = options.offset ?? 0;
    const readonly = options.readonly ?? file.readonly;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % C.pageSize !== 0) {
      throw new OffheapError("ERR_INVALID", `mapping offset must be a non-negative multiple of ${C.pageSize}, got ${offset}`, { path: file.path });
    }
    const size = file.size;
    const length = options.length ?? size - offset;
    checkLength(length, `map ${file.path}`);
    if (offset + length > size) {
      throw new OffheapError(
        "ERR_RANGE",
        `cannot map bytes ${offset}..${offset + length} of ${file.path}: the file has ${size} bytes`,
        { path: file.path },
      );
    }
    const address = mmapFile(file, offset, length, readonly);
    return new Mapping(file, offset, readonly, address, length);
  }

  /** Map `length` bytes of zeroed anonymous memory, private to this process. */
  static anonymous(length: number): Mapping {
    checkLength(length, "anonymous mapping");
    const address = libc.mmap(null, length, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS, -1, 0);
    if (address === -1) throw systemError("mmap");
    return new Mapping(undefined, 0, false, address, length);
  }

  /** True until {@link close}. */
  get isOpen(): boolean {
    return this.#buffer !== undefined;
  }

  /** Mapped length in bytes. */
  get length(): number {
    return this.#length;
  }

  /** The buffer over the mapping. Throws `ERR_CLOSED` after close. */
  get buffer(): ArrayBuffer {
    if (this.#buffer === undefined) throw this.#closed();
    return this.#buffer;
  }

  /** A `Uint8Array` over the whole mapping (the same object until grow or close). */
  get bytes(): Uint8Array {
    if (this.#buffer === undefined) throw this.#closed();
    return this.#bytes;
  }

  /**
   * The address of byte `byteOffset`, for other ffi/ wrappers (futex). Never hand it
   * outside ffi/.
   */
  addressOf(byteOffset: number): number {
    if (this.#buffer === undefined) throw this.#closed();
    if (byteOffset < 0 || byteOffset >= this.#length) {
      throw new OffheapError("ERR_RANGE", `offset ${byteOffset} is outside the mapping of ${this.#length} bytes`);
    }
    return this.#address + byteOffset;
  }

  /**
   * Write dirty pages in `[offset, offset + length)` back to the file (`msync`).
   * `async: true` schedules the write and returns at once (`MS_ASYNC`).
   */
  sync(offset = 0, length = this.#length - offset, options: { async?: boolean } = {}): void {
    if (this.#buffer === undefined) throw this.#closed();
    if (this.file === undefined || this.readonly) return;
    const [start, span] = this.#pageRange(offset, length);
    if (span === 0) return;
    const rc = libc.msync(start as Pointer, span, options.async ? C.MS_ASYNC : C.MS_SYNC);
    if (rc !== 0) throw systemError("msync", this.file.path);
  }

  /** Tell the kernel how `[offset, offset + length)` will be used (`madvise`). */
  advise(advice: Advice, offset = 0, length = this.#length - offset): void {
    if (this.#buffer === undefined) throw this.#closed();
    const flag = adviceFlag[advice];
    if (flag === undefined) throw new OffheapError("ERR_INVALID", `unknown advice ${JSON.stringify(advice)}`);
    const [start, span] = this.#pageRange(offset, length);
    if (span === 0) return;
    if (libc.madvise(start as Pointer, span, flag) !== 0) throw systemError("madvise", this.file?.path);
  }

  /**
   * Map `newLength` bytes instead of the current length. For a file mapping the file must
   * already be at least `offset + newLength` long. The old buffer is detached: views made
   * from it read as empty afterwards (never crash); take new ones from {@link bytes}.
   * Anonymous mappings keep their contents.
   */
  grow(newLength: number): void {
    if (this.#buffer === undefined) throw this.#closed();
    checkLength(newLength, "grow");
    if (newLength === this.#length) return;
    let address: number;
    if (this.file !== undefined) {
      const size = this.file.size;
      if (this.offset + newLength > size) {
        throw new OffheapError(
          "ERR_RANGE",
          `cannot grow the mapping of ${this.file.path} to ${newLength} bytes: the file has ${size} bytes from offset ${this.offset}`,
          { path: this.file.path },
        );
      }
      address = mmapFile(this.file, this.offset, newLength, this.readonly);
    } else {
      address = libc.mmap(null, newLength, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS, -1, 0);
      if (address === -1) throw systemError("mmap");
    }
    const next = wrap(address, 0, newLength, newLength, munmapPointer);
    if (this.file === undefined) {
      new Uint8Array(next).set(this.#bytes.subarray(0, Math.min(newLength, this.#length)));
    }
    this.#buffer.transfer(0);
    this.#buffer = next;
    this.#bytes = new Uint8Array(next);
    this.#address = address;
    this.#length = newLength;
  }

  /** Unmap now. Idempotent. Every view over the old buffer reads as empty afterwards. */
  close(): void {
    const buffer = this.#buffer;
    if (buffer === undefined) return;
    this.#buffer = undefined;
    this.#bytes = new Uint8Array(0);
    buffer.transfer(0);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #pageRange(offset: number, length: number): [number, number] {
    if (offset < 0 || length < 0 || offset + length > this.#length) {
      throw new OffheapError("ERR_RANGE", `range ${offset}+${length} is outside the mapping of ${this.#length} bytes`);
    }
    const start = this.#address + offset;
    const aligned = start - (start % C.pageSize);
    return [aligned, length === 0 ? 0 : start + length - aligned];
  }

  #closed(): OffheapError {
    return new OffheapError("ERR_CLOSED", `mapping${this.file ? ` of ${this.file.path}` : ""} is closed`);
  }
}

function mmapFile(file: File, offset: number, length: number, readonly: boolean): number {
  const prot = readonly ? C.PROT_READ : C.PROT_READ | C.PROT_WRITE;
  const address = libc.mmap(null, length, prot, C.MAP_SHARED, file.fd, offset);
  if (address === -1) throw systemError("mmap", file.path);
  return address;
}
