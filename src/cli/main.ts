#!/usr/bin/env node
/**
 * `databroker-cache`: the command line.
 *
 *   demo   start the in-memory databroker, seed it with demo users and sessions, print a summary
 *   serve  start the in-memory databroker for local development
 *
 * User errors (bad flags, unreadable or malformed secret) print one line and exit 2; nothing a
 * user can fix ends in a stack trace.
 */
import { parseArgs } from "node:util";
import { CliUsageError } from "./cli-error.js";
import { runDemo } from "./demo-command.js";
import { runServe } from "./serve-command.js";

const USAGE = `usage: databroker-cache <command> [flags]

commands:
  demo   [--users N] [--sessions N] [--port N] [--once]
         start the in-memory databroker with demo data and print its address and a summary
         (--once: exit after the summary instead of serving until Ctrl-C)
  serve  [--port N] [--host H] [--shared-secret-file F]
         run the in-memory databroker for local development until Ctrl-C
`;

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "demo": {
        const { values } = parseArgs({
          args: [...rest],
          options: { users: { type: "string" }, sessions: { type: "string" }, port: { type: "string" }, once: { type: "boolean" } },
          strict: true,
        });
        return await runDemo({
          users: integerFlag("users", values.users, 100),
          sessions: integerFlag("sessions", values.sessions, 1000),
          port: integerFlag("port", values.port, 0),
          once: values.once ?? false,
        });
      }
      case "serve": {
        const { values } = parseArgs({
          args: [...rest],
          options: { port: { type: "string" }, host: { type: "string" }, "shared-secret-file": { type: "string" } },
          strict: true,
        });
        return await runServe({
          port: integerFlag("port", values.port, 0),
          host: values.host ?? "127.0.0.1",
          sharedSecretFile: values["shared-secret-file"],
        });
      }
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new CliUsageError(`unknown command ${JSON.stringify(command)}; run 'databroker-cache help'`);
    }
  } catch (error) {
    if (error instanceof CliUsageError) {
      process.stderr.write(`databroker-cache: ${error.message}\n`);
      return 2;
    }
    // parseArgs reports bad flags with a code; they are user errors too.
    const code = (error as { code?: string }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`databroker-cache: ${(error as Error).message}\n`);
      return 2;
    }
    process.stderr.write(`databroker-cache: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

/** A non-negative integer flag, or a usage error naming the flag. */
function integerFlag(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new CliUsageError(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`databroker-cache: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
