/**
 * The engine of the bad-argument sweep: a table of subjects (a class and its handles, or
 * a group of functions), each method with valid arguments and, per argument position,
 * the bad values to try there. For every trial it asserts that the call fails with an
 * `OffheapError` whose code is a known one and whose message names the argument, that it
 * fails the way its kind says (a synchronous method throws, an async one rejects) without
 * hanging, that no file was created by a call that can create files, and that the
 * handle's state did not change. Closed handles: every method throws `ERR_CLOSED`, but
 * the few documented to work after close.
 *
 * Failures are collected, not thrown one by one, so one run lists every finding.
 */
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { ERROR_CODES, OffheapError } from "../../src/errors.ts";
import type { TempDir } from "../helpers/index.ts";
import { Bad, show, type Trial } from "./values.ts";

/** What every subject's factories may use. */
export interface Ctx {
  /** The sweep's directory (also the process's working directory during the sweep). */
  readonly dir: TempDir;
  /** A Redis server's URL. */
  readonly redisUrl: string;
  /** A new path in `dir` that does not exist yet. */
  fresh(name: string): string;
}

/** One argument position of a method. */
export interface Param {
  /** The parameter's name, as in the signature. */
  name: string;
  /** The values tried at this position (raw, or {@link Bad} with their own mention). */
  bad: readonly Trial[];
  /** What the error message must contain; default `name`. */
  mention?: string;
  /**
   * For an options object: bad values of each option, tried one at a time in the valid
   * options object; the message must name the option (or the {@link Bad}'s mention).
   */
  fields?: Readonly<Record<string, readonly Trial[]>>;
}

/** How a member is reached. */
export type MemberKind = "method" | "getter" | "setter" | "static" | "constructor";

/** One public member of a subject. */
export interface Member<H> {
  /** Its name on the prototype (or on the class, for statics); for constructors, the class name. */
  name: string | symbol;
  /** Default `"method"`. */
  kind?: MemberKind;
  /** Returns a promise: bad arguments must reject it (never throw synchronously). */
  async?: boolean;
  /** Valid arguments (default none). Bad values replace one of them at a time. */
  args?: (h: H, ctx: Ctx) => unknown[];
  params?: readonly Param[];
  /** The call may create files or directories: a refused one must leave the sweep's directory as it was. */
  creates?: boolean;
  /** Documented to work on a closed handle (`closed`, `close`, dispose). */
  afterClose?: "works";
  /** Custom invocation, when `h[name](...args)` (or `new C(...)`, `C[name](...)`) is not it. */
  call?: (h: H, args: unknown[]) => unknown;
}

/** A class (or object) of the public API with its members. */
export interface Subject<H> {
  name: string;
  /** The class: its statics and prototype are compared with the members. */
  cls?: { readonly prototype: unknown; readonly name: string };
  /**
   * The object whose own function and accessor properties are the public surface, when it
   * is not `cls.prototype` (a codec, `t`, the prototype of a handle of an unexported class).
   */
  surface?: (h: H) => object;
  /** Names on the prototype (or statics) that are not public API, each with why. */
  internal?: Readonly<Record<string, string>>;
  /** A working handle. */
  make(ctx: Ctx): H | Promise<H>;
  /** Close it (default `h.close()`). */
  close?(h: H): unknown;
  /** What a refused call must leave unchanged (compared as JSON). */
  state?(h: H): unknown;
  /** A valid use after all the refused calls: the handle still works. */
  probe?(h: H, ctx: Ctx): unknown;
  members: readonly Member<H>[];
}

/** The result of a sweep over one subject. */
export interface SweepResult {
  trials: number;
  failures: string[];
}

const HANG_MS = 5_000;

function stable(v: unknown): string {
  return JSON.stringify(v, (_, x) => (typeof x === "bigint" ? `${x}n` : x instanceof Uint8Array ? `bytes:${Buffer.from(x).toString("hex")}` : x));
}

/** Every path under `dir`, sorted. */
export function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const r = rel === "" ? name : `${rel}/${name}`;
      out.push(r);
      if (statSync(p).isDirectory()) walk(p, r);
    }
  };
  walk(dir, "");
  return out;
}

function memberLabel<H>(subject: Subject<H>, m: Member<H>): string {
  const name = typeof m.name === "symbol" ? `[${m.name.description}]` : m.name;
  switch (m.kind ?? "method") {
    case "constructor":
      return `new ${subject.name}`;
    case "static":
      return `${subject.name}.${name}`;
    case "getter":
      return `${subject.name}#${name} (get)`;
    case "setter":
      return `${subject.name}#${name} (set)`;
    default:
      return `${subject.name}#${name}`;
  }
}

