#!/usr/bin/env node
/**
 * `databroker-cache`: the command line. See command-usage.ts for what each command takes.
 *
 * User errors (bad flags, unreadable or malformed secret, unreachable URL, wrong secret) print
 * one line saying what to fix and exit 2; nothing a user can fix ends in a stack trace.
 * `help`, `--help` and `-h` print the overview on stdout and exit 0; `COMMAND --help` (or
 * `help COMMAND`) prints that command's page; no arguments at all print the overview on stderr
 * and exit 2, as a usage error.
 */
import { CliUsageError } from "./cli-error.js";
import { integerFlag, millisecondsFlag, portFlag, positionals, positiveIntegerFlag } from "./cli-flags.js";
import { parseCommandLine, type CommandLine, type FlagSpecs } from "./command-line.js";
import { COMMAND_NAMES, COMMAND_USAGE, USAGE, isCommandName, type CommandName } from "./command-usage.js";
import { runDemo } from "./demo-command.js";
import { runGet } from "./get-command.js";
import { runMirror } from "./mirror-command.js";
import { runQuery } from "./query-command.js";
import { REMOTE_FLAGS, remoteSettings } from "./remote-databroker.js";
import { runServe } from "./serve-command.js";
import { runWatch } from "./watch-command.js";

const DURATION = { "duration-ms": { type: "string" } } as const;

const DEMO_FLAGS = {
  users: { type: "string" },
  sessions: { type: "string" },
  port: { type: "string" },
  once: { type: "boolean" },
  "interval-ms": { type: "string" },
  "writes-per-second": { type: "string" },
  "lookups-per-second": { type: "string" },
  ...DURATION,
} as const;
const MIRROR_FLAGS = {
  ...REMOTE_FLAGS,
  type: { type: "string", multiple: true },
  snapshot: { type: "string" },
  "interval-ms": { type: "string" },
  "lookups-per-second": { type: "string" },
  "ready-timeout-ms": { type: "string" },
  ...DURATION,
} as const;
const QUERY_FLAGS = { ...REMOTE_FLAGS, filter: { type: "string" }, search: { type: "string" }, limit: { type: "string" }, offset: { type: "string" } } as const;
const WATCH_FLAGS = { ...REMOTE_FLAGS, "max-batches": { type: "string" }, ...DURATION } as const;
const SERVE_FLAGS = { port: { type: "string" }, host: { type: "string" }, "shared-secret-file": { type: "string" }, storage: { type: "string" }, ...DURATION } as const;

function durationFlag(value: string | undefined): number | undefined {
  return value === undefined ? undefined : millisecondsFlag("duration-ms", value, 1);
}

/** A command's flags and arguments, or undefined when its help was asked for (and printed). */
function readCommandLine<S extends FlagSpecs>(command: CommandName, args: readonly string[], flags: S): Extract<CommandLine<S>, { kind: "run" }> | undefined {
  const line = parseCommandLine(command, args, flags);
  if (line.kind === "help") {
    process.stdout.write(COMMAND_USAGE[command]);
    return undefined;
  }
  return line;
}

/** `help`, `help COMMAND`. */
function printHelp(topic: string | undefined): number {
  if (topic === undefined) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!isCommandName(topic)) throw new CliUsageError(`no command ${JSON.stringify(topic)}; the commands are ${COMMAND_NAMES.join(", ")}`);
  process.stdout.write(COMMAND_USAGE[topic]);
  return 0;
}

