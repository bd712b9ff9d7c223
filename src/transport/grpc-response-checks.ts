/**
 * What a gRPC client makes of an answer, whatever carries the call: the response headers (an HTTP status other than 200, a content type other than gRPC's protobuf,
 * a compression that was not offered), the status in its trailers, and a stream reset instead of a status, mapped to gRPC
 * codes as gRPC maps them.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";

/** A gRPC answer's content type that carries protobuf (the only encoding we ask for). */
const PROTO_CONTENT_TYPE = /^application\/grpc(?:\+proto)?(?:;.*)?$/i;

/** Whether a response's content type is gRPC carrying protobuf. */
export function isGrpcProtoContentType(contentType: string): boolean {
  return PROTO_CONTENT_TYPE.test(contentType);
}

/**
 * The gRPC code for an answer whose HTTP status is not 200 (a proxy's or a server's error page),
 * as gRPC maps HTTP statuses: 400 Internal, 401 Unauthenticated, 403 PermissionDenied, 404
 * Unimplemented, 429/502/503/504 Unavailable, anything else Unknown.
 */
function codeFromHttpStatus(status: number): Code {
  switch (status) {
    case 400:
      return Code.Internal;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.Unavailable;
    default:
      return Code.Unknown;
  }
}

/** The gRPC code for a stream the peer reset, or undefined when the code alone is no error. */
export function codeForReset(rstCode: number): Code | undefined {
  switch (rstCode) {
    case 0x0: // NO_ERROR
    case 0x5: // STREAM_CLOSED: says nothing about the call
      return undefined;
    case 0x7: // REFUSED_STREAM: nothing was processed, safe to retry
      return Code.Unavailable;
    case 0x8: // CANCEL
      return Code.Canceled;
    case 0xb: // ENHANCE_YOUR_CALM
      return Code.ResourceExhausted;
    case 0xc: // INADEQUATE_SECURITY
    case 0xd: // HTTP_1_1_REQUIRED
      return Code.PermissionDenied;
    default:
      return Code.Internal;
  }
}

/**
 * The error an answer's headers carry (`httpStatus` is `:status`; `header` the other fields), or
 * undefined when the call may go on to its messages and status.
 */
export function responseHeadersError(httpStatus: number, header: Headers): ConnectError | undefined {
  if (httpStatus !== 200) return new ConnectError(`HTTP ${httpStatus}`, codeFromHttpStatus(httpStatus), header);
  const contentType = header.get("content-type");
  if (contentType === null || !isGrpcProtoContentType(contentType)) return new ConnectError(`unsupported content type ${String(contentType)}`, Code.Unknown);
  const encoding = header.get("grpc-encoding");
  if (encoding !== null && encoding.toLowerCase() !== "identity") return new ConnectError(`unsupported response encoding "${encoding}"`, Code.Internal, header);
  return undefined;
}

/**
 * The call's status from its trailers: `null` for OK, else the error they carry (a missing
 * `grpc-status` is a protocol error).
 */
export function statusFromTrailers(trailer: Headers): ConnectError | null {
  if (!trailer.has("grpc-status")) return new ConnectError("protocol error: missing status", Code.Internal);
  return findTrailerError(trailer) ?? null;
}

/**
 * The status of a trailers-only answer (its headers carry `grpc-status`, and nothing follows):
 * `null` for OK, else the error they carry; undefined when the headers carry no status, so
 * messages and trailers follow.
 */
export function trailersOnlyStatus(header: Headers): ConnectError | null | undefined {
  if (!header.has("grpc-status")) return undefined;
  return findTrailerError(header) ?? null;
}
