/**
 * The invalidation bus over a real redis-server: a change on one instance drops the key
 * from the others' local tiers (here: another process), through the generic API and the
 * HTTP face; a lost connection falls back to short trust in local copies, and after
 * reconnecting every older local copy is validated once.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { MemoryStore, RedisBus, TieredCache, type Fetcher } from "../../src/tiered/index.ts";
import { Child, ROOT, tempDir, until, writeScript } from "../helpers/index.ts";
import { startRedis, type TestServer } from "../helpers/servers.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

let redis: TestServer;
let originVersion = 1;
let originCalls = 0;
let origin: ReturnType<typeof Bun.serve>;
const dir = tempDir("offheap-bus-");

beforeAll(async () => {
  redis = await startRedis();
  origin = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      originCalls++;
      const etag = `"v${originVersion}"`;
      if (req.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers: { etag } });
      return new Response(`${new URL(req.url).pathname} v${originVersion}`, { headers: { etag, "cache-control": "max-age=600" } });
    },
  });
});

afterAll(async () => {
  origin.stop(true);
  await redis.stop();
  dir.remove();
});

const fetcherFor = (base: string): Fetcher => async ({ key, etag, signal }) => {
  const res = await fetch(base + key, { signal, headers: etag ? { "if-none-match": etag } : {} });
  if (res.status === 304) return (await import("../../src/tiered/index.ts")).NOT_MODIFIED;
  return { body: await res.text(), etag: res.headers.get("etag") };
};

/** Another process with its own cache on the same bus; answers `get KEY` with the body it serves. */
function otherInstance(channel: string): Child {
  const script = writeScript(
    dir.path,
    `instance-${channel}.ts`,
    `
import { MemoryStore, RedisBus, TieredCache, NOT_MODIFIED } from "${ROOT}/src/tiered/index.ts";
const [redisUrl, originUrl, channel] = process.argv.slice(2);
const bus = new RedisBus({ url: redisUrl, channel });
const cache = new TieredCache({ tiers: [new MemoryStore()], fresh: 600_000, bus });
const fetcher = async ({ key, etag, signal }) => {
  const res = await fetch(originUrl + key, { signal, headers: etag ? { "if-none-match": etag } : {} });
  if (res.status === 304) return NOT_MODIFIED;
  return { body: await res.text(), etag: res.headers.get("etag") };
};
const proxy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: cache.handler(originUrl) });
const wait = async () => { while (!bus.connected) await Bun.sleep(10); };
await wait();
console.log("ready " + proxy.port);
for await (const line of console) {
  const [cmd, key] = line.split(" ");
  if (cmd === "get") { const r = await cache.get(key, fetcher); console.log("got " + key + " " + r.status + " " + (await r.text())); }
  if (cmd === "http") { const r = await fetch("http://127.0.0.1:" + proxy.port + key); console.log("http " + key + " " + (await r.text()) + " " + r.headers.get("cache-status")); }
}
`,
  );
  return new Child(script, [redis.url, `http://127.0.0.1:${origin.port}`, channel]);
}

/** Send `line` and resolve with the first answer (a line starting with `prefix`) printed after it. */
async function ask(child: Child, line: string, prefix: string): Promise<string> {
  const before = child.lines.length;
  child.send(line);
  await until(() => child.lines.slice(before).some((l) => l.startsWith(prefix)), `an answer to ${line}`);
  return child.lines.slice(before).find((l) => l.startsWith(prefix))!;
}

