/** Turns "cannot listen" errors from starting the in-memory databroker into one line naming the flags to change. */
import { CliUsageError } from "./cli-error.js";

const LISTEN_ERRORS = new Set(["EADDRINUSE", "EACCES", "EADDRNOTAVAIL"]);

/** A CliUsageError for a listen failure, or the error itself when it is something else. */
export function explainListenError(error: unknown, host: string, port: number): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && LISTEN_ERRORS.has(code)) {
    return new CliUsageError(`cannot listen on ${host}:${port} (${code}): choose another --port${host === "127.0.0.1" ? "" : " or --host"}`);
  }
  return error;
}
