/**
 * What every structure's `describe…` and `verify…` functions return; the CLI's `inspect`
 * and `verify` print these.
 */

/** A structure's header, layout options and counts, as `offheap inspect` shows them. */
export interface Description {
  /** The header's kind tag, e.g. `"RING"`. */
  kind: string;
  /** Format version of that kind. */
  version: number;
  /** The options fixed at creation. */
  options: Record<string, number | string>;
  /** What it holds now. */
  counts: Record<string, number>;
}

/** What a checksum scan found, as `offheap verify` shows it. */
export interface VerifyReport {
  /** Records checked. */
  checked: number;
  /** Damaged records: `id` is the record's id or index, `reason` what was wrong. */
  bad: Array<{ id: number; reason: string }>;
}
