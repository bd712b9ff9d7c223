/**
 * Tells a broken connection (refused, reset, TLS failure, unreachable host) apart from an
 * error the databroker answered with. Only the former is a reason to try the next URL.
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** Node error codes that mean the connection itself failed, not the call. */
const CONNECTION_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EPIPE",
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_STREAM_CANCEL",
  "ERR_HTTP2_INVALID_SESSION",
  "ERR_HTTP2_PING_CANCEL",
  "ERR_HTTP2_ERROR",
  "ERR_HTTP2_STREAM_ERROR",
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
]);

/** The Node error codes found along an error's `cause` chain. */
export function nodeErrorCodes(reason: unknown): string[] {
  const codes: string[] = [];
  const seen = new Set<unknown>();
  let current: unknown = reason;
  while (current instanceof Error && !seen.has(current)) {
    seen.add(current);
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

/**
 * How connect-node (2.1.x) words the error for a stream the peer reset: it maps the reset code
 * to a gRPC code (CANCEL to Canceled) and keeps nothing structured about the reset, so this
 * message is all that tells a reset from the server's own status. connect-node-reset-probe.ts
 * checks the wording at start; should connect-node ever expose the reset code, this can go.
 */
const CONNECT_NODE_RESET_WORDING = "http/2 stream closed with error code ";

/** Whether connect-node's reset wording is still trusted (see connect-node-reset-probe.ts). */
let connectNodeResetWordingTrusted = true;

/** Resets the grpc-js transport reported (grpc-js-metadata.ts): recognised by identity, not by wording. */
const reportedResets = new WeakSet<ConnectError>();

/** True when the error's message is connect-node's wording for a reset stream. */
export function hasConnectNodeResetWording(error: ConnectError): boolean {
  return error.rawMessage.startsWith(CONNECT_NODE_RESET_WORDING);
}

/** HTTP/2's error code names (RFC 9113, section 7). */
const RST_CODE_NAMES: Record<number, string> = {
  0x0: "NO_ERROR",
  0x1: "PROTOCOL_ERROR",
  0x2: "INTERNAL_ERROR",
  0x3: "FLOW_CONTROL_ERROR",
  0x4: "SETTINGS_TIMEOUT",
  0x5: "STREAM_CLOSED",
  0x6: "FRAME_SIZE_ERROR",
  0x7: "REFUSED_STREAM",
  0x8: "CANCEL",
  0x9: "COMPRESSION_ERROR",
  0xa: "CONNECT_ERROR",
  0xb: "ENHANCE_YOUR_CALM",
  0xc: "INADEQUATE_SECURITY",
  0xd: "HTTP_1_1_REQUIRED",
};

/**
 * The error message for a reset stream, in connect-node's wording (every transport reports the
 * same message), e.g. "http/2 stream closed with error code CANCEL (0x8)".
 */
export function streamResetMessage(rstCode: number): string {
  return `${CONNECT_NODE_RESET_WORDING}${RST_CODE_NAMES[rstCode] ?? "UNKNOWN"} (0x${rstCode.toString(16)})`;
}

/** Marks an error the grpc-js transport built for a reset stream, so isStreamReset() knows it whatever its wording. */
export function markStreamReset(error: ConnectError): ConnectError {
  reportedResets.add(error);
  return error;
}

/**
 * From now on connect-node's reset wording is not trusted (the probe found it changed): its
 * resets then read as the server's own status. Process-wide, as the loaded connect-node is.
 */
export function distrustConnectNodeResetWording(): void {
  connectNodeResetWordingTrusted = false;
}

/**
 * True when the peer reset the HTTP/2 stream (RST_STREAM) instead of answering with a gRPC
 * status. A databroker that stops resets its streams with CANCEL; a server-side Clear answers
 * with a real CANCELLED status ("context canceled"), which must read as the server's answer.
 */
export function isStreamReset(reason: unknown): boolean {
  if (!(reason instanceof ConnectError)) return false;
  return reportedResets.has(reason) || (connectNodeResetWordingTrusted && hasConnectNodeResetWording(reason));
}

/** True when the error came from the connection (socket, TLS, HTTP/2 session or stream reset), not the server's answer. */
export function isConnectionFailure(reason: unknown): boolean {
  if (nodeErrorCodes(reason).some((c) => CONNECTION_ERROR_CODES.has(c) || c.startsWith("ERR_TLS_") || c.startsWith("ERR_SSL_"))) {
    return true;
  }
  return reason instanceof ConnectError && (reason.code === Code.Unavailable || isStreamReset(reason));
}
