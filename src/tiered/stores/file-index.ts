/**
 * The file store's in-memory index of its entries: name → slot, each slot's size, the
 * bytes held, and the eviction policy over the slots. It decides what to evict; the store
 * unlinks the files.
 */
import { createPolicy, type EvictionPolicy, type PolicyName } from "../../policy/index.ts";

/** Entries by name, bounded in count and bytes. */
export class EntryIndex {
  readonly #slots = new Map<string, number>();
  readonly #names: (string | undefined)[];
  readonly #sizes: Float64Array;
  readonly #free: number[] = [];
  readonly #policy: EvictionPolicy;
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxEntries: number, maxBytes: number, policy: PolicyName) {
    this.#maxBytes = maxBytes;
    this.#policy = createPolicy(policy, maxEntries);
    this.#names = new Array(maxEntries);
    this.#sizes = new Float64Array(maxEntries);
    for (let i = maxEntries - 1; i >= 0; i--) this.#free.push(i);
  }

  /** Entries held. */
  get size(): number {
    return this.#slots.size;
  }

  /** Bytes of the entries held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The slot of entry `name`, if it is held. */
  slotOf(name: string): number | undefined {
    return this.#slots.get(name);
  }

  /** Whether entry `name` is held. */
  has(name: string): boolean {
    return this.#slots.has(name);
  }

  /** The size of the entry in `slot`. */
  sizeOf(slot: number): number {
    return this.#sizes[slot]!;
  }

  /** Tell the policy the entry in `slot` was read. */
  touch(slot: number): void {
    this.#policy.touch(slot);
  }

  /**
   * Record entry `name` of `size` bytes (new, or replacing the one of that name), then
   * evict until the bounds hold; `evict(name)` is told each entry to unlink.
   */
  add(name: string, hash32: number, size: number, evict: (name: string) => void): void {
    let slot = this.#slots.get(name);
    if (slot !== undefined) {
      this.#bytes += size - this.#sizes[slot]!;
      this.#sizes[slot] = size;
      this.#policy.remove(slot);
      this.#policy.insert(slot, hash32);
    } else {
      if (this.#free.length === 0) this.#evictOne(evict);
      slot = this.#free.pop()!;
      this.#slots.set(name, slot);
      this.#names[slot] = name;
      this.#sizes[slot] = size;
      this.#bytes += size;
      this.#policy.insert(slot, hash32);
    }
    while (this.#bytes > this.#maxBytes && this.#slots.size > 0) {
      if (!this.#evictOne(evict)) break;
    }
  }

  /** Drop entry `name` from the index; false when it was not held. */
  remove(name: string): boolean {
    const slot = this.#slots.get(name);
    if (slot === undefined) return false;
    this.#policy.remove(slot);
    this.#free.push(slot);
    this.#slots.delete(name);
    this.#names[slot] = undefined;
    this.#bytes -= this.#sizes[slot]!;
    this.#sizes[slot] = 0;
    return true;
  }

  #evictOne(evict: (name: string) => void): boolean {
    const victim = this.#policy.evict();
    if (victim < 0) return false;
    const name = this.#names[victim];
    if (name === undefined) return false;
    // The policy let go of the slot already: free it without asking the policy again.
    this.#slots.delete(name);
    this.#names[victim] = undefined;
    this.#bytes -= this.#sizes[victim]!;
    this.#sizes[victim] = 0;
    this.#free.push(victim);
    evict(name);
    return true;
  }
}
