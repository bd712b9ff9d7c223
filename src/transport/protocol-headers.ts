/**
 * Request headers the gRPC protocol itself owns: the carrier writes them, callers' (and
 * interceptors') values for them are dropped. HTTP/2 pseudo-headers (`:path`, ...) are the
 * carrier's too.
 */
export const PROTOCOL_HEADERS: ReadonlySet<string> = new Set([
  "content-type",
  "te",
  "user-agent",
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "accept-encoding",
  "content-length",
  "connection",
  "host",
]);
