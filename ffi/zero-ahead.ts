/**
 * `ZeroAhead`: zeros written over new file ranges by a Worker, ahead of a writer that
 * stores into them through a mapping.
 *
 * On ext4 the first store into an allocated-but-unwritten page costs ~1.5 µs of extent
 * conversion; a page the page cache already holds over written blocks costs nothing
 * extra. Writing zeros over a new range first is cheaper than those faults (≈0.2 ms a MiB
 * with pwrite), but done before the writer starts, a large file's open pays it all. This
 * writes the zeros on another thread while the writer goes on.
 *
 * A zero must never land on a byte the writer stored, so the ranges are cut into chunks
 * that either side claims from one shared counter, and the writer calls
 * {@link ZeroAhead.ensure} before it stores into a chunk: a chunk nobody claimed yet it
 * zeros itself, one the Worker is writing it waits for. {@link ZeroAhead.close} takes the
 * unclaimed rest away from the Worker and waits out the chunk in flight, so nothing is
 * written after it returns (the descriptors may be closed and reused then). Chunks left
 * unwritten stay as they were: allocated, reading as zeros, only slower to store into.
 */
import { ZERO_CHUNK, writeZeros } from "./allocate.ts";
import { OffheapError } from "./errors.ts";
import type { File } from "./file.ts";
import { libcPrelude, workerUrl } from "./worker-source.ts";

/** One file range to zero: `[offset, offset + length)` of `file`, already allocated. */
export interface ZeroRange {
  /** The file (opened writable); its descriptor must stay open until {@link ZeroAhead.close}. */
  file: File;
  /** First byte of the range. */
  offset: number;
  /** Bytes in the range. */
  length: number;
}

/** How long {@link ZeroAhead.ensure} and {@link ZeroAhead.close} wait for the Worker's chunk in flight. */
const WORKER_STALL_MS = 10_000;

/** Chunk states in the shared words (after the claim counter). */
const PENDING = 0;
const DONE = 1;
const FAILED = 2;

const EINTR = 4;

// The Worker claims chunks and writes them until none is left (see the module doc).
const workerSource = `${libcPrelude("pwrite: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i64], returns: FFIType.i64_fast },")}
self.onmessage = (event) => {
  const { words: buffer, fds, offsets, lengths, chunk } = event.data;
  const words = new Int32Array(buffer);
  const zeros = new Uint8Array(chunk);
  const total = fds.length;
  for (;;) {
    const c = Atomics.add(words, 0, 1);
    if (c >= total) break;
    let done = 0;
    let ok = lib !== undefined;
    while (ok && done < lengths[c]) {
      const n = lib.symbols.pwrite(fds[c], zeros, lengths[c] - done, offsets[c] + done);
      if (n > 0) done += n;
      else if (n < 0 && errno() === ${EINTR}) continue;
      else ok = false;
    }
    Atomics.store(words, 1 + c, ok ? ${DONE} : ${FAILED});
    Atomics.notify(words, 1 + c);
  }
  postMessage("finished");
};
`;

/** Zeros written ahead of a writer over allocated ranges (see the module doc). */
export class ZeroAhead {
  readonly #ranges: ZeroRange[];
  readonly #chunk: number;
  /** The first global chunk index of each range. */
  readonly #base: number[];
  /** Per range: how many of its chunks, from its start, are known written. */
  readonly #prefix: number[];
  readonly #total: number;
  /** [0]: the next chunk to claim; [1 + c]: chunk c's state. Shared with the Worker. */
  readonly #words: Int32Array;
  #worker: Worker | undefined;
  #closed = false;

  /**
   * Start zeroing `ranges` in order (a Worker claims chunks from the first on). The
   * ranges must be allocated already and hold nothing the caller wants kept.
   */
  static start(ranges: ZeroRange[], chunk = ZERO_CHUNK): ZeroAhead {
    return new ZeroAhead(ranges, chunk);
  }

