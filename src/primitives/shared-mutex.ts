/**
 * A mutex in one Int32 word of shared memory (a SharedArrayBuffer shared with Workers, or a
 * file mapping shared by processes) that survives the death of its holder.
 *
 * The word holds the holder's token (0 when free), plus {@link CONTENDED} when someone may
 * be sleeping on it (Drepper's "futexes are tricky" mutex, with the owner in the word).
 * A token names a registration in an {@link OwnerRegistry}: the thread (pid, tid, start
 * time) that took it. A waiter that has waited a little looks the holder up; when the
 * registration is gone or its thread is dead (a process killed with SIGKILL, a Worker
 * terminated mid-call), it takes the lock over with one compare-and-swap, so exactly one
 * waiter does, and tells its caller so the caller can check what the dead holder left.
 * A holder that is alive but stuck (stopped, or in another pid namespace where we can't
 * tell) is waited for until the deadline: then `ERR_TIMEOUT`, never a wait without end.
 *
 * Only the slow path lives here; the uncontended path is one compare-and-swap to take and
 * one exchange to release, inlined by the caller.
 */
import { currentThread, threadLiveness, type Liveness } from "../../ffi/index.ts";
import { OffheapError } from "../errors.ts";

/** Bit of a lock word set when a thread may be sleeping on it. */
export const CONTENDED = 0x4000_0000;
/** The token part of a lock word. */
export const TOKEN_MASK = 0x3fff_ffff;

/** Most registrations one registry holds (the slot index takes 10 bits of a token). */
export const MAX_REGISTRY_SLOTS = 1023;
/** Bytes of one registry slot. */
export const REGISTRY_SLOT_BYTES = 32;

const SLOT_BITS = 10;
const GEN_MASK = 0xfffff; // 20 bits: tokens stay below CONTENDED

// Registry slot, as i32 words: claim (0 free, else the claiming thread's id), gen
// (published last), pid, tid; as f64: [2] start time, [3] pid namespace.
const CLAIM = 0;
const GEN = 1;
const PID = 2;
const TID = 3;

/** How a waiter sleeps on a lock word and how a releaser wakes it. */
export interface LockWaiter {
  /** Sleep while the word still holds `expected`, at most `ms` (may return early). */
  wait(expected: number, ms: number): void;
  /** Wake one thread sleeping on the word. */
  wake(): void;
}

/**
 * Who may hold the locks of one shared structure: a table of registrations in shared
 * memory, one per handle (a process's `ArenaCache.open`, a Worker's `attach`).
 */
export class OwnerRegistry {
  readonly slots: number;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;

  /** A view of the registry in `buffer` (zeroed memory is an empty registry). */
  constructor(buffer: ArrayBufferLike, slots: number) {
    if (!Number.isInteger(slots) || slots < 1 || slots > MAX_REGISTRY_SLOTS || buffer.byteLength < slots * REGISTRY_SLOT_BYTES) {
      throw new OffheapError("ERR_FORMAT", `a registry of ${slots} slots does not fit in ${buffer.byteLength} bytes`);
    }
    this.slots = slots;
    this.i32 = new Int32Array(buffer, 0, slots * 8);
    this.f64 = new Float64Array(buffer, 0, slots * 4);
  }

  /** Bytes a registry of `slots` slots takes. */
  static bytes(slots: number): number {
    return slots * REGISTRY_SLOT_BYTES;
  }

  /**
   * Register the calling thread; returns its token (never 0, below {@link CONTENDED}).
   * Slots of dead registrants are reused. Throws `ERR_FULL` when every slot is held by a
   * live (or undecidable) thread.
   */
  register(): number {
    const me = currentThread();
    const id = me.tid > 0 ? me.tid : me.pid;
    const first = (id * 2654435761) % this.slots >>> 0;
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < this.slots; k++) {
        const s = (first + k) % this.slots;
        const at = s * 8;
        const c = Atomics.load(this.i32, at + CLAIM);
        if (c === 0) {
          if (Atomics.compareExchange(this.i32, at + CLAIM, 0, id) === 0) return this.fill(s, me);
        } else if (pass === 1 && this.claimDead(s, c)) {
          if (Atomics.compareExchange(this.i32, at + CLAIM, c, id) === c) return this.fill(s, me);
        }
      }
    }
    throw new OffheapError("ERR_FULL", `all ${this.slots} handle slots of this shared mapping (a shared cache, say) are held by running threads; close some handles`);
  }

  /** End the registration `token` (idempotent; a reused slot is left alone). */
  unregister(token: number): void {
    const s = (token & ((1 << SLOT_BITS) - 1)) - 1;
    if (s < 0 || s >= this.slots) return;
    const at = s * 8;
    if (Atomics.load(this.i32, at + GEN) !== token >>> SLOT_BITS) return;
    Atomics.store(this.i32, at + CLAIM, 0);
  }

  /**
   * Whether the holder of `token` still runs. A token whose registration ended or was
   * reused is dead: a registration ends only by close (which holds no lock) or by a
   * registrant's death. `deep` false looks only at the registration (a few loads, fit for
   * inside a lock) and answers "unknown" for a registration that still stands; true also
   * asks the OS about the thread (a /proc read).
   */
  liveness(token: number, deep = true): Liveness {
    const s = (token & ((1 << SLOT_BITS) - 1)) - 1;
    if (s < 0 || s >= this.slots) return "dead"; // no registration ever had it
    const at = s * 8;
    if (Atomics.load(this.i32, at + GEN) !== token >>> SLOT_BITS || Atomics.load(this.i32, at + CLAIM) === 0) return "dead";
    return deep ? threadLiveness(this.identity(s)) : "unknown";
  }

  /** A description of the holder of `token`, for messages. */
  describe(token: number): string {
    const s = (token & ((1 << SLOT_BITS) - 1)) - 1;
    if (s < 0 || s >= this.slots) return `an unknown holder (token ${token})`;
    const who = this.identity(s);
    return who.tid > 0 && who.tid !== who.pid ? `pid ${who.pid} (thread ${who.tid})` : `pid ${who.pid}`;
  }

  private identity(s: number) {
    const at = s * 8;
    return {
      pid: Atomics.load(this.i32, at + PID),
      tid: Atomics.load(this.i32, at + TID),
      start: this.f64[s * 4 + 2]!,
      namespace: this.f64[s * 4 + 3]!,
    };
  }

  private fill(s: number, me: ReturnType<typeof currentThread>): number {
    const at = s * 8;
    Atomics.store(this.i32, at + PID, me.pid);
    Atomics.store(this.i32, at + TID, me.tid);
    this.f64[s * 4 + 2] = me.start;
    this.f64[s * 4 + 3] = me.namespace;
    const gen = ((Atomics.load(this.i32, at + GEN) + 1) & GEN_MASK) || 1;
    Atomics.store(this.i32, at + GEN, gen);
    return (gen << SLOT_BITS) | (s + 1);
  }

  /** Whether the thread that claimed slot `s` (claim value `c`) is gone. */
  private claimDead(s: number, c: number): boolean {
    const who = this.identity(s);
    // Filled in by the claimant: its full identity says. Otherwise it died (or is) between
    // claiming and filling in: all we have is its id.
    if (who.tid === c || (who.tid === 0 && who.pid === c)) return threadLiveness(who) === "dead";
    return threadLiveness({ pid: c, tid: 0, start: 0, namespace: currentThread().namespace }) === "dead";
  }
}

