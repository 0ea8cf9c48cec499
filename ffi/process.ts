/**
 * Who is running, and whether a thread recorded earlier (in this or another process) is
 * still running: what a lock kept in shared memory needs to tell a holder that is slow from
 * one that is dead.
 *
 * A thread is named by `(pid, tid, start)`: its process id, its thread id, and its start
 * time (clock ticks since boot, from `/proc`), which tells a reused id from the thread that
 * had it. A Worker is a thread of its own, so a terminated Worker reads as dead while its
 * process lives on. Where `/proc` is missing (macOS, a sandbox), only a process that is gone
 * reads as dead (`process.kill(pid, 0)` fails with ESRCH); anything else is "unknown".
 */
import { readFileSync, readlinkSync } from "node:fs";
import { libc } from "./libc.ts";

/** A running thread, as {@link currentThread} records it. */
export interface ThreadIdentity {
  /** Process id. */
  readonly pid: number;
  /** Thread id (equal to `pid` for a process's main thread); 0 where the platform has none. */
  readonly tid: number;
  /** Start time in clock ticks since boot; 0 where unknown. */
  readonly start: number;
  /** The pid namespace (inode of `/proc/self/ns/pid`); 0 where unknown. Ids mean nothing across namespaces. */
  readonly namespace: number;
}

/** What {@link threadLiveness} can tell about a recorded thread. */
export type Liveness = "alive" | "dead" | "unknown";

// gettid has no libc wrapper in older glibc: ask the kernel. Only integer arguments, so the
// futex-shaped `syscall` binding serves.
const SYS_gettid: Record<string, number> = { "linux-x64": 186, "linux-arm64": 178 };
const gettidNumber = SYS_gettid[`${process.platform}-${process.arch}`];

/** Fields after the `(comm)` field of /proc/.../stat: state is the first, starttime the 20th. */
function statFields(text: string): string[] | undefined {
  const close = text.lastIndexOf(")");
  return close < 0 ? undefined : text.slice(close + 2).split(" ");
}

function readStat(path: string): string[] | undefined | null {
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch (e) {
    const code = (e as { code?: string }).code;
    // Gone: the thread (or process) ended. Anything else: we can't tell.
    return code === "ENOENT" || code === "ESRCH" ? null : undefined;
  }
  return statFields(text);
}

function namespaceOf(): number {
  try {
    const link = readlinkSync("/proc/self/ns/pid");
    const m = /\[(\d+)\]/.exec(link);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

let current: ThreadIdentity | undefined;

/**
 * The calling thread. Module state is per thread (each Worker loads its own copy), so the
 * answer is computed once per thread.
 */
export function currentThread(): ThreadIdentity {
  if (current !== undefined) return current;
  const pid = process.pid;
  let tid = 0;
  let start = 0;
  if (gettidNumber !== undefined) {
    tid = libc.syscall(gettidNumber, null as never, 0, 0, null, null, 0);
    if (tid < 0) tid = 0;
  }
  if (tid > 0) {
    const f = readStat(`/proc/${pid}/task/${tid}/stat`);
    if (f) start = Number(f[19]) || 0;
  }
  current = { pid, tid, start, namespace: start > 0 ? namespaceOf() : 0 };
  return current;
}

/**
 * Whether the thread `who` recorded is still running. "dead" is certain (the thread or its
 * process is gone, a zombie, or its id now belongs to a thread started later); "unknown"
 * means this platform or namespace can't tell, and callers must treat it as alive.
 */
export function threadLiveness(who: ThreadIdentity): Liveness {
  const me = currentThread();
  if (who.pid <= 0) return "unknown";
  if (who.tid > 0 && who.start > 0 && me.start > 0 && who.namespace === me.namespace && who.namespace !== 0) {
    const f = readStat(`/proc/${who.pid}/task/${who.tid}/stat`);
    if (f === null) return "dead";
    if (f !== undefined) {
      const state = f[0];
      if (state === "Z" || state === "X") return "dead";
      return Number(f[19]) === who.start ? "alive" : "dead";
    }
  }
  if (who.namespace !== me.namespace) return "unknown";
  try {
    process.kill(who.pid, 0);
  } catch (e) {
    if ((e as { code?: string }).code === "ESRCH") return "dead";
  }
  return "unknown";
}
