/**
 * What every handle of the five structures promises, whatever it holds: `closed`,
 * `close()` idempotent, `ERR_CLOSED` from every later call, `Symbol.dispose` (or
 * `Symbol.asyncDispose`) closing it, and, where there are read-only handles,
 * `ERR_READONLY` for writes through them while they see the writer's data live.
 */
import { describe, expect, test } from "bun:test";
import { expectCode, tempDir, type TempDir } from "../helpers/index.ts";

/** One structure, described for {@link handleContract}. */
export interface HandleSpec<H extends { readonly closed: boolean; close(): unknown }> {
  /** A new writable handle on fresh storage in `dir`. */
  open(dir: TempDir): H;
  /** Calls that must fail with `ERR_CLOSED` once the handle is closed (sync or async). */
  afterClose: Record<string, (h: H) => unknown>;
  /** Read-only handles, where the structure has them. */
  readonly?: {
    /** A read-only handle on what `open(dir)` made. */
    open(dir: TempDir): H;
    /** Write something through the writable handle `w` and return what a reader should read. */
    write(w: H): unknown;
    /** What the read-only handle `r` reads of it now. */
    read(r: H): unknown;
    /** Writes that must fail with `ERR_READONLY`. */
    writes: Record<string, (r: H) => unknown>;
  };
}

/** Run the lifecycle contract over `spec`, in a describe block named `name`. */
export function handleContract<H extends { readonly closed: boolean; close(): unknown }>(name: string, spec: HandleSpec<H>): void {
  describe(`${name}: the handle contract`, () => {
    test("closed is false until close(); close() twice is fine", async () => {
      using dir = tempDir();
      const h = spec.open(dir);
      expect(h.closed).toBe(false);
      await h.close();
      expect(h.closed).toBe(true);
      await h.close();
      expect(h.closed).toBe(true);
    });

    test("every call after close() fails with ERR_CLOSED", async () => {
      using dir = tempDir();
      const h = spec.open(dir);
      await h.close();
      for (const [call, fn] of Object.entries(spec.afterClose)) {
        let outcome: string;
        try {
          outcome = (await expectCode(() => fn(h), "ERR_CLOSED")).code;
        } catch (e) {
          outcome = (e as Error).message;
        }
        expect({ call, outcome }).toEqual({ call, outcome: "ERR_CLOSED" });
      }
      expect(Object.keys(spec.afterClose).length).toBeGreaterThan(2);
    });

    test("disposing the handle closes it", async () => {
      using dir = tempDir();
      let seen: H | undefined;
      {
        const h = spec.open(dir) as H & Partial<Disposable & AsyncDisposable>;
        seen = h;
        if (typeof h[Symbol.dispose] === "function") h[Symbol.dispose]!();
        else await h[Symbol.asyncDispose]!();
      }
      expect(seen.closed).toBe(true);
    });

    if (spec.readonly !== undefined) {
      const ro = spec.readonly;
      test("a read-only handle sees the writer's data live and refuses writes with ERR_READONLY", () => {
        using dir = tempDir();
        const w = spec.open(dir);
        const r = ro.open(dir);
        try {
          const expected = ro.write(w);
          expect(ro.read(r)).toEqual(expected);
          for (const [call, fn] of Object.entries(ro.writes)) {
            const e = expectCode(() => fn(r), "ERR_READONLY");
            expect({ call, code: e.code }).toEqual({ call, code: "ERR_READONLY" });
          }
          // The refused writes changed nothing the writer sees.
          expect(ro.read(w)).toEqual(expected);
        } finally {
          r.close();
          w.close();
        }
      });
    }
  });
}
