/**
 * Converts between Connect's Headers and grpc-js Metadata, and turns a grpc-js call status into
 * the ConnectError the connect-node transport would have produced for the same answer.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import type { Metadata, StatusObject } from "@grpc/grpc-js";
import { grpcJs } from "./grpc-js-module.js";
import { markStreamReset, streamResetMessage } from "./connection-errors.js";
import { PROTOCOL_HEADERS } from "./protocol-headers.js";

/** Request headers (after the interceptors ran) as grpc-js metadata. */
export function metadataFromHeaders(headers: Headers): Metadata {
  const metadata = new (grpcJs().Metadata)();
  try {
    headers.forEach((value, key) => {
      if (PROTOCOL_HEADERS.has(key) || key.startsWith(":")) return;
      if (key.endsWith("-bin")) {
        // Headers joins repeated values with ", "; binary values travel as base64.
        for (const part of value.split(",")) metadata.add(key, Buffer.from(part.trim(), "base64"));
      } else {
        metadata.add(key, value);
      }
    });
  } catch (e) {
    throw new ConnectError(`invalid request header: ${e instanceof Error ? e.message : String(e)}`, Code.InvalidArgument);
  }
  return metadata;
}

/** Copies grpc-js metadata into `target` (binary values as base64, as Connect carries them). */
export function copyMetadataToHeaders(metadata: Metadata, target: Headers): Headers {
  const all = metadata.toJSON();
  for (const key of Object.keys(all)) {
    for (const value of all[key]!) {
      target.append(key, typeof value === "string" ? value : Buffer.from(value).toString("base64"));
    }
  }
  return target;
}

/**
 * The RST_STREAM code when the peer reset the stream instead of answering with a status.
 * grpc-js records it on the status (`rstCode`) but its retry layer, which every call passes
 * through, rebuilds the status without it; what survives is the wording grpc-js gives those
 * statuses (subchannel-call.ts): "Call cancelled" with no trailers for CANCEL, and "Received
 * RST_STREAM with code N ..." for the other codes. Should a release word them differently, a
 * reset reads as the server's own status (a CANCEL as a Clear, healed by a resync: slower, but
 * nothing is lost). This wording is not probed at start as connect-node's is: grpc-js only runs
 * over real sockets, so a probe would have to listen on a port. The transport suite run against
 * the newest versions package.json allows (.ci/run) fails first instead.
 */
function resetCode(status: StatusObject): number | undefined {
  const rstCode = (status as StatusObject & { rstCode?: unknown }).rstCode;
  if (typeof rstCode === "number") return rstCode;
  if (status.code === grpcJs().status.CANCELLED && status.details === "Call cancelled" && Object.keys(status.metadata.toJSON()).length === 0) {
    return 0x8;
  }
  const match = /^Received RST_STREAM with code (\d+)/.exec(status.details);
  return match === null ? undefined : Number(match[1]);
}

/**
 * The ConnectError for a non-OK status. gRPC status codes and Connect codes are the same
 * numbers. A peer's RST_STREAM (no gRPC status at all) gets connect-node's wording, "http/2
 * stream closed with error code CANCEL (0x8)", and a mark by which isStreamReset()
 * (connection-errors.ts) recognises it as a connection failure whatever the wording: a
 * databroker that stops resets its streams that way.
 * grpc-js reports a refused or dropped connection as UNAVAILABLE, which already counts as one.
 */
export function connectErrorFromStatus(status: StatusObject): ConnectError {
  const metadata = copyMetadataToHeaders(status.metadata, new Headers());
  if (metadata.has("grpc-status-details-bin")) {
    // Rich error details (google.rpc.Status): let Connect decode them exactly as it would.
    const headers = new Headers(metadata);
    headers.set("grpc-status", String(status.code));
    headers.set("grpc-message", encodeURIComponent(status.details));
    const detailed = findTrailerError(headers);
    if (detailed) {
      const error = new ConnectError(detailed.rawMessage, detailed.code, metadata);
      error.details.push(...detailed.details);
      return error;
    }
  }
  const rstCode = resetCode(status);
  const code = status.code === grpcJs().status.OK ? Code.Unknown : (status.code as number as Code);
  if (rstCode !== undefined && rstCode !== 0 && code !== Code.Unavailable) {
    return markStreamReset(new ConnectError(streamResetMessage(rstCode), code, metadata));
  }
  return new ConnectError(withoutEmptyNote(status.details), code, metadata);
}

/** grpc-js ends connection errors with "Resolution note: " even when it has no note. */
export function withoutEmptyNote(details: string): string {
  return details.replace(/\.?\s*Resolution note:\s*$/, "");
}
