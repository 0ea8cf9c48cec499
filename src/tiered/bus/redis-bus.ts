/**
 * `RedisBus`: the invalidation bus over Redis pub/sub (`Bun.RedisClient`'s `subscribe` and
 * `publish`). One connection subscribes, another publishes; each message is JSON
 * `{ o: <instance id>, k: <key> }` (or `{ o, all: true }`), and an instance ignores its own.
 *
 * Bun's client reconnects a dropped connection but does not restore a subscription, so the
 * subscriber here is a connection of its own: when it closes, a fresh one is made (backing
 * off from 100 ms to 5 s) and subscribes again. Keys published while the publisher can't
 * reach Redis are kept (up to `maxPending`, then one "distrust everything" message stands
 * for all of them) and sent when it can.
 */
import { functionArg, integerArg, objectArg, optionsArg, stringArg, urlArg } from "../../primitives/arguments.ts";
import { REDIS_PROTOCOLS } from "../stores/redis-store.ts";
import { OffheapError } from "../../errors.ts";
import type { BusListener, InvalidationBus } from "./bus.ts";

/** Options of a {@link RedisBus}. */
export interface RedisBusOptions {
  /** The Redis server, e.g. `redis://127.0.0.1:6379`. Default: Bun's (`REDIS_URL` or localhost). */
  url?: string;
  /** The pub/sub channel. Instances that share a cache use the same one. Default `"offheap:invalidate"`. */
  channel?: string;
  /** Most keys kept while Redis is unreachable; past it one message invalidates everything. Default 10 000. */
  maxPending?: number;
  /** Longest pause between reconnection attempts, ms. Default 5 000. */
  maxBackoff?: number;
}

interface Message {
  o: string;
  k?: string;
  all?: boolean;
}

/** The invalidation bus over Redis pub/sub. */
export class RedisBus implements InvalidationBus {
  readonly #url: string | undefined;
  readonly #channel: string;
  readonly #maxPending: number;
  readonly #maxBackoff: number;
  /** This instance, so that it ignores its own messages. */
  readonly id = crypto.randomUUID();
  #listener: BusListener | undefined;
  #sub: Bun.RedisClient | undefined;
  readonly #pub: Bun.RedisClient;
  #connected = false;
  #closed = false;
  #backoff = 100;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #pending = new Set<string>();
  #overflowed = false;
  #flushing: Promise<void> | undefined;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #stats = { published: 0, received: 0, reconnects: 0, dropped: 0 };

  /**
   * A bus on the Redis at `options.url`; connects in the background and reconnects forever.
   * @throws `ERR_INVALID` naming the option for bad options.
   */
  constructor(options: RedisBusOptions = {}) {
    optionsArg("RedisBus options", options);
    if (options.url !== undefined) urlArg("url", options.url, REDIS_PROTOCOLS);
    this.#url = options.url;
    this.#channel = options.channel === undefined ? "offheap:invalidate" : stringArg("channel", options.channel, true);
    this.#maxPending = options.maxPending === undefined ? 10_000 : integerArg("maxPending", options.maxPending, { min: 1 });
    this.#maxBackoff = options.maxBackoff === undefined ? 5_000 : integerArg("maxBackoff", options.maxBackoff, { min: 10 });
    // The publisher queues while disconnected and reconnects on its own; what it can't send
    // stays in #pending (removed only once Redis took it).
    this.#pub = new Bun.RedisClient(this.#url, { connectionTimeout: 2_000, autoReconnect: true, maxRetries: 1_000_000_000 });
  }

  /** Whether the subscription is up now (messages sent while it is down wait in a bounded queue). */
  get connected(): boolean {
    return this.#connected;
  }

