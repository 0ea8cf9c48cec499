/**
 * Named readers hold no file descriptor (a reader is read once, opened again only to
 * commit), work on a read-only filesystem as far as reading goes, and refuse a position
 * file that belongs to another reader.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { copyFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { DurableQueue } from "../../src/queue/index.ts";
import { tempDir, thrown, tinyFilesystem } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const fds = () => readdirSync("/proc/self/fd").length;

describe("queue readers", () => {
  test("1,000 readers (new and reopened, committed or not) leave the open descriptors as they were", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path);
    q.appendMany(["a", "b", "c"]);
    const before = fds();
    for (let i = 0; i < 1000; i++) {
      const r = q.reader(`r${i % 50}`);
      r.next();
      if (i % 3 === 0) r.commit();
    }
    expect(fds()).toBe(before);
    const x = q.reader("x");
    x.next();
    x.commit();
    expect(q.reader("x").position).toBe(1);
    expect(fds()).toBe(before);
  });

  test("on a read-only filesystem: a reader reads from its committed position (a new one from the oldest item); commit is ERR_SYSTEM EROFS", () => {
    using fs = tinyFilesystem();
    const dir = fs.file("q");
    {
      using q = DurableQueue.open(dir, { segmentBytes: 4096 });
      q.appendMany(["a", "b", "c", "d"]);
      const r = q.reader("done-two");
      r.next();
      r.next();
      r.commit();
    }
    fs.setReadonly(true);
    try {
      using q = DurableQueue.open(dir, { readonly: true });
      const r = q.reader("done-two");
      expect(r.next()?.index).toBe(2);
      expect(r.next()?.index).toBe(3);
      const e = thrown(() => r.commit());
      expect([e.code, e.errno]).toEqual(["ERR_SYSTEM", "EROFS"]);
      const fresh = q.reader("new");
      expect(fresh.next()?.index).toBe(0);
      expect(thrown(() => fresh.commit()).errno).toBe("EROFS");
    } finally {
      fs.setReadonly(false);
    }
  });

  test("a position file copied over another reader's is ERR_CORRUPT, not that reader's position", () => {
    using dir = tempDir();
    using q = DurableQueue.open(dir.path);
    q.appendMany(["a", "b", "c"]);
    const fast = q.reader("fast");
    fast.next();
    fast.next();
    fast.commit();
    q.reader("slow").commit();
    copyFileSync(join(dir.path, "queue.reader-fast"), join(dir.path, "queue.reader-slow"));
    expect(thrown(() => q.reader("slow")).code).toBe("ERR_CORRUPT");
    expect(q.reader("fast").position).toBe(2);
  });
});
