/**
 * One line saying why a connection to a databroker failed and what to change: the URL's scheme,
 * its host or port, or the trusted CA. Used by the command line's error messages and by the
 * cache's state (`lastError`), in place of Node's and OpenSSL's own texts ("Protocol error",
 * "...:ssl3_get_record:wrong version number:...").
 *
 * The hints are fixed phrases chosen from error codes: they never repeat a message, a header or
 * a URL, so they cannot carry the shared secret or a token.
 *
 * The two transports report one failure differently. connect-node keeps Node's error (with its
 * `code`) as the cause; grpc-js keeps only a message ("No connection established. Last error:
 * ..."), so for grpc-js the same failures are recognised by that client-side wording. A status
 * the server answered with is never given a hint, even when its message mentions a refused
 * connection (a databroker whose storage is down says so in its own words).
 */
import { ConnectError } from "@connectrpc/connect";
import { nodeErrorCodes } from "./connection-errors.js";

/** What went wrong with the connection, as far as the error shows it. */
export type ConnectionFailureKind =
  /** The peer answered the HTTP/2 preface with something else (an HTTP/1.x server, another protocol). */
  | "not-http2"
  /** An https:// URL reached a port that answers in plaintext. */
  | "not-tls"
  /** The peer closed the connection (or answered in TLS) before its HTTP/2 settings: what an http:// URL sees at a TLS port (grpc-js, http2-frames). */
  | "closed-before-http2"
  /**
   * The call ended with an HTTP/2 stream reset (CANCEL) and no gRPC status. A databroker that
   * stops resets its streams this way; connect-node reports an http:// URL at a TLS port the
   * same way (the peer closes the connection, Node cancels the stream), so both are named.
   */
  | "stream-reset"
  /**
   * The connection was reset before the server answered anything (grpc-js: "read ECONNRESET").
   * A databroker that stops can do this; so does a TLS port reached by an http:// URL when the
   * reset comes after grpc-js already counted the connection as open (a race with
   * "closed-before-http2").
   */
  | "connection-reset"
  /** Nothing listens on that host and port. */
  | "refused"
  /** The URL's host name does not resolve. */
  | "unresolved-host"
  /** The server's certificate does not chain to a trusted CA. */
  | "untrusted-certificate"
  /** The server's certificate does not name the host connected to (or the server name set). */
  | "certificate-name-mismatch";

interface Rule {
  readonly kind: ConnectionFailureKind;
  /** Node error codes found on the cause chain (connect-node). */
  readonly codes: readonly string[];
  /** grpc-js's client-side wording, matched against the ConnectError's message. */
  readonly grpcJs: RegExp | undefined;
}

/**
 * grpc-js's words for a connection it could not establish (after "cannot connect to URL: " when
 * they come from the transport's connect()); the text after them is the local error.
 */
const GRPC_JS_NO_CONNECTION = "^(?:cannot connect to \\S+: )?No connection established\\. Last error: (?:Error(?: \\[[A-Z_0-9]+\\])?: )?";

const UNTRUSTED_CERTIFICATE_CODES = [
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
];

/** In order: the first rule that matches names the failure. */
const RULES: readonly Rule[] = [
  { kind: "not-tls", codes: ["ERR_SSL_WRONG_VERSION_NUMBER", "ERR_SSL_PACKET_LENGTH_TOO_LONG", "ERR_SSL_HTTP_REQUEST"], grpcJs: grpcJs("[^\\n]*(?:wrong version number|packet length too long|http request)") },
  { kind: "certificate-name-mismatch", codes: ["ERR_TLS_CERT_ALTNAME_INVALID"], grpcJs: grpcJs("Hostname/IP does not match certificate's altnames") },
  {
    kind: "untrusted-certificate",
    codes: UNTRUSTED_CERTIFICATE_CODES,
    grpcJs: grpcJs("(?:unable to verify the first certificate|unable to get (?:local )?issuer certificate|self[- ]signed certificate)"),
  },
  { kind: "not-http2", codes: ["HTTP2_FRAMES_NOT_HTTP2"], grpcJs: grpcJs("Protocol error") },
  { kind: "closed-before-http2", codes: ["HTTP2_FRAMES_CLOSED_BEFORE_HTTP2"], grpcJs: grpcJs("Failed to connect") },
  { kind: "refused", codes: ["ECONNREFUSED"], grpcJs: grpcJs("connect ECONNREFUSED") },
  { kind: "unresolved-host", codes: ["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME"], grpcJs: /^(?:cannot connect to \S+: )?Name resolution failed for target / },
];

function grpcJs(localError: string): RegExp {
  return new RegExp(GRPC_JS_NO_CONNECTION + localError);
}

/** The kind of connection failure `error` shows, or undefined when it is not one this module can explain. */
export function connectionFailureKind(error: unknown): ConnectionFailureKind | undefined {
  const codes = nodeErrorCodes(error);
  const message = error instanceof ConnectError ? error.rawMessage : "";
  for (const rule of RULES) {
    if (rule.codes.some((c) => codes.includes(c))) return rule.kind;
    if (rule.grpcJs?.test(message) === true) return rule.kind;
  }
  // connect-node's own message for a session error from nghttp2's NGHTTP2_ERR_PROTO.
  if (codes.includes("ERR_HTTP2_ERROR") && message === "Protocol error") return "not-http2";
  if (message === "http/2 stream closed with error code CANCEL (0x8)") return "stream-reset";
  if (message === "read ECONNRESET") return "connection-reset";
  return undefined;
}

/**
 * One line (no trailing period) saying what is wrong and what to change, or undefined when
 * `error` is not a connection failure this module recognises (an answer from the server, say).
 * `url`, when given, only sharpens the hint by its scheme; it never appears in the text.
 */
export function connectionFailureHint(error: unknown, url?: string): string | undefined {
  const kind = connectionFailureKind(error);
  if (kind === undefined) return undefined;
  const scheme = url === undefined ? undefined : url.startsWith("https:") ? "https" : url.startsWith("http:") ? "http" : undefined;
  switch (kind) {
    case "not-http2":
      return "the server did not answer in HTTP/2 (an HTTP/1.x server or another protocol listens there): point the URL at the databroker's gRPC port";
    case "not-tls":
      return "the server does not speak TLS on that port: use http:// for a plaintext (h2c) databroker, or the port where it serves TLS";
    case "closed-before-http2":
      return "the server closed the connection before answering in HTTP/2: if that port expects TLS use https://, otherwise point the URL at the databroker's gRPC port";
    case "stream-reset":
      return scheme === "https"
        ? "the server reset the call without a gRPC status (HTTP/2 CANCEL): it is shutting down or restarting"
        : "the server reset the call without a gRPC status (HTTP/2 CANCEL): it is shutting down or restarting, or, if it never answers, that port expects TLS (use https://)";
    case "connection-reset":
      return scheme === "https"
        ? "the server reset the connection before answering: it is shutting down or restarting"
        : "the server reset the connection before answering: it is shutting down or restarting, or, if it never answers, that port expects TLS (use https://)";
    case "refused":
      return "nothing listens on that host and port (connection refused): check the URL's port and that the databroker is running";
    case "unresolved-host":
      return "the URL's host name does not resolve: check the host name";
    case "untrusted-certificate":
      return "the server's TLS certificate is not issued by a trusted CA: trust the CA that issued it";
    case "certificate-name-mismatch":
      return "the server's TLS certificate does not name the host connected to: use a host name the certificate lists, or set the expected server name";
  }
}