function invoke<H>(subject: Subject<H>, m: Member<H>, h: H, args: unknown[]): unknown {
  if (m.call) return m.call(h, args);
  const kind = m.kind ?? "method";
  const target = h as Record<string | symbol, unknown>;
  if (kind === "constructor") return new (subject.cls as unknown as new (...a: unknown[]) => unknown)(...args);
  if (kind === "static") return (subject.cls as unknown as Record<string | symbol, (...a: unknown[]) => unknown>)[m.name]!(...args);
  if (kind === "getter") return target[m.name];
  if (kind === "setter") {
    target[m.name] = args[0];
    return undefined;
  }
  return (target[m.name] as (...a: unknown[]) => unknown)(...args);
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === "object" || typeof v === "function") && v !== null && typeof (v as { then?: unknown }).then === "function";
}

/** Close whatever a call that should have failed returned (an opened handle). */
async function discard(v: unknown): Promise<void> {
  try {
    if (typeof v === "object" && v !== null) {
      const c = v as { close?: () => unknown; [Symbol.asyncDispose]?: () => unknown };
      if (typeof c.close === "function") await c.close();
      else if (typeof c[Symbol.asyncDispose] === "function") await c[Symbol.asyncDispose]!();
    }
  } catch {
    // it was not supposed to exist
  }
}

type Outcome = { threw: unknown; sync: boolean } | { returned: unknown; sync: boolean } | { hung: true };

async function outcomeOf(run: () => unknown): Promise<Outcome> {
  let r: unknown;
  try {
    r = run();
  } catch (e) {
    return { threw: e, sync: true };
  }
  if (!isThenable(r)) return { returned: r, sync: true };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<Outcome>((resolve) => (timer = setTimeout(() => resolve({ hung: true }), HANG_MS)));
  const settled = Promise.resolve(r).then(
    (v): Outcome => ({ returned: v, sync: false }),
    (e): Outcome => ({ threw: e, sync: false }),
  );
  try {
    return await Promise.race([settled, hang]);
  } finally {
    clearTimeout(timer);
  }
}

function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.constructor.name}${e instanceof OffheapError ? ` ${e.code}` : ""}: ${e.message}`;
  return `a thrown ${show(e)}`;
}

/**
 * Check one call: it must fail as an OffheapError with a known code (or `code`) whose
 * message contains `mention`, synchronously unless `async`. Returns the failure, if any.
 */
export async function check(run: () => unknown, o: { async?: boolean; mention: string; code?: string }): Promise<string | undefined> {
  const out = await outcomeOf(run);
  if ("hung" in out) return `did not settle within ${HANG_MS} ms`;
  if ("returned" in out) {
    await discard(out.returned);
    return `was accepted (returned ${show(out.returned)})`;
  }
  const e = out.threw;
  if (o.async && out.sync) return `threw synchronously instead of rejecting: ${describeError(e)}`;
  if (!o.async && !out.sync) return `rejected a promise instead of throwing: ${describeError(e)}`;
  if (!(e instanceof OffheapError)) return `threw ${describeError(e)}`;
  if (!(e.code in ERROR_CODES)) return `threw an unknown code ${e.code}`;
  if (o.code !== undefined && e.code !== o.code) return `threw ${e.code} instead of ${o.code}: ${e.message}`;
  if (!e.message.includes(o.mention)) return `threw ${e.code} with a message not naming ${JSON.stringify(o.mention)}: ${e.message}`;
  return undefined;
}

/** The trials of one member: [label, args, mention]. */
function trialsOf<H>(m: Member<H>, valid: unknown[]): Array<{ label: string; args: unknown[]; mention: string }> {
  const out: Array<{ label: string; args: unknown[]; mention: string }> = [];
  (m.params ?? []).forEach((p, i) => {
    const at = (v: unknown) => {
      const args = [...valid];
      while (args.length <= i) args.push(undefined);
      args[i] = v;
      return args;
    };
    for (const t of p.bad) {
      const b = t instanceof Bad ? t : undefined;
      out.push({ label: `${p.name} = ${show(t)}`, args: at(b ? b.value : t), mention: b?.mention ?? p.mention ?? p.name });
    }
    for (const [field, values] of Object.entries(p.fields ?? {})) {
      const base = valid[i];
      if (base !== undefined && (typeof base !== "object" || base === null)) throw new Error(`${p.name}: options fields need an object as the valid value`);
      for (const t of values) {
        const b = t instanceof Bad ? t : undefined;
        out.push({
          label: `${p.name}.${field} = ${show(t)}`,
          args: at({ ...(base as object | undefined), [field]: b ? b.value : t }),
          mention: b?.mention ?? field,
        });
      }
    }
  });
  return out;
}

/** Run every bad-argument trial of `subject` on one handle, then the closed-handle checks on another. */
export async function sweep<H>(subject: Subject<H>, ctx: Ctx): Promise<SweepResult> {
  const failures: string[] = [];
  let trials = 0;
  const closeOf = (h: H) => (subject.close ? subject.close(h) : (h as { close(): unknown }).close());

  // --- bad arguments ------------------------------------------------------------------
  const h = await subject.make(ctx);
  try {
    let before = subject.state ? stable(await subject.state(h)) : "";
    for (const m of subject.members) {
      if (m.params === undefined || m.params.length === 0) continue;
      const label = memberLabel(subject, m);
      for (const t of trialsOf(m, m.args?.(h, ctx) ?? [])) {
        trials++;
        const files = m.creates ? listing(ctx.dir.path) : undefined;
        const failure = await check(() => invoke(subject, m, h, t.args), { async: m.async, mention: t.mention });
        if (failure !== undefined) failures.push(`${label}(${t.label}) ${failure}`);
        if (files !== undefined) {
          const now = listing(ctx.dir.path);
          const made = now.filter((f) => !files.includes(f));
          if (made.length > 0) {
            failures.push(`${label}(${t.label}) left ${made.join(", ")} behind`);
            for (const f of made.reverse()) rmSync(join(ctx.dir.path, f), { recursive: true, force: true });
          }
        }
        if (subject.state) {
          const after = stable(await subject.state(h));
          if (after !== before) {
            failures.push(`${label}(${t.label}) changed the handle's state: ${before} -> ${after}`);
            before = after;
          }
        }
      }
    }
    if (subject.probe) {
      try {
        await subject.probe(h, ctx);
      } catch (e) {
        failures.push(`${subject.name}: the handle does not work after the refused calls: ${describeError(e)}`);
      }
    }
  } finally {
    await closeOf(h);
  }

  // --- a closed handle ---------------------------------------------------------------
  const c = await subject.make(ctx);
  const calls = subject.members
    .filter((m) => m.kind !== "static" && m.kind !== "constructor")
    .map((m) => ({ m, args: m.args?.(c, ctx) ?? [] }));
  await closeOf(c);
  for (const { m, args } of calls) {
    trials++;
    const label = `${memberLabel(subject, m)} on a closed handle`;
    if (m.afterClose === "works") {
      const out = await outcomeOf(() => invoke(subject, m, c, args));
      if ("hung" in out) failures.push(`${label} did not settle`);
      else if ("threw" in out) failures.push(`${label} should work, but threw ${describeError(out.threw)}`);
      continue;
    }
    const failure = await check(() => invoke(subject, m, c, args), { async: m.async, mention: "closed", code: "ERR_CLOSED" });
    if (failure !== undefined) failures.push(`${label} ${failure}`);
  }
  return { trials, failures };
}

