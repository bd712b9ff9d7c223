/**
 * The command line's help texts: the overview (`databroker-cache help`) and one page per
 * command (`databroker-cache COMMAND --help`, or `databroker-cache help COMMAND`).
 */

export const COMMAND_NAMES = ["demo", "mirror", "get", "query", "watch", "serve"] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export function isCommandName(name: string): name is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(name);
}

const CONNECTION_FLAGS = `connection flags:
  --url URL                  the databroker's gRPC address: http://HOST:PORT (plaintext h2c)
                             or https://HOST:PORT (TLS); repeat it for several, tried in order
  --shared-secret-file F     a file holding Pomerium's shared_secret (base64 of 32 bytes,
                             no trailing newline)
  --ca-file F                an extra trusted CA (PEM) for https:// URLs
  --server-name N            the name checked on the server's certificate (default: the URL's host)`;

const HELP_FLAG = "  -h, --help                 show this help";

export const USAGE = `usage: databroker-cache <command> [flags]

commands:
  demo    [--users N] [--sessions N] [--port N] [--writes-per-second N] [--lookups-per-second N]
          [--interval-ms N] [--duration-ms N] [--once]
          start the in-memory databroker, seed it, simulate sign-ins, refreshes, sign-outs and
          expiries, and mirror it with the cache, showing a live status until Ctrl-C
          (--once: print the summary and one status line, then exit)
  mirror  --url URL [--url URL ...] --shared-secret-file F [--ca-file F] [--server-name N]
          [--type T ...] [--interval-ms N] [--snapshot PATH] [--duration-ms N]
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

'databroker-cache COMMAND --help' describes one command. Exit codes: 0 done, 1 a failure
(get: no such record), 2 a usage or connection problem you can fix (said in one line).
`;

export const COMMAND_USAGE: Readonly<Record<CommandName, string>> = {
  demo: `usage: databroker-cache demo [flags]

Starts the in-memory databroker, seeds it with demo users and sessions through the gRPC API,
simulates sign-ins, refreshes, sign-outs and expiries, and mirrors it all with the cache,
showing a live status until Ctrl-C.

flags:
  --users N                  demo users to seed (default 1000)
  --sessions N               demo sessions to seed (default 10000)
  --port N                   the databroker's port, 0 to 65535 (default 0: any free port)
  --writes-per-second N      simulated changes per second, at least 1 (default 200)
  --lookups-per-second N     getSession calls per second behind the status, at least 1 (default 50000)
  --interval-ms N            milliseconds between status lines, at least 1 (default 1000)
  --duration-ms N            stop after this many milliseconds (default: run until Ctrl-C)
  --once                     print the summary and one status line, then exit
${HELP_FLAG}
`,
  mirror: `usage: databroker-cache mirror --url URL [--url URL ...] --shared-secret-file F [flags]

Mirrors a running databroker with the cache and shows the demo's live status (record counts,
changes and lookups per second, lag, reconnects) until Ctrl-C.

flags:
  --type T                   a record type to mirror, repeatable: session, user, service-account
                             or a type URL (default: sessions, users and service accounts)
  --interval-ms N            milliseconds between status lines, at least 1 (default 1000)
  --lookups-per-second N     getSession calls per second behind the status, at least 1 (default 50000)
  --ready-timeout-ms N       how long the first snapshots may take, at least 1 (default 60000)
  --snapshot PATH            warm start: keep an encrypted snapshot of the cache in PATH (key
                             derived from the shared secret), start from it and resume Sync
  --duration-ms N            stop after this many milliseconds (default: run until Ctrl-C)
${HELP_FLAG}

${CONNECTION_FLAGS}
`,
  get: `usage: databroker-cache get session|user|service-account|TYPE ID --url URL --shared-secret-file F

Prints one record, read from the databroker, as protobuf JSON (its data expanded by type).
Exits 1 when there is no such record.

flags:
${HELP_FLAG}

${CONNECTION_FLAGS}
`,
  query: `usage: databroker-cache query TYPE [flags] --url URL --shared-secret-file F

Runs a Query on the databroker and prints the response as protobuf JSON. TYPE is session,
user, service-account or a type URL.

flags:
  --filter JSON              a filter in Pomerium's Query language, e.g. '{"user_id":"user-1"}';
                             id, $index and the type's indexable fields, with $and and $or
  --search TEXT              free text matched against the records' string fields
  --limit N                  at most this many records, 0 or more (default 10; 0: only the count)
  --offset N                 skip this many matches first (default 0)
${HELP_FLAG}

${CONNECTION_FLAGS}
`,
  watch: `usage: databroker-cache watch [TYPE] [flags] --url URL --shared-secret-file F

Mirrors TYPE (session, user, service-account or a type URL; none: every type) with the cache
and prints each change batch as one JSON line, the first being the snapshot.

flags:
  --max-batches N            stop after this many batches (default 0: no limit)
  --duration-ms N            stop after this many milliseconds (default: run until Ctrl-C)
${HELP_FLAG}

${CONNECTION_FLAGS}
`,
  serve: `usage: databroker-cache serve [flags]

Runs the in-memory databroker (Pomerium's memory storage semantics, gRPC over h2c) for local
development until Ctrl-C.

flags:
  --port N                   the port to listen on, 0 to 65535 (default 0: any free port)
  --host H                   the address to listen on: an IP address or a name of this machine
                             (default 127.0.0.1; 0.0.0.0 or :: for every interface)
  --shared-secret-file F     the shared secret to require (default: a new random one, written
                             to a temporary file that is removed on exit)
  --storage memory           the only storage there is
  --duration-ms N            stop after this many milliseconds (default: run until Ctrl-C)
${HELP_FLAG}
`,
};
