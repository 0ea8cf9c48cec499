/**
 * Staging for large `appendMany` calls: their records are encoded into one buffer in the
 * heap and written with pwrite, which for large batches is about twice as fast as filling
 * fresh mapped pages of the data file. Small calls write records straight into the mapping.
 *
 * With a sync mode, staged records go out in pieces of {@link WRITEBACK_PIECE}, each
 * followed by a request to start writeback, so the disk works while the next piece is
 * encoded and the call's final fdatasync has less left to wait for.
 */
import { RECORD_HEADER } from "./layout.ts";
import { encodeRecord, type Segment } from "./segment.ts";

/** appendMany calls with at least this many bytes stage their records. */
export const STAGE_THRESHOLD = 4 << 10;
/** Largest staging buffer a handle keeps. */
const STAGE_MAX = 8 << 20;
/** With a sync mode, the size of the pieces staged records are written in. */
const WRITEBACK_PIECE = 1 << 20;

/** One handle's staging buffer: records waiting, in order, for one pwrite into one segment. */
export class Stage {
  readonly #syncing: boolean;
  #buffer = new Uint8Array(0);
  /** Whether the current call stages (see {@link start}). */
  #active = false;
  /** Where the staged records go: this segment, from data offset #at. */
  #segment: Segment | undefined;
  #at = 0;
  #length = 0;

  /** `syncing`: whether the queue has a sync mode (then records go out in pieces). */
  constructor(syncing: boolean) {
    this.#syncing = syncing;
  }

  /** Whether this call stages its records. */
  get active(): boolean {
    return this.#active;
  }

  /** Stage the records of this call (about `bytes` of them), until {@link end}. */
  start(bytes: number): void {
    const want = Math.min(STAGE_MAX, bytes);
    if (this.#buffer.length < want) this.#buffer = new Uint8Array(want);
    this.#active = true;
    this.#length = 0;
    this.#segment = undefined;
  }

  /**
   * Stage the record of entry `pos` for data offset `at` of `segment` (see
   * `encodeRecord`), writing out what is staged first when this record does not follow
   * it. False, with nothing staged, when the record is larger than the buffer: the
   * caller writes it itself (after {@link flush}).
   */
  add(segment: Segment, at: number, pos: number, bytes: Uint8Array, crc: number, epoch: number): boolean {
    const record = RECORD_HEADER + bytes.length;
    const buffer = this.#buffer;
    if (record > buffer.length) return false;
    const limit = this.#syncing ? Math.min(buffer.length, WRITEBACK_PIECE) : buffer.length;
    if (this.#segment !== segment || this.#at + this.#length !== at || this.#length + record > limit) {
      this.flush();
      this.#segment = segment;
      this.#at = at;
    }
    encodeRecord(buffer, this.#length, pos, bytes, crc, epoch);
    this.#length += record;
    return true;
  }

  /** pwrite the staged records (and, when syncing, start their writeback). */
  flush(): void {
    const segment = this.#segment;
    if (segment === undefined || this.#length === 0) return;
    segment.writeAt(this.#buffer.subarray(0, this.#length), this.#at);
    if (this.#syncing) segment.startWriteback(this.#at, this.#length);
    this.#length = 0;
    this.#segment = undefined;
  }

  /** Forget the staged records without writing them (a failed call taken back). */
  drop(): void {
    this.#length = 0;
  }

  /** The call is over: stop staging (the buffer is kept for the next one). */
  end(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#length = 0;
    this.#segment = undefined;
  }
}
