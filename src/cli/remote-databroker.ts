/**
 * The flags every command that talks to a live databroker shares (--url, --shared-secret-file,
 * --ca-file, --server-name), and a first call that turns "cannot connect" and "wrong secret"
 * into one line saying what to fix, before a cache starts retrying quietly in the background.
 */
import { readFileSync } from "node:fs";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ServerInfoResponse } from "../../gen/databroker/databroker_pb.js";
import { isConnectionFailure, nodeErrorCodes } from "../transport/connection-errors.js";
import { connectionFailureHint, connectionFailureKind } from "../transport/connection-failure-hint.js";
import { createDataBrokerClient, type DataBrokerClient } from "../transport/databroker-clients.js";
import { createDatabrokerTransport, type DatabrokerTransport } from "../transport/databroker-transport.js";
import { SharedSecretError } from "../transport/shared-secret.js";
import type { DatabrokerTlsOptions } from "../transport/tls-options.js";
import { CliUsageError } from "./cli-error.js";
import { requiredFlag } from "./cli-flags.js";
import { readSharedSecretFile } from "./shared-secret-file.js";
import { isUnknownMethodAnswer, serverReason } from "./unknown-method-answer.js";

/** parseArgs options for the connection flags. */
export const REMOTE_FLAGS = {
  url: { type: "string", multiple: true },
  "shared-secret-file": { type: "string" },
  "ca-file": { type: "string" },
  "server-name": { type: "string" },
} as const;

export interface RemoteFlagValues {
  readonly url?: string[] | undefined;
  readonly "shared-secret-file"?: string | undefined;
  readonly "ca-file"?: string | undefined;
  readonly "server-name"?: string | undefined;
}

export interface RemoteSettings {
  readonly urls: readonly string[];
  readonly sharedSecret: string;
  readonly tls: DatabrokerTlsOptions | undefined;
}

/** How long the first call may take before the URL counts as unreachable. */
export const PROBE_TIMEOUT_MS = 5_000;

/** Reads the secret and CA files and checks the URLs; every problem is a CliUsageError. */
export function remoteSettings(values: RemoteFlagValues): RemoteSettings {
  const urls = requiredFlag("url", values.url, "the databroker's URL, e.g. --url http://localhost:5443 (repeat it for several)");
  const secretFile = requiredFlag("shared-secret-file", values["shared-secret-file"], "a file holding Pomerium's shared_secret (base64 of 32 bytes)");
  for (const url of urls) checkUrl(url);
  const sharedSecret = readSharedSecretFile(secretFile);
  let tls: DatabrokerTlsOptions | undefined;
  const caFile = values["ca-file"];
  const serverName = values["server-name"];
  if (caFile !== undefined || serverName !== undefined) {
    let ca: string | undefined;
    if (caFile !== undefined) {
      try {
        ca = readFileSync(caFile, "utf8");
      } catch (error) {
        throw new CliUsageError(`cannot read CA file ${caFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      }
      if (!ca.includes("-----BEGIN CERTIFICATE-----")) throw new CliUsageError(`CA file ${caFile} holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----")`);
    }
    tls = { ...(ca !== undefined ? { ca } : {}), ...(serverName !== undefined ? { serverName } : {}) };
  }
  return { urls, sharedSecret, tls };
}

function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliUsageError(`--url ${JSON.stringify(url)} is not a URL; expected e.g. http://localhost:5443`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new CliUsageError(`--url ${JSON.stringify(url)} must start with http:// (h2c) or https://`);
  }
}

/** A connection to the first URL that answers ServerInfo. */
export interface RemoteConnection {
  readonly url: string;
  readonly client: DataBrokerClient;
  readonly info: ServerInfoResponse;
  close(): void;
}

/**
 * Tries each URL in order with a ServerInfo call. The first that answers wins; when none does,
 * throws a CliUsageError for the last URL's failure (wrong secret, unreachable, TLS, ...).
 */
export async function connectRemote(settings: RemoteSettings, timeoutMs = PROBE_TIMEOUT_MS): Promise<RemoteConnection> {
  let failure: CliUsageError | undefined;
  for (const url of settings.urls) {
    let transport: DatabrokerTransport;
    try {
      transport = createDatabrokerTransport(url, { sharedSecret: settings.sharedSecret, tls: settings.tls });
    } catch (error) {
      throw explainRemoteError(error, url);
    }
    const client = createDataBrokerClient(transport.transport);
    try {
      const info = await client.serverInfo({}, { timeoutMs });
      return { url: transport.url, client, info, close: () => transport.close() };
    } catch (error) {
      transport.close();
      failure = explainRemoteError(error, url);
      // A wrong secret or a non-databroker is the same at every URL of one deployment.
      if (!isConnectionFailure(error) && !(error instanceof ConnectError && error.code === Code.DeadlineExceeded)) throw failure;
    }
  }
  throw failure ?? new CliUsageError("no databroker URL given");
}

/** One line saying what went wrong with a databroker call and what to check. Never includes the secret. */
export function explainRemoteError(error: unknown, url: string): CliUsageError {
  if (error instanceof CliUsageError) return error;
  if (error instanceof SharedSecretError) return new CliUsageError(`shared secret: ${error.message}`);
  const codes = nodeErrorCodes(error);
  const message = error instanceof ConnectError ? error.rawMessage : error instanceof Error ? error.message : String(error);
  switch (connectionFailureKind(error)) {
    case "untrusted-certificate":
      return new CliUsageError(`TLS to ${url} failed: the server's certificate is not issued by a trusted CA: give the CA that issued it with --ca-file`);
    case "certificate-name-mismatch":
      return new CliUsageError(`TLS to ${url} failed: the server's certificate does not name the host connected to: use a host name it lists in --url, or give one with --server-name`);
    case undefined:
      break;
    default:
      return new CliUsageError(`cannot reach a databroker at ${url}: ${connectionFailureHint(error, url)}`);
  }
  if (codes.some((c) => c.startsWith("ERR_TLS_") || c.startsWith("ERR_SSL_") || c.includes("CERT") || c.includes("VERIFY"))) {
    return new CliUsageError(`TLS to ${url} failed (${codes.find((c) => c !== "unavailable") ?? message}): check --ca-file and --server-name`);
  }
  if (error instanceof ConnectError) {
    switch (error.code) {
      case Code.Unauthenticated:
      case Code.PermissionDenied:
        return new CliUsageError(
          `the databroker at ${url} rejected our token (${message}): --shared-secret-file must hold the same shared_secret as Pomerium`,
        );
      case Code.Unimplemented:
        if (isUnknownMethodAnswer(error)) {
          return new CliUsageError(`${url} answered but does not serve the databroker API (${message}): point --url at the databroker's gRPC port`);
        }
        return new CliUsageError(`the databroker at ${url} does not support this request: ${serverReason(error)}`);
      case Code.DeadlineExceeded:
        return new CliUsageError(`no answer from ${url} within ${PROBE_TIMEOUT_MS / 1000} s: check --url and that the databroker is running`);
      case Code.Unavailable:
        return new CliUsageError(`cannot reach a databroker at ${url} (${codes[codes.length - 1] ?? message}): check --url and that the databroker is running`);
      default:
        break;
    }
  }
  return new CliUsageError(`databroker call to ${url} failed: ${message}`);
}
