#!/usr/bin/env node
/**
 * `databroker-cache`: the command line. See USAGE below.
 *
 * User errors (bad flags, unreadable or malformed secret, unreachable URL, wrong secret) print
 * one line saying what to fix and exit 2; nothing a user can fix ends in a stack trace.
 */
import { parseArgs } from "node:util";
import { CliUsageError } from "./cli-error.js";
import { integerFlag, positionals, positiveIntegerFlag } from "./cli-flags.js";
import { runDemo } from "./demo-command.js";
import { runGet } from "./get-command.js";
import { runMirror } from "./mirror-command.js";
import { runQuery } from "./query-command.js";
import { REMOTE_FLAGS, remoteSettings } from "./remote-databroker.js";
import { runServe } from "./serve-command.js";
import { runWatch } from "./watch-command.js";

const USAGE = `usage: databroker-cache <command> [flags]

commands:
  demo    [--users N] [--sessions N] [--port N] [--writes-per-second N] [--lookups-per-second N]
          [--interval-ms N] [--duration-ms N] [--once]
          start the in-memory databroker, seed it, simulate sign-ins, refreshes, sign-outs and
          expiries, and mirror it with the cache, showing a live status until Ctrl-C
          (--once: print the summary and one status line, then exit)
  mirror  --url URL [--url URL ...] --shared-secret-file F [--ca-file F] [--server-name N]
          [--type T ...] [--interval-ms N] [--duration-ms N]
          the same live status, mirroring a running databroker
  get     session|user|service-account|TYPE ID   (+ the connection flags)
          print one record as protobuf JSON
  query   TYPE [--filter JSON] [--search TEXT] [--limit N] [--offset N]   (+ the connection flags)
          print a Query response as protobuf JSON
  watch   [TYPE] [--max-batches N] [--duration-ms N]   (+ the connection flags)
          print change batches as NDJSON, the first being the snapshot (no TYPE: every type)
  serve   [--port N] [--host H] [--shared-secret-file F] [--storage memory]
          run the in-memory databroker for local development until Ctrl-C

connection flags: --url URL (repeatable, tried in order), --shared-secret-file F (Pomerium's
shared_secret, base64 of 32 bytes, no trailing newline), --ca-file F (extra CA, PEM, for https),
--server-name N (name checked on the server certificate)
`;

const DURATION = { "duration-ms": { type: "string" } } as const;

function durationFlag(value: string | undefined): number | undefined {
  return value === undefined ? undefined : positiveIntegerFlag("duration-ms", value, 1);
}

async function dispatch(command: string | undefined, rest: string[]): Promise<number> {
  switch (command) {
    case "demo": {
      const { values } = parseArgs({
        args: rest,
        options: {
          users: { type: "string" },
          sessions: { type: "string" },
          port: { type: "string" },
          once: { type: "boolean" },
          "interval-ms": { type: "string" },
          "writes-per-second": { type: "string" },
          "lookups-per-second": { type: "string" },
          ...DURATION,
        },
        strict: true,
      });
      return runDemo({
        users: integerFlag("users", values.users, 1_000),
        sessions: integerFlag("sessions", values.sessions, 10_000),
        port: integerFlag("port", values.port, 0),
        once: values.once ?? false,
        durationMs: durationFlag(values["duration-ms"]),
        intervalMs: positiveIntegerFlag("interval-ms", values["interval-ms"], 1_000),
        writesPerSecond: positiveIntegerFlag("writes-per-second", values["writes-per-second"], 200),
        lookupsPerSecond: positiveIntegerFlag("lookups-per-second", values["lookups-per-second"], 50_000),
      });
    }
    case "mirror": {
      const { values } = parseArgs({
        args: rest,
        options: {
          ...REMOTE_FLAGS,
          type: { type: "string", multiple: true },
          "interval-ms": { type: "string" },
          "lookups-per-second": { type: "string" },
          "ready-timeout-ms": { type: "string" },
          ...DURATION,
        },
        strict: true,
      });
      const remote = remoteSettings(values);
      return runMirror({
        remote,
        types: values.type ?? [],
        durationMs: durationFlag(values["duration-ms"]),
        intervalMs: positiveIntegerFlag("interval-ms", values["interval-ms"], 1_000),
        lookupsPerSecond: positiveIntegerFlag("lookups-per-second", values["lookups-per-second"], 50_000),
        readyTimeoutMs: positiveIntegerFlag("ready-timeout-ms", values["ready-timeout-ms"], 60_000),
      });
    }
    case "get": {
      const parsed = parseArgs({ args: rest, options: REMOTE_FLAGS, strict: true, allowPositionals: true });
      const [type, id] = positionals(parsed.positionals, 2, 2, "'get session|user|TYPE ID'") as [string, string];
      return runGet({ remote: remoteSettings(parsed.values), type, id });
    }
    case "query": {
      const parsed = parseArgs({
        args: rest,
        options: { ...REMOTE_FLAGS, filter: { type: "string" }, search: { type: "string" }, limit: { type: "string" }, offset: { type: "string" } },
        strict: true,
        allowPositionals: true,
      });
      const [type] = positionals(parsed.positionals, 1, 1, "'query TYPE [--filter JSON] [--search TEXT] [--limit N]'") as [string];
      const { values } = parsed;
      return runQuery({
        remote: remoteSettings(values),
        type,
        filter: values.filter,
        search: values.search,
        limit: integerFlag("limit", values.limit, 10),
        offset: integerFlag("offset", values.offset, 0),
      });
    }
    case "watch": {
      const parsed = parseArgs({
        args: rest,
        options: { ...REMOTE_FLAGS, "max-batches": { type: "string" }, ...DURATION },
        strict: true,
        allowPositionals: true,
      });
      const [type] = positionals(parsed.positionals, 0, 1, "'watch [TYPE]'");
      return runWatch({
        remote: remoteSettings(parsed.values),
        type,
        maxBatches: integerFlag("max-batches", parsed.values["max-batches"], 0),
        durationMs: durationFlag(parsed.values["duration-ms"]),
      });
    }
    case "serve": {
      const { values } = parseArgs({
        args: rest,
        options: { port: { type: "string" }, host: { type: "string" }, "shared-secret-file": { type: "string" }, storage: { type: "string" }, ...DURATION },
        strict: true,
      });
      return runServe({
        port: integerFlag("port", values.port, 0),
        host: values.host ?? "127.0.0.1",
        sharedSecretFile: values["shared-secret-file"],
        storage: values.storage ?? "memory",
        durationMs: durationFlag(values["duration-ms"]),
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
    // parseArgs reports bad flags with a code; they are user errors too.
    const code = (error as { code?: string }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`databroker-cache: ${(error as Error).message}; run 'databroker-cache help'\n`);
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