/** What {@link lockSlow} needs besides the word. */
export interface LockContext {
  readonly registry: OwnerRegistry;
  readonly waiter: LockWaiter;
  /** Longest wait for a live holder, in ms. */
  readonly timeoutMs: number;
  /** Names the lock in a timeout message, e.g. "stripe 3 of /dev/shm/cache". */
  readonly name: string;
}

const SPINS = 64;
/** First look at the holder after this long: a live holder keeps a stripe for microseconds. */
const FIRST_CHECK_MS = 2;
/** Then look again this often (each look reads a /proc file: ~30 µs). */
const CHECK_EVERY_MS = 20;
/** Longest single sleep, so that a missed wake costs little. */
const SLICE_MS = 5;

/**
 * Take the lock at `words[index]` for `token` after the fast compare-and-swap failed.
 * Returns true when it was taken over from a dead holder (the caller must then check what
 * that holder was doing), false for an ordinary handover. Throws `ERR_TIMEOUT` when a
 * holder that is alive (or can't be judged) keeps it past the deadline.
 */
export function lockSlow(words: Int32Array, index: number, token: number, ctx: LockContext): boolean {
  for (let i = 0; i < SPINS; i++) {
    if (Atomics.load(words, index) === 0 && Atomics.compareExchange(words, index, 0, token) === 0) return false;
  }
  const begin = performance.now();
  let nextCheck = begin + FIRST_CHECK_MS;
  for (;;) {
    let v = Atomics.load(words, index);
    if (v === 0) {
      // Someone else may still sleep on it: keep CONTENDED so our release wakes them.
      if (Atomics.compareExchange(words, index, 0, token | CONTENDED) === 0) return false;
      continue;
    }
    if ((v & CONTENDED) === 0) {
      if (Atomics.compareExchange(words, index, v, v | CONTENDED) !== v) continue;
      v |= CONTENDED;
    }
    const now = performance.now();
    const holder = v & TOKEN_MASK;
    const left = begin + ctx.timeoutMs - now;
    // Look at the holder on schedule, and always before giving up (even with timeout 0).
    if (now >= nextCheck || left <= 0 || holder === token) {
      // Our own token: a call of ours died inside the lock (a thrown error can't do that;
      // only a thread that is gone can), so it is as dead as any other.
      if (holder === token || ctx.registry.liveness(holder) === "dead") {
        if (Atomics.compareExchange(words, index, v, token | CONTENDED) === v) return true;
        continue;
      }
      nextCheck = now + CHECK_EVERY_MS;
    }
    if (left <= 0) {
      throw new OffheapError(
        "ERR_TIMEOUT",
        `waited ${ctx.timeoutMs} ms for ${ctx.name}, held by ${ctx.registry.describe(holder)}, which is still running (or can't be checked from here); pass a larger lockTimeout to wait longer`,
      );
    }
    ctx.waiter.wait(v, Math.max(0.05, Math.min(SLICE_MS, left, nextCheck - now)));
  }
}

/** Release the lock at `words[index]`, waking a sleeper if any may be there. */
export function unlockShared(words: Int32Array, index: number, waiter: LockWaiter): void {
  if ((Atomics.exchange(words, index, 0) & CONTENDED) !== 0) waiter.wake();
}

/** Sleep and wake through `Atomics.wait`/`notify`: for SharedArrayBuffers (Workers). */
export function atomicsWaiter(words: Int32Array, index: number): LockWaiter {
  return {
    wait: (expected, ms) => void Atomics.wait(words, index, expected, ms),
    wake: () => void Atomics.notify(words, index, 1),
  };
}
