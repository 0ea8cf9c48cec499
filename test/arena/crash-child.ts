// A process hammering one shared cache file until it is killed (for the crash rounds in
// crash.test.ts): random gets, sets, deletes and getOrLoads over a small key space, every
// value read checked. Prints `ready`, then `n <ops>` now and then, and `bad <what>` for a
// value that was not written for its key.
import { ArenaCache, codecs } from "../../src/arena/index.ts";
import { checkValue, valueFor } from "./crash-values.ts";

const [path, writer, seedArg, keysArg] = process.argv.slice(2) as [string, string, string, string];
const cache = ArenaCache.open<string>(path, { codec: codecs.string });
const keys = Number(keysArg);
let s = Number(seedArg) >>> 0 || 1;
const rnd = () => {
  s ^= s << 13;
  s ^= s >>> 17;
  s ^= s << 5;
  return (s >>> 0) / 4294967296;
};
console.log("ready");
let seq = 0;
for (let ops = 1; ; ops++) {
  const key = `k${Math.floor(rnd() * keys)}`;
  const r = rnd();
  if (r < 0.3) cache.set(key, valueFor(key, writer, seq++, Math.floor(rnd() * 300)));
  else if (r < 0.34) cache.delete(key);
  else if (r < 0.37) {
    const v = await cache.getOrLoad(key, async () => valueFor(key, writer, seq++, 10));
    const bad = checkValue(key, v);
    if (bad) console.log(`bad ${bad}`);
  } else {
    const v = cache.get(key);
    if (v !== undefined) {
      const bad = checkValue(key, v);
      if (bad) console.log(`bad ${bad}`);
    }
  }
  if (ops % 2000 === 0) {
    console.log(`n ${ops}`);
    await Bun.sleep(0);
  }
}