  private constructor(ranges: ZeroRange[], chunk: number) {
    if (!Number.isSafeInteger(chunk) || chunk <= 0) throw new OffheapError("ERR_INVALID", `ZeroAhead chunk must be a positive integer, got ${chunk}`);
    this.#ranges = ranges;
    this.#chunk = chunk;
    this.#base = [];
    this.#prefix = [];
    const fds: number[] = [];
    const offsets: number[] = [];
    const lengths: number[] = [];
    for (const r of ranges) {
      this.#base.push(fds.length);
      this.#prefix.push(0);
      for (let at = 0; at < r.length; at += chunk) {
        fds.push(r.file.fd);
        offsets.push(r.offset + at);
        lengths.push(Math.min(chunk, r.length - at));
      }
    }
    this.#total = fds.length;
    this.#words = new Int32Array(new SharedArrayBuffer(4 * (1 + this.#total)));
    if (this.#total === 0) return;
    // The writer needs the first chunk at once, before a Worker could start: it's written
    // here, and the Worker begins with the second.
    Atomics.store(this.#words, 0, 1);
    this.#write(0);
    let worker: Worker;
    try {
      worker = new Worker(workerUrl(workerSource));
    } catch {
      return; // no Worker here: ensure() writes each chunk as the writer reaches it
    }
    worker.onmessage = () => this.#dropWorker(worker);
    // A Worker that fails leaves its claimed chunk PENDING or FAILED: ensure() writes it then.
    worker.onerror = () => this.#dropWorker(worker);
    worker.unref();
    worker.postMessage({ words: this.#words.buffer, fds, offsets, lengths, chunk });
    this.#worker = worker;
  }

  /**
   * The end (a file offset) of the part of range `index` known zeroed, from its start: a
   * writer may store below it without calling {@link ensure}.
   */
  readyTo(index: number): number {
    const r = this.#range(index);
    return this.#prefix[index]! * this.#chunk >= r.length ? Infinity : r.offset + this.#prefix[index]! * this.#chunk;
  }

  /**
   * Block until range `index` is zeroed from its start up to file offset `end`, zeroing
   * unclaimed chunks on this thread; returns the new {@link readyTo} (Infinity once the
   * whole range is). Throws `ERR_SYSTEM` when a pwrite of this thread fails (a chunk the
   * Worker failed is written again here, to report why), `ERR_TIMEOUT` when the Worker
   * stalls on a chunk for 10 s, `ERR_CLOSED` after {@link close}.
   */
  ensure(index: number, end: number): number {
    if (this.#closed) throw new OffheapError("ERR_CLOSED", "ZeroAhead is closed");
    const r = this.#range(index);
    const need = Math.min(Math.ceil((end - r.offset) / this.#chunk), Math.ceil(r.length / this.#chunk));
    for (let k = this.#prefix[index]!; k < need; k++) {
      this.#settle(this.#base[index]! + k);
      this.#prefix[index] = k + 1;
    }
    return this.readyTo(index);
  }

  /**
   * Stop: the Worker claims no more chunks, and the one it is writing is waited for (up
   * to 10 s), so nothing is written after this returns. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const words = this.#words;
    // Every claim from here on lands past the end: the Worker stops after its chunk.
    const claimed = Math.min(Atomics.add(words, 0, this.#total + 1), this.#total);
    const deadline = performance.now() + WORKER_STALL_MS;
    for (let c = 0; c < claimed; c++) {
      while (Atomics.load(words, 1 + c) === PENDING && this.#worker !== undefined) {
        const left = deadline - performance.now();
        if (left <= 0) break;
        Atomics.wait(words, 1 + c, PENDING, Math.min(left, 50));
      }
    }
    if (this.#worker !== undefined) this.#dropWorker(this.#worker);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #range(index: number): ZeroRange {
    const r = this.#ranges[index];
    if (r === undefined) throw new OffheapError("ERR_RANGE", `ZeroAhead has ${this.#ranges.length} ranges; no range ${index}`);
    return r;
  }

  /** Make chunk `c` written: claim and write chunks up to it, or wait for the Worker's. */
  #settle(c: number): void {
    const words = this.#words;
    const deadline = performance.now() + WORKER_STALL_MS;
    for (;;) {
      const state = Atomics.load(words, 1 + c);
      if (state === DONE) return;
      if (state === FAILED) {
        this.#write(c);
        return;
      }
      if (Atomics.load(words, 0) <= c) {
        const mine = Atomics.add(words, 0, 1);
        if (mine < this.#total) this.#write(mine);
        continue;
      }
      // Claimed by a Worker that has failed since (its loop is over): nobody else will.
      if (this.#worker === undefined) {
        this.#write(c);
        return;
      }
      // The Worker holds chunk c: wait for it (it takes ~0.2 ms).
      if (performance.now() > deadline) {
        const path = this.#ranges[this.#rangeOf(c)]!.file.path;
        throw new OffheapError("ERR_TIMEOUT", `the worker zeroing ${path} ahead of the writer stalled for ${WORKER_STALL_MS} ms on one chunk`, { path });
      }
      Atomics.wait(words, 1 + c, PENDING, 50);
    }
  }

  /** Zero chunk `c` on this thread and mark it written. */
  #write(c: number): void {
    const index = this.#rangeOf(c);
    const r = this.#ranges[index]!;
    const at = r.offset + (c - this.#base[index]!) * this.#chunk;
    writeZeros(r.file, at, Math.min(this.#chunk, r.offset + r.length - at));
    Atomics.store(this.#words, 1 + c, DONE);
  }

  /** The index of the range chunk `c` is in. */
  #rangeOf(c: number): number {
    let i = this.#base.length - 1;
    while (i > 0 && this.#base[i]! > c) i--;
    return i;
  }

  #dropWorker(worker: Worker): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    worker.terminate();
  }
}

