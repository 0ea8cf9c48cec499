/**
 * How the CLI talks to people: one-line errors with exit code 2 (stack only with
 * --verbose), and a progress line that only draws on a terminal.
 */
import { OffheapError } from "../errors.ts";

/** Exit codes of the CLI. */
export const EXIT = { ok: 0, corrupt: 1, usage: 2 } as const;

/** An error the CLI reports as one line and exit code 2. */
export class CliError extends Error {
  override readonly name = "CliError";
}

/** How {@link reportError} prints. */
export interface ReportStyle {
  /** The stack too. */
  verbose: boolean;
  /** One JSON object on stdout, `{"error":{"code","message","exit"}}`, for scripts. */
  json: boolean;
}

/**
 * Print `error` as one line on stderr (with its stack when `verbose`), or as JSON on
 * stdout; return exit code 2.
 */
export function reportError(error: unknown, style: ReportStyle): number {
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof OffheapError ? error.code : error instanceof CliError ? "ERR_USAGE" : "ERR_INTERNAL";
  if (style.json) {
    const path = error instanceof OffheapError ? error.path : undefined;
    console.log(JSON.stringify({ error: { code, message, ...(path === undefined ? {} : { path }), exit: EXIT.usage } }));
  }
  if (style.verbose && error instanceof Error && error.stack) console.error(error.stack);
  else if (!style.json) console.error(`offheap: ${message}${error instanceof OffheapError ? ` (${code})` : ""}`);
  return EXIT.usage;
}

/** A progress line redrawn in place on a TTY; silent when stderr is not a terminal. */
export class Progress {
  #last = 0;
  readonly enabled = Boolean(process.stderr.isTTY);

  /** Redraw, at most every 100 ms. */
  update(text: string): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.#last < 100) return;
    this.#last = now;
    process.stderr.write(`\r\x1b[2K${text}`);
  }

  /** Clear the line. */
  done(): void {
    if (this.enabled) process.stderr.write("\r\x1b[2K");
  }
}

/** Render rows as an aligned text table. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
