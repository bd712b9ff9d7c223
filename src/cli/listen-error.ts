/** Turns "cannot listen" errors from starting the in-memory databroker into one line naming the flags to change. */
import { CliUsageError } from "./cli-error.js";

const LISTEN_ERRORS = new Set(["EADDRINUSE", "EACCES", "EADDRNOTAVAIL"]);
/** getaddrinfo's answers for a host that does not resolve (listen() looks a name up first). */
const UNRESOLVED_HOST_ERRORS = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL"]);

/** A CliUsageError for a listen failure, or the error itself when it is something else. */
export function explainListenError(error: unknown, host: string, port: number): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && UNRESOLVED_HOST_ERRORS.has(code)) {
    return new CliUsageError(`--host ${JSON.stringify(host)} does not resolve to an address (${code}): give an IP address or a name of this machine, e.g. 127.0.0.1, 0.0.0.0 or ::`);
  }
  if (code !== undefined && LISTEN_ERRORS.has(code)) {
    return new CliUsageError(`cannot listen on ${host}:${port} (${code}): choose another --port${host === "127.0.0.1" ? "" : " or --host"}`);
  }
  return error;
}
