#!/usr/bin/env bun
/**
 * The `offheap` command: inspect, verify and tail offheap files, and run the demo.
 * Works as `bun src/cli.ts …`, as the package's `offheap` bin, and as a single-file
 * binary from `bun run build`.
 */
import { parseArgs } from "node:util";
import packageJson from "../package.json" with { type: "json" };
import { inspect, tail, verify, TAIL_FORMATS, type TailFormat } from "./cli/commands.ts";
import { demo, demoRole } from "./cli/demo.ts";
import "./cli/register.ts";
import { CliError, EXIT, reportError } from "./cli/output.ts";

const USAGE = `usage: offheap <command> [options]

commands:
  inspect PATH [--json]            what an offheap file or queue directory holds
  verify PATH [--json]             check every record's checksum; exit 1 on corruption
  tail PATH [--follow] [--from N] [--format text|hex|json]
                                   print ring or queue records, one line each:
                                   text (default) escapes control characters, "\\"
                                   and bytes that aren't UTF-8 as \\n, \\t, \\\\, \\xNN;
                                   json is lossless ({"id","utf8"} or {"id","base64"})
  demo [--seconds N] [--dir D] [--consumers N]
                                   producers and consumers in several processes on every
                                   structure, with throughput and latency

options:
  --json                           errors too are JSON, on stdout: {"error":{code,message,exit}}
  --verbose                        show stack traces on errors
  -V, --version                    print the version
  -h, --help                       this text

exit codes: 0 ok, 1 corruption found (verify), 2 usage error or unreadable file`;

/** The flags each command takes (beyond --verbose, --json where listed, --help). */
const COMMAND_FLAGS: Record<string, readonly string[]> = {
  inspect: ["json"],
  verify: ["json"],
  tail: ["follow", "from", "format"],
  demo: ["seconds", "dir", "consumers"],
};

const OPTIONS = {
  json: { type: "boolean" },
  follow: { type: "boolean", short: "f" },
  from: { type: "string" },
  format: { type: "string" },
  seconds: { type: "string" },
  dir: { type: "string" },
  consumers: { type: "string" },
  verbose: { type: "boolean" },
  version: { type: "boolean", short: "V" },
  help: { type: "boolean", short: "h" },
} as const;

/** Run the CLI with `argv` (without the runtime and script) and return the exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "demo-role") {
    // Internal: the demo starting its own roles; arguments are positional.
    try {
      return await demoRole(argv.slice(1));
    } catch (e) {
      return reportError(e, { verbose: true, json: false });
    }
  }
  const report = { verbose: argv.includes("--verbose"), json: argv.includes("--json") };
  try {
    const { values, positionals } = parseCommandLine(argv);
    if (values.version) {
      console.log(packageJson.version);
      return EXIT.ok;
    }
    const [command, ...rest] = positionals;
    if (values.help || command === "help") {
      console.log(USAGE);
      return EXIT.ok;
    }
    if (command === undefined) throw new CliError("no command given; see offheap --help");
    const allowed = COMMAND_FLAGS[command];
    if (allowed === undefined) throw new CliError(`unknown command ${JSON.stringify(command)}; see offheap --help`);
    for (const [flag, value] of Object.entries(values)) {
      if (value !== undefined && flag !== "verbose" && flag !== "help" && !allowed.includes(flag)) {
        throw new CliError(`${command} takes no --${flag}; see offheap --help`);
      }
    }
    if (command === "demo") {
      if (rest.length > 0) throw new CliError(`demo takes no PATH, got ${JSON.stringify(rest[0])}`);
      return await demo({
        seconds: integer("--seconds", values.seconds) ?? 10,
        dir: values.dir,
        consumers: integer("--consumers", values.consumers) ?? 3,
      });
    }
    if (rest.length !== 1) {
      throw new CliError(rest.length === 0 ? `${command} needs a PATH; see offheap --help` : `${command} takes one PATH, got ${rest.length}: ${rest.map((p) => JSON.stringify(p)).join(" ")}`);
    }
    const path = rest[0]!;
    switch (command) {
      case "inspect":
        return inspect(path, values.json ?? false);
      case "verify":
        return verify(path, values.json ?? false);
      default: {
        const format = values.format ?? "text";
        if (!(TAIL_FORMATS as readonly string[]).includes(format)) throw new CliError(`--format must be ${TAIL_FORMATS.join(", ")}, not ${JSON.stringify(format)}`);
        return await tail(path, { follow: values.follow ?? false, from: integer("--from", values.from), format: format as TailFormat });
      }
    }
  } catch (e) {
    return reportError(e, report);
  }
}

/** `argv` parsed; an unknown flag or a missing value is a {@link CliError}. */
function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
  } catch (e) {
    // node:util's own errors (ERR_PARSE_ARGS_*) are usage errors, and say which flag.
    const message = e instanceof Error ? e.message : String(e);
    throw new CliError(`${message.replace(/\s*\n\s*/g, " ")}; see offheap --help`);
  }
}

function integer(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw new CliError(`${flag} must be a non-negative integer, not ${JSON.stringify(value)}`);
  return n;
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
