/**
 * The CLI's inspection commands: inspect, verify and tail.
 */
import { EXIT, CliError, Progress, table } from "./output.ts";
import { statSync } from "node:fs";
import { OffheapError, isOffheapError } from "../errors.ts";
import type { VerifyReport } from "../primitives/inspection.ts";
import { detect } from "./kinds.ts";
import { recordJson, recordText } from "./record-text.ts";

/** `offheap inspect PATH [--json]` */
export function inspect(path: string, json: boolean): number {
  const { tools } = detect(path);
  const d = tools.describe(path);
  if (json) {
    console.log(JSON.stringify({ path, ...d }, null, 2));
    return EXIT.ok;
  }
  console.log(`${path}: ${tools.name} (kind ${d.kind}, format version ${d.version})`);
  const rows = [
    ...Object.entries(d.options).map(([k, v]) => ["option", k, String(v)]),
    ...Object.entries(d.counts).map(([k, v]) => ["count", k, String(v)]),
  ];
  console.log(table(["", "name", "value"], rows));
  return EXIT.ok;
}

/** `offheap verify PATH [--json]`: exit 1 when anything is corrupt, a cut-short or emptied file included. */
export function verify(path: string, json: boolean): number {
  const progress = new Progress();
  let report: VerifyReport;
  try {
    if (isEmptyFile(path)) throw new OffheapError("ERR_CORRUPT", `${path} is empty: nothing of its header is left`, { path });
    const { tools } = detect(path);
    if (!tools.verify) throw new CliError(`verify does not apply to a ${tools.name}`);
    report = tools.verify(path, (done, total) => progress.update(`verifying ${path}: ${done}/${total}`));
  } catch (e) {
    // Damage that keeps the whole file from being read is corruption found, not a usage error.
    if (!isOffheapError(e, "ERR_CORRUPT")) throw e;
    report = { checked: 0, bad: [{ id: -1, reason: e.message }] };
  } finally {
    progress.done();
  }
  if (json) {
    console.log(JSON.stringify({ path, ...report }, null, 2));
  } else {
    for (const bad of report.bad) console.log(bad.id < 0 ? `unreadable: ${bad.reason}` : `bad record ${bad.id}: ${bad.reason}`);
    console.log(`${path}: ${report.checked} checked, ${report.bad.length} bad`);
  }
  return report.bad.length === 0 ? EXIT.ok : EXIT.corrupt;
}

function isEmptyFile(path: string): boolean {
  try {
    const s = statSync(path);
    return s.isFile() && s.size === 0;
  } catch {
    return false; // detect() says what is wrong with the path
  }
}

/** Output formats of `tail`. */
export const TAIL_FORMATS = ["text", "hex", "json"] as const;

/** An output format of `tail` (see {@link recordText} and {@link recordJson}). */
export type TailFormat = (typeof TAIL_FORMATS)[number];

/** `offheap tail PATH [--follow] [--from N] [--format text|hex|json]` */
export async function tail(path: string, options: { follow: boolean; from?: number; format: TailFormat }): Promise<number> {
  const { tools } = detect(path);
  if (!tools.tail) throw new CliError(`tail does not apply to a ${tools.name}`);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    for await (const { id, data } of tools.tail(path, { follow: options.follow, from: options.from, signal: controller.signal })) {
      if (options.format === "json") console.log(JSON.stringify({ id, ...recordJson(data) }));
      else if (options.format === "hex") console.log(`${id}\t${Buffer.from(data).toString("hex")}`);
      else console.log(`${id}\t${recordText(data)}`);
    }
  } catch (e) {
    if (!controller.signal.aborted) throw e;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
  return EXIT.ok;
}
