// Worker side of shared.test.ts: attach to the cache and hammer it, checking every value
// read is one that some thread wrote for that key.
import { ArenaCache, codecs, type ArenaHandle } from "../../src/arena/index.ts";

declare const self: Worker;

self.onmessage = (e: MessageEvent<{ handle: ArenaHandle; id: number; ops: number; keys: number; seed: number }>) => {
  const { handle, id, ops, keys, seed } = e.data;
  const cache = ArenaCache.attach(handle, { codec: codecs.string });
  let s = seed >>> 0;
  let reads = 0;
  let hits = 0;
  const bad: string[] = [];
  for (let i = 0; i < ops; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const key = `k${s % keys}`;
    if ((s >>> 8) % 3 === 0) {
      cache.set(key, `${key}|w${id}|${i}|${"p".repeat((s >>> 12) % 200)}`);
    } else if ((s >>> 8) % 17 === 1) {
      cache.delete(key);
    } else {
      reads++;
      const v = cache.get(key);
      if (v !== undefined) {
        hits++;
        if (!v.startsWith(`${key}|`) && bad.length < 5) bad.push(`${key} -> ${v.slice(0, 40)}`);
      }
    }
  }
  cache.close();
  self.postMessage({ id, reads, hits, bad });
};