/** The names on `surface` that are public members: functions and accessors (not `constructor`). */
export function surfaceNames(surface: object): Array<string | symbol> {
  return Reflect.ownKeys(surface).filter((k) => {
    if (k === "constructor") return false;
    const d = Object.getOwnPropertyDescriptor(surface, k)!;
    return d.get !== undefined || d.set !== undefined || typeof d.value === "function";
  });
}

/**
 * The static members of a class (functions and accessors, not `length`/`name`/`prototype`),
 * its own and those it inherits from a base class.
 */
export function staticNames(cls: object): Array<string | symbol> {
  const names = new Set<string | symbol>();
  for (let c: object | null = cls; c !== null && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    for (const k of surfaceNames(c)) if (k !== "length" && k !== "name" && k !== "prototype") names.add(k);
  }
  return [...names];
}

/**
 * Differences between a subject's members and the real surface: names the table lacks
 * (a new public method nobody sweeps) and names the table has that no longer exist.
 */
export async function coverage<H>(subject: Subject<H>, ctx: Ctx): Promise<string[]> {
  const problems: string[] = [];
  const internal = new Set(Object.keys(subject.internal ?? {}));
  const key = (k: string | symbol) => (typeof k === "symbol" ? `[${k.description}]` : k);
  const compare = (real: Array<string | symbol>, listed: Array<string | symbol>, where: string) => {
    const realKeys = new Set(real.map(key));
    const listedKeys = new Set(listed.map(key));
    for (const k of realKeys) if (!listedKeys.has(k) && !internal.has(k)) problems.push(`${subject.name}: ${where} ${k} is not in the sweep's table`);
    for (const k of listedKeys) if (!realKeys.has(k)) problems.push(`${subject.name}: the table lists ${where} ${k}, which does not exist`);
  };
  const instance = subject.members.filter((m) => m.kind !== "static" && m.kind !== "constructor").map((m) => m.name);
  if (subject.surface !== undefined || subject.cls !== undefined) {
    let surface: object;
    if (subject.surface !== undefined) {
      const h = await subject.make(ctx);
      try {
        surface = subject.surface(h);
      } finally {
        await (subject.close ? subject.close(h) : (h as { close?: () => unknown }).close?.());
      }
    } else surface = subject.cls!.prototype as object;
    compare(surfaceNames(surface), [...new Set(instance)], "member");
  }
  if (subject.cls !== undefined) {
    const statics = subject.members.filter((m) => m.kind === "static").map((m) => m.name);
    compare(staticNames(subject.cls), statics, "static");
  }
  return problems;
}