async function runCommand(command: CommandName, rest: readonly string[]): Promise<number> {
  switch (command) {
    case "demo": {
      const line = readCommandLine(command, rest, DEMO_FLAGS);
      if (line === undefined) return 0;
      positionals(line.positionals, 0, 0, "'databroker-cache demo [flags]'");
      const { values } = line;
      return runDemo({
        users: integerFlag("users", values.users, 1_000),
        sessions: integerFlag("sessions", values.sessions, 10_000),
        port: portFlag("port", values.port, 0),
        once: values.once ?? false,
        durationMs: durationFlag(values["duration-ms"]),
        intervalMs: millisecondsFlag("interval-ms", values["interval-ms"], 1_000),
        writesPerSecond: positiveIntegerFlag("writes-per-second", values["writes-per-second"], 200),
        lookupsPerSecond: positiveIntegerFlag("lookups-per-second", values["lookups-per-second"], 50_000),
      });
    }
    case "mirror": {
      const line = readCommandLine(command, rest, MIRROR_FLAGS);
      if (line === undefined) return 0;
      positionals(line.positionals, 0, 0, "'databroker-cache mirror --url URL --shared-secret-file F [flags]'");
      const { values } = line;
      const settings = {
        durationMs: durationFlag(values["duration-ms"]),
        intervalMs: millisecondsFlag("interval-ms", values["interval-ms"], 1_000),
        lookupsPerSecond: positiveIntegerFlag("lookups-per-second", values["lookups-per-second"], 50_000),
        readyTimeoutMs: millisecondsFlag("ready-timeout-ms", values["ready-timeout-ms"], 60_000),
      };
      return runMirror({ remote: remoteSettings(values), types: values.type ?? [], snapshotPath: values.snapshot, ...settings });
    }
    case "get": {
      const line = readCommandLine(command, rest, REMOTE_FLAGS);
      if (line === undefined) return 0;
      const [type, id] = positionals(line.positionals, 2, 2, "'get session|user|TYPE ID'") as [string, string];
      return runGet({ remote: remoteSettings(line.values), type, id });
    }
    case "query": {
      const line = readCommandLine(command, rest, QUERY_FLAGS);
      if (line === undefined) return 0;
      const [type] = positionals(line.positionals, 1, 1, "'query TYPE [--filter JSON] [--search TEXT] [--limit N]'") as [string];
      const { values } = line;
      const limit = integerFlag("limit", values.limit, 10);
      const offset = integerFlag("offset", values.offset, 0);
      return runQuery({ remote: remoteSettings(values), type, filter: values.filter, search: values.search, limit, offset });
    }
    case "watch": {
      const line = readCommandLine(command, rest, WATCH_FLAGS);
      if (line === undefined) return 0;
      const [type] = positionals(line.positionals, 0, 1, "'watch [TYPE]'");
      const { values } = line;
      const maxBatches = integerFlag("max-batches", values["max-batches"], 0);
      const durationMs = durationFlag(values["duration-ms"]);
      return runWatch({ remote: remoteSettings(values), type, maxBatches, durationMs });
    }
    case "serve": {
      const line = readCommandLine(command, rest, SERVE_FLAGS);
      if (line === undefined) return 0;
      positionals(line.positionals, 0, 0, "'databroker-cache serve [flags]'");
      const { values } = line;
      if (values.host === "") throw new CliUsageError("--host needs a value: an IP address or a name of this machine, e.g. 127.0.0.1");
      return runServe({
        port: portFlag("port", values.port, 0),
        host: values.host ?? "127.0.0.1",
        sharedSecretFile: values["shared-secret-file"],
        storage: values.storage ?? "memory",
        durationMs: durationFlag(values["duration-ms"]),
      });
    }
  }
}

async function dispatch(command: string | undefined, rest: readonly string[]): Promise<number> {
  switch (command) {
    case undefined:
      // No command at all is a usage error: the overview goes where errors go.
      process.stderr.write(USAGE);
      return 2;
    case "help":
    case "--help":
    case "-h":
      return printHelp(rest[0]);
    default:
      if (!isCommandName(command)) throw new CliUsageError(`unknown command ${JSON.stringify(command)}; run 'databroker-cache help'`);
      return runCommand(command, rest);
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    return await dispatch(command, rest);
  } catch (error) {
    if (error instanceof CliUsageError) {
      process.stderr.write(`databroker-cache: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`databroker-cache: ${error instanceof Error ? error.message : String(error)}\n`);
    if (process.env["DATABROKER_CACHE_DEBUG"] !== undefined && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything is closed by now; if a stray handle still holds the loop open, do not hang.
    setTimeout(() => process.exit(code), 2_000).unref();
  },
  (error: unknown) => {
    process.stderr.write(`databroker-cache: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