  /**
   * Counters: messages published and received, reconnections, keys dropped in an overflow.
   * @throws `ERR_CLOSED` after close.
   */
  stats(): { published: number; received: number; reconnects: number; dropped: number; pending: number; connected: boolean } {
    this.#assertOpen();
    return { ...this.#stats, pending: this.#pending.size, connected: this.#connected };
  }

  /** @throws `ERR_INVALID` unless `listener` has the three functions of a {@link BusListener}, or when started twice; `ERR_CLOSED`. */
  start(listener: BusListener): void {
    this.#assertOpen();
    const l = objectArg("listener", listener);
    for (const m of ["invalidate", "invalidateAll", "connection"] as const) functionArg(`listener.${m}`, l[m]);
    if (this.#listener !== undefined) throw new OffheapError("ERR_INVALID", "a RedisBus serves one cache; make one per TieredCache");
    this.#listener = listener;
    this.#pub.connect().catch(() => {});
    void this.#connect();
  }

  /**
   * Tell the other instances to drop `key`. While disconnected it is kept and sent later;
   * after close it is dropped.
   * @throws `ERR_INVALID` for a key that is not a string; nothing else.
   */
  publish(key: string): void {
    stringArg("key", key);
    if (this.#closed) return;
    if (this.#pending.size >= this.#maxPending) {
      this.#overflowed = true;
      this.#stats.dropped += this.#pending.size;
      this.#pending.clear();
    } else {
      this.#pending.add(key);
    }
    void this.#flush();
  }

  #assertOpen(): void {
    if (this.#closed) throw new OffheapError("ERR_CLOSED", "the Redis bus is closed");
  }

  /**
   * Flush what is pending (briefly), then disconnect. Idempotent.
   * @throws (the promise rejects) nothing.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#flushTimer);
    await this.#flushing?.catch(() => {});
    this.#setConnected(false);
    this.#sub?.close();
    this.#pub.close();
  }

  /** Send what is pending, one message at a time; on failure keep it for the next try. */
  #flush(): Promise<void> {
    if (this.#flushing !== undefined) return this.#flushing;
    if (this.#closed || (!this.#overflowed && this.#pending.size === 0)) return Promise.resolve();
    const run = this.#send().finally(() => {
      if (this.#flushing === run) this.#flushing = undefined;
    });
    this.#flushing = run;
    return run;
  }

  async #send(): Promise<void> {
    while (!this.#closed && (this.#overflowed || this.#pending.size > 0)) {
      let message: Message;
      let key: string | undefined;
      if (this.#overflowed) message = { o: this.id, all: true };
      else {
        key = this.#pending.values().next().value as string;
        message = { o: this.id, k: key };
      }
      try {
        await this.#pub.publish(this.#channel, JSON.stringify(message));
      } catch {
        // Redis unreachable: keep it and try again shortly.
        this.#flushTimer ??= setTimeout(() => {
          this.#flushTimer = undefined;
          void this.#flush();
        }, Math.min(this.#backoff * 4, this.#maxBackoff));
        return;
      }
      this.#stats.published++;
      if (key === undefined) this.#overflowed = false;
      else this.#pending.delete(key);
    }
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const sub = new Bun.RedisClient(this.#url, { connectionTimeout: 2_000, autoReconnect: false });
    this.#sub = sub;
    sub.onclose = () => {
      if (this.#sub !== sub) return;
      this.#setConnected(false);
      this.#retry();
    };
    try {
      await sub.subscribe(this.#channel, (raw) => this.#receive(raw));
    } catch {
      if (this.#sub === sub) {
        sub.close();
        this.#setConnected(false);
        this.#retry();
      }
      return;
    }
    if (this.#closed) {
      sub.close();
      return;
    }
    this.#backoff = 100;
    this.#setConnected(true);
    void this.#flush();
  }

  #retry(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#stats.reconnects++;
    const wait = this.#backoff;
    this.#backoff = Math.min(this.#maxBackoff, this.#backoff * 2);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, wait);
  }

  #setConnected(up: boolean): void {
    if (this.#connected === up) return;
    this.#connected = up;
    this.#listener?.connection(up);
  }

  #receive(raw: string): void {
    let m: Message;
    try {
      m = JSON.parse(raw) as Message;
    } catch {
      return; // not ours
    }
    if (typeof m !== "object" || m === null || m.o === this.id) return;
    this.#stats.received++;
    if (m.all === true) this.#listener?.invalidateAll();
    else if (typeof m.k === "string") this.#listener?.invalidate(m.k);
  }
}