describe("RedisBus (real redis-server, two processes)", () => {
  test("a set or delete on one instance drops the key from the other's memory tier", async () => {
    const channel = "t1";
    const child = otherInstance(channel);
    const bus = new RedisBus({ url: redis.url, channel });
    const cache = new TieredCache({ tiers: [new MemoryStore()], fresh: 600_000, bus });
    try {
      await child.waitForLine((l) => l.startsWith("ready"));
      await until(() => bus.connected, "our bus connected");
      const f = fetcherFor(`http://127.0.0.1:${origin.port}`);
      expect(await ask(child, "get /k", "got /k")).toBe("got /k miss /k v1");
      expect(await ask(child, "get /k", "got /k")).toBe("got /k hit /k v1");
      originVersion = 2;
      await cache.set("/k", "/k v2", { etag: '"v2"' });
      await until(async () => (await ask(child, "get /k", "got /k")) === "got /k miss /k v2", "the other instance refetched after our set");
      originVersion = 3;
      await cache.delete("/k");
      await until(async () => (await ask(child, "get /k", "got /k")) === "got /k miss /k v3", "the other instance refetched after our delete");
      expect((await (await cache.get("/k", f)).text())).toBe("/k v3");
    } finally {
      await cache.close();
      await child.kill();
    }
  }, 60_000);

  test("the HTTP face: a POST through one instance invalidates the URI on the other", async () => {
    const channel = "t2";
    const child = otherInstance(channel);
    const bus = new RedisBus({ url: redis.url, channel });
    const cache = new TieredCache({ tiers: [new MemoryStore()], bus });
    const proxy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: cache.handler(`http://127.0.0.1:${origin.port}`) });
    try {
      await child.waitForLine((l) => l.startsWith("ready"));
      await until(() => bus.connected, "our bus connected");
      originVersion = 10;
      expect(await ask(child, "http /page", "http /page")).toStartWith("http /page /page v10 offheap; fwd=uri-miss");
      expect(await ask(child, "http /page", "http /page")).toStartWith("http /page /page v10 offheap; hit");
      originVersion = 11;
      await (await fetch(`http://127.0.0.1:${proxy.port}/page`, { method: "POST", body: "edit" })).text();
      await until(async () => (await ask(child, "http /page", "http /page")).startsWith("http /page /page v11"), "the other instance fetched the page again");
    } finally {
      proxy.stop(true);
      await cache.close();
      await child.kill();
    }
  }, 60_000);

  test("while the bus is down local copies are trusted only briefly; after it reconnects older copies are validated once", async () => {
    const local = await startRedis();
    const clock = { now: 1_000_000 };
    const bus = new RedisBus({ url: local.url, channel: "t3", maxBackoff: 200 });
    const cache = new TieredCache({ tiers: [new MemoryStore()], fresh: 600_000, bus, busFallbackFresh: 1_000, clock: () => clock.now });
    const calls: (string | undefined)[] = [];
    const fetcher: Fetcher = async ({ etag }) => {
      calls.push(etag);
      return etag === '"e"' ? (await import("../../src/tiered/index.ts")).NOT_MODIFIED : { body: "body", etag: "e" };
    };
    const port = local.port;
    let restarted: TestServer | undefined;
    const get = async () => {
      const r = await cache.get("/x", fetcher);
      await r.text();
      return r;
    };
    try {
      await until(() => bus.connected, "bus connected");
      expect((await get()).status).toBe("miss");
      clock.now += 10_000;
      expect((await get()).status).toBe("hit"); // connected: trusted
      await local.stop();
      await until(() => !bus.connected, "bus noticed the disconnection");
      clock.now += 10_000;
      const during = await get(); // older than busFallbackFresh: validated
      expect(during.status).toBe("hit");
      expect(during.revalidated).toBe(true);
      expect(calls).toEqual([undefined, '"e"']);
      clock.now += 500;
      expect((await get()).revalidated).toBeUndefined(); // validated 500 ms ago: trusted
      restarted = await startRedis(15_000, port);
      await until(() => bus.connected, "bus reconnected", 30_000);
      clock.now += 10;
      const after = await get(); // validated before the reconnection: once more
      expect(after.revalidated).toBe(true);
      clock.now += 10;
      expect((await get()).revalidated).toBeUndefined();
      expect(calls.length).toBe(3);
      expect(bus.stats().reconnects).toBeGreaterThan(0);
    } finally {
      await cache.close();
      await restarted?.stop();
    }
  }, 60_000);

  test("bad options are ERR_INVALID; one bus serves one cache", async () => {
    const { OffheapError } = await import("../../src/errors.ts");
    for (const bad of [{ url: 5 }, { channel: "" }, { maxPending: 0 }, null]) {
      expect(() => new RedisBus(bad as never)).toThrow(OffheapError);
    }
    expect(() => new TieredCache({ tiers: [], bus: {} as never })).toThrow(OffheapError);
    const bus = new RedisBus({ url: redis.url, channel: "t4" });
    const a = new TieredCache({ tiers: [], bus });
    expect(() => new TieredCache({ tiers: [], bus })).toThrow(OffheapError);
    await a.close();
  });
});
