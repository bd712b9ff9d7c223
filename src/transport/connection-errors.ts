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
 * True when the peer reset the HTTP/2 stream (RST_STREAM) instead of answering with a gRPC
 * status. connect-node (2.1.x) maps the reset code to a gRPC code, CANCEL to Canceled, and
 * leaves only this message to tell the two apart. A databroker that stops resets its streams
 * with CANCEL; a server-side Clear answers with a real CANCELLED status ("context canceled").
 */
export function isStreamReset(reason: unknown): boolean {
  return reason instanceof ConnectError && reason.rawMessage.startsWith("http/2 stream closed with error code ");
}

/** True when the error came from the connection (socket, TLS, HTTP/2 session or stream reset), not the server's answer. */
export function isConnectionFailure(reason: unknown): boolean {
  if (nodeErrorCodes(reason).some((c) => CONNECTION_ERROR_CODES.has(c) || c.startsWith("ERR_TLS_") || c.startsWith("ERR_SSL_"))) {
    return true;
  }
  return reason instanceof ConnectError && (reason.code === Code.Unavailable || isStreamReset(reason));
}
