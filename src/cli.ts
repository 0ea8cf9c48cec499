#!/usr/bin/env bun
/**
 * The `offheap` command: inspect, verify and tail offheap files, and run the demo.
 * Works as `bun src/cli.ts …`, as the package's `offheap` bin, and as a single-file
 * binary from `bun run build`.
 */
import { parseArgs } from "node:util";
import { inspect, tail, verify, type TailFormat } from "./cli/commands.ts";
import { demo, demoRole } from "./cli/demo.ts";
import "./cli/register.ts";
import { CliError, EXIT, reportError } from "./cli/output.ts";

const USAGE = `usage: offheap <command> [options]

commands:
  inspect PATH [--json]            what an offheap file or queue directory holds
  verify PATH [--json]             check every record's checksum; exit 1 on corruption
  tail PATH [--follow] [--from N] [--format hex|utf8|json]
                                   print ring or queue records
  demo [--seconds N] [--dir D] [--consumers N]
                                   producers and consumers in several processes on every
                                   structure, with throughput and latency

options:
  --verbose                        show stack traces on errors
  -h, --help                       this text

exit codes: 0 ok, 1 corruption found, 2 usage error or unreadable file`;

/** Run the CLI with `argv` (without the runtime and script) and return the exit code. */
export async function main(argv: string[]): Promise<number> {
  let verbose = argv.includes("--verbose");
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: "boolean", default: false },
        follow: { type: "boolean", short: "f", default: false },
        from: { type: "string" },
        format: { type: "string", default: "utf8" },
        seconds: { type: "string" },
        dir: { type: "string" },
        consumers: { type: "string" },
        verbose: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    verbose = values.verbose;
    const [command, ...rest] = positionals;
    if (values.help || command === undefined || command === "help") {
      console.log(USAGE);
      return command === undefined && !values.help ? EXIT.usage : EXIT.ok;
    }
    const path = () => {
      if (rest[0] === undefined) throw new CliError(`${command} needs a PATH; see offheap --help`);
      return rest[0];
    };
    switch (command) {
      case "inspect":
        return inspect(path(), values.json);
      case "verify":
        return verify(path(), values.json);
      case "tail": {
        const format = values.format as TailFormat;
        if (!["hex", "utf8", "json"].includes(format)) throw new CliError(`--format must be hex, utf8 or json, not ${format}`);
        return await tail(path(), { follow: values.follow, from: integer("--from", values.from), format });
      }
      case "demo":
        return await demo({
          seconds: integer("--seconds", values.seconds) ?? 10,
          dir: values.dir,
          consumers: integer("--consumers", values.consumers) ?? 3,
        });
      case "demo-role":
        return await demoRole(rest);
      default:
        throw new CliError(`unknown command ${JSON.stringify(command)}; see offheap --help`);
    }
  } catch (e) {
    return reportError(e, verbose);
  }
}

function integer(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new CliError(`${flag} must be a non-negative integer, not ${JSON.stringify(value)}`);
  return n;
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
