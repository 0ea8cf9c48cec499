import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { startS3, type TestS3Server } from "../helpers/servers.ts";
import { MemoryStore, S3Store, TieredCache, type Fetcher } from "../../src/tiered/index.ts";
import { bytes, chunkedStream, expectCode, pattern, text } from "../helpers/index.ts";
import { put, storeContract } from "../contracts/store.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

let server: TestS3Server;
let n = 0;

beforeAll(async () => {
  // Fails the suite with the reason when s3rver cannot start.
  server = await startS3();
});

afterAll(async () => {
  await server?.stop();
});

function store(options: { graceMs?: number; prefix?: string } = {}): S3Store {
  return new S3Store({
    endpoint: server.url,
    bucket: server.bucket,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
    region: "us-east-1",
    prefix: options.prefix ?? `t${++n}/`,
    graceMs: options.graceMs ?? 0,
  });
}

async function objects(s: S3Store, prefix: string): Promise<string[]> {
  const list = await s.client.list({ prefix });
  return (list.contents ?? []).map((o) => o.key);
}

describe("S3Store (real S3-compatible server)", () => {
  storeContract(() => store(), { test });

  test("a body past the part size is uploaded as a stream (multipart) and streamed back", async () => {
    const s = store();
    try {
      const w = s.writer("big", { cachedAt: 5, etag: '"b"', contentType: "application/octet-stream" });
      for (let i = 0; i < 12; i++) await w.write(new Uint8Array(1 << 20).fill(i));
      await w.commit();
      const e = (await s.get("big"))!;
      expect(e.meta.size).toBe(12 << 20);
      expect(e.meta.etag).toBe('"b"');
      let total = 0;
      let chunks = 0;
      let ok = true;
      for await (const c of e.body) {
        for (let j = 0; j < c.length; j += 65_536) if (c[j] !== Math.floor((total + j) / (1 << 20))) ok = false;
        total += c.length;
        chunks++;
      }
      expect(ok).toBe(true);
      expect(total).toBe(12 << 20);
      expect(chunks).toBeGreaterThan(1);
    } finally {
      await s.close();
    }
  });

  test("metadata lives with the object; an aborted upload leaves no object behind", async () => {
    const prefix = `meta${++n}/`;
    const s = store({ prefix });
    try {
      await put(s, "k", "v", { etag: '"m"', contentType: "text/plain", cachedAt: 77 });
      const names = await objects(s, prefix);
      expect(names.length).toBe(2); // the entry (metadata) and its body
      const w = s.writer("aborted", { cachedAt: 1 });
      await w.write(pattern(1000));
      await w.abort();
      expect(await s.get("aborted")).toBeUndefined();
      expect((await objects(s, prefix)).length).toBe(2);
      // A fresh store on the same prefix (another process) reads the metadata back.
      const other = store({ prefix });
      const st = await other.stat("k");
      expect(st).toEqual({ cachedAt: 77, etag: '"m"', contentType: "text/plain", size: 1 });
      await other.close();
    } finally {
      await s.close();
    }
  });

  test("a replaced body is deleted after graceMs; a body gone under its reader errors ERR_CORRUPT", async () => {
    const prefix = `g${++n}/`;
    const s = store({ prefix, graceMs: 60_000 });
    try {
      await put(s, "k", pattern(1000, 1));
      const old = (await s.get("k"))!;
      await put(s, "k", pattern(1000, 2));
      expect(await bytes(old.body)).toEqual(pattern(1000, 1)); // still there within grace
      expect(s.stats().pendingDeletes).toBe(1);
      await s.close(); // close deletes what waits out its grace
      const check = store({ prefix });
      expect((await objects(check, prefix)).length).toBe(2);
      const e = (await check.get("k"))!;
      for (const name of await objects(check, prefix)) if (name.includes(".")) await check.client.delete(name);
      await expectCode(() => bytes(e.body), "ERR_CORRUPT");
      await check.close();
    } finally {
      await s.close();
    }
  });

  test("as a TieredCache tier: a miss streams to the caller and into S3; another cache hits S3", async () => {
    const prefix = `c${++n}/`;
    let calls = 0;
    const fetcher: Fetcher = async () => {
      calls++;
      return { body: chunkedStream(8, 50_000), etag: "s1", contentType: "application/x-bin" };
    };
    const mk = () => new TieredCache({ tiers: [new MemoryStore(), store({ prefix })] });
    const a = mk();
    const b = mk();
    try {
      expect((await text((await a.get("/o", fetcher)).body)).length).toBe(400_000);
      const r = await b.get("/o", fetcher);
      expect(r.source).toBe("s3");
      expect(r.meta.contentType).toBe("application/x-bin");
      expect((await text(r.body)).length).toBe(400_000);
      expect((await b.get("/o", fetcher)).source).toBe("memory");
      expect(calls).toBe(1);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
