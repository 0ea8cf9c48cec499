/**
 * FileStore at the edges: damaged metadata is never served, failing node:fs calls are
 * `OffheapError`s, and a full disk is an error from the write that needed the space, with
 * every entry published before it still whole after space is freed and the store reopened.
 */
import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { OffheapError } from "../../src/errors.ts";
import { headerBytes } from "../../src/primitives/header.ts";
import { FILE_ENTRY_SPEC } from "../../src/tiered/stores/file-entry.ts";
import { FileStore } from "../../src/tiered/stores/file-store.ts";
import { keyHash } from "../../src/tiered/stores/key-hash.ts";
import { pattern, tempDir, text } from "../helpers/index.ts";
import { put } from "../contracts/store.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const dirs: Array<ReturnType<typeof tempDir>> = [];
afterAll(() => {
  for (const d of dirs) d.remove();
});
function fresh(): string {
  const d = tempDir("offheap-filestore-edge-");
  dirs.push(d);
  return d.path;
}
function entryPath(dir: string, key: string): string {
  const name = keyHash(key).name;
  return join(dir, name.slice(0, 2), name.slice(2));
}
function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe("FileStore metadata is checksummed", () => {
  test("a flipped byte anywhere in the key or metadata reads as a miss, never as other metadata", async () => {
    const dir = fresh();
    const meta = { etag: '"v1-abcdef"', contentType: "text/html; charset=utf-8", extra: '{"headers":[["x-a","1"]]}' };
    {
      using store = FileStore.open(dir, { sync: "none" });
      await put(store, "/page", "body bytes", meta);
    }
    const path = entryPath(dir, "/page");
    const original = readFileSync(path);
    const start = headerBytes(FILE_ENTRY_SPEC);
    const metaEnd = original.indexOf("body bytes");
    expect(metaEnd).toBeGreaterThan(start);
    for (let at = start; at < metaEnd; at++) {
      for (const mask of [0x01, 0x20, 0x80]) {
        const damaged = Buffer.from(original);
        damaged[at]! ^= mask;
        writeFileSync(path, damaged);
        using store = FileStore.open(dir, { sync: "none", openFiles: 0 });
        const got = store.get("/page");
        if (got !== undefined) {
          // Only an undamaged copy may be served.
          expect([at, mask, got.meta.etag, got.meta.contentType, got.meta.extra]).toEqual([at, mask, meta.etag, meta.contentType, meta.extra]);
          await got.body.cancel();
        }
        const st = store.stat("/page");
        if (st !== undefined) expect([at, mask, st.etag, st.extra]).toEqual([at, mask, meta.etag, meta.extra]);
      }
      writeFileSync(path, original);
    }
  });
});

describe("FileStore failures are OffheapErrors", () => {
  test("a directory that can't be made (a file in the way) is ERR_SYSTEM with errno, syscall and path", () => {
    const dir = fresh();
    writeFileSync(join(dir, "blocker"), "a file, not a directory");
    const e = caught(() => FileStore.open(join(dir, "blocker", "store")));
    expect(e).toBeInstanceOf(OffheapError);
    expect((e as OffheapError).code).toBe("ERR_SYSTEM");
    expect((e as OffheapError).errno).toBe("ENOTDIR");
    expect((e as OffheapError).syscall).toBe("mkdir");
  });

  test("an entry subdirectory that can't be made fails the publish with ERR_SYSTEM, and the store goes on", async () => {
    const dir = fresh();
    using store = FileStore.open(dir, { sync: "none" });
    const sub = keyHash("/blocked").name.slice(0, 2);
    writeFileSync(join(dir, sub), "a file where the subdirectory goes");
    let err: unknown;
    try {
      await put(store, "/blocked", "x");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OffheapError);
    expect((err as OffheapError).code).toBe("ERR_SYSTEM");
    expect(store.get("/blocked")).toBeUndefined();
    let other = "/other";
    for (let i = 0; keyHash(other).name.slice(0, 2) === sub; i++) other = `/other${i}`;
    await put(store, other, "fine");
    expect(await text(store.get(other)!.body)).toBe("fine");
  });
});

const root = process.getuid?.() === 0;

describe("FileStore on a full disk (a 2 MiB tmpfs; needs root, as CI runs)", () => {
  test("writes fail with ERR_SYSTEM ENOSPC; after space is freed and the store reopened every acknowledged entry is whole", async () => {
    if (!root) {
      console.warn("file-store-edges: not root, so the full-disk test cannot mount its tmpfs; run as root (CI does)");
      expect(root).toBe(false);
      return;
    }
    const mnt = fresh();
    const mount = spawnSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt]);
    expect(mount.status).toBe(0);
    try {
      const dir = join(mnt, "store");
      mkdirSync(dir);
      const acked: string[] = [];
      let failure: unknown;
      {
        using store = FileStore.open(dir, { sync: "always", maxBytes: 64 << 20 });
        for (let i = 0; i < 200 && failure === undefined; i++) {
          try {
            await put(store, `/k${i}`, pattern(100_000, i + 1));
            acked.push(`/k${i}`);
          } catch (e) {
            failure = e;
          }
        }
      }
      expect(failure).toBeInstanceOf(OffheapError);
      expect((failure as OffheapError).code).toBe("ERR_SYSTEM");
      expect((failure as OffheapError).errno).toBe("ENOSPC");
      expect(acked.length).toBeGreaterThan(5);
      using again = FileStore.open(dir, { sync: "always", maxBytes: 64 << 20 });
      for (const [i, key] of acked.entries()) {
        const got = again.get(key);
        expect([key, got !== undefined]).toEqual([key, true]);
        const body = new Uint8Array(await new Response(got!.body).arrayBuffer());
        expect([key, Buffer.compare(body, pattern(100_000, i + 1))]).toEqual([key, 0]);
      }
      // With space back (an entry removed), writes go on.
      again.delete(acked[0]!);
      await put(again, "/after", "space again");
      expect(await text(again.get("/after")!.body)).toBe("space again");
    } finally {
      spawnSync("umount", [mnt]);
    }
  });
});
