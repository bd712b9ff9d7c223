/**
 * UNIMPLEMENTED means two different things. A gRPC server that does not serve the method at all
 * (a wrong URL: another gRPC service, or a web server) answers UNIMPLEMENTED with its framework's
 * "no such method" wording, or an HTTP 404 that clients map to UNIMPLEMENTED. A databroker that
 * serves the method but not what was asked of it (a Query filter operator its storage cannot
 * evaluate) answers UNIMPLEMENTED with its own reason ("operator not supported: ..."). Only the
 * wording tells them apart.
 */
import { Code, ConnectError } from "@connectrpc/connect";

const UNKNOWN_METHOD_WORDINGS: readonly RegExp[] = [
  // grpc-go (Pomerium's server), and our in-memory databroker, which answers the same way.
  /^unknown service \S/,
  /^unknown method \S+ for service \S/,
  // grpc-js servers.
  /^The server does not implement the method \//,
  // An HTTP/2 server that is not a gRPC server, as connect-node and grpc-js report its 404.
  /^HTTP 404$/,
  /^Received HTTP status code 404$/,
];

/** True when `error` is an UNIMPLEMENTED answer saying the server has no such method or service. */
export function isUnknownMethodAnswer(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.Unimplemented && UNKNOWN_METHOD_WORDINGS.some((w) => w.test(error.rawMessage));
}

/**
 * The server's reason without grpc-go's rendering of a wrapped status: Pomerium's memory and
 * file storage send "rpc error: code = Unimplemented desc = operator not supported: ..." as the
 * message, and only the part after "desc = " is the reason.
 */
export function serverReason(error: ConnectError): string {
  return error.rawMessage.replace(/^(?:rpc error: code = \w+ desc = )+/, "");
}
