/**
 * A Connect `Transport` that speaks gRPC straight on node:http2 streams, over connect-node's
 * Http2SessionManager (which owns the connection: TLS, keepalive pings, reconnects, GOAWAY).
 * What it saves against connect-node's own gRPC transport and against grpc-js is their call
 * stacks: a call here is one `request()` on the session, one write of the framed message, and
 * the stream's own events read into the queue of Http2GrpcCall (http2-grpc-call.ts); no Node or
 * web stream pipeline, async generator, resolver, load balancer or filter stack per call.
 *
 * Requests carry `content-type: application/grpc+proto`, `te: trailers`, a `grpc-timeout` when
 * the call has a timeout, and the caller's headers (after the interceptors ran) except the ones
 * the protocol owns. No compression is offered (`grpc-accept-encoding` is not sent) and none is
 * used for requests.
 */
import type { ClientHttp2Stream, Http2Session, OutgoingHttpHeaders } from "node:http2";
import { toBinary, type DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor, type StreamRequest, type Transport, type UnaryRequest } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { DEFAULT_READ_AHEAD } from "./call-messages.js";
import { createCallTransport, grpcMethodPath } from "./call-transport.js";
import { callAbortReason, watchCallAbort } from "./call-signal.js";
import { Http2GrpcCall } from "./http2-grpc-call.js";
import { PROTOCOL_HEADERS } from "./protocol-headers.js";
import { responseDecoderFor } from "./sync-response-decoder.js";

export interface Http2GrpcTransportOptions {
  /** The origin every call goes to; the session manager must be connected to the same one. */
  readonly baseUrl: string;
  readonly sessionManager: Http2SessionManager;
  /** Run for every call, first to last, as in any Connect transport. */
  readonly interceptors?: readonly Interceptor[];
  /** Messages a stream decodes ahead of its reader before it pauses. Default {@link DEFAULT_READ_AHEAD}. */
  readonly streamReadAhead?: number;
  /**
   * The receive window of each connection, set when the connection carries its first call
   * (the streams' window is the session's `settings.initialWindowSize`). Default: HTTP/2's.
   */
  readonly connectionWindowBytes?: number;
}

const USER_AGENT = "pomerium-databroker-sdk-ts (node:http2)";
/** grpc-timeout carries at most 8 digits. */
const MAX_TIMEOUT_DIGITS_VALUE = 99_999_999;

/** The `grpc-timeout` value for a timeout in milliseconds (whole units, rounded up). */
export function grpcTimeoutHeader(timeoutMs: number): string {
  const ms = Math.ceil(timeoutMs);
  if (ms <= MAX_TIMEOUT_DIGITS_VALUE) return `${ms}m`;
  const s = Math.ceil(ms / 1000);
  if (s <= MAX_TIMEOUT_DIGITS_VALUE) return `${s}S`;
  return `${Math.min(Math.ceil(s / 3600), MAX_TIMEOUT_DIGITS_VALUE)}H`;
}

/** The request's HTTP/2 headers: the protocol's, then the caller's. */
function requestHeaders(header: Headers, timeoutMs: number | undefined): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { "content-type": "application/grpc+proto", te: "trailers", "user-agent": USER_AGENT };
  if (timeoutMs !== undefined) headers["grpc-timeout"] = grpcTimeoutHeader(timeoutMs);
  header.forEach((value, key) => {
    if (!PROTOCOL_HEADERS.has(key)) headers[key] = value;
  });
  return headers;
}

/** A message as gRPC frames it: flags (0: not compressed), the length (uint32, big-endian), the bytes. */
export function grpcMessageFrame(bytes: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(5 + bytes.byteLength);
  framed[0] = 0;
  framed.writeUInt32BE(bytes.byteLength, 1);
  framed.set(bytes, 5);
  return framed;
}

function write(stream: ClientHttp2Stream, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(chunk, (error) => (error ? reject(error) : resolve()));
  });
}

export function createHttp2GrpcTransport(options: Http2GrpcTransportOptions): Transport {
  const { sessionManager, connectionWindowBytes } = options;
  const readAhead = Math.max(1, options.streamReadAhead ?? DEFAULT_READ_AHEAD);
  const widened = new WeakSet<Http2Session>();
  // The session manager's keepalive wants to hear of response bytes, to ping only an idle
  // connection; each notice re-arms its ping timer (a clearTimeout and a new setTimeout). A
  // server may send each message in DATA frames of its own, so a snapshot can be a notice per
  // record, a burst of them per socket read. One notice per connection per millisecond says the
  // same: the manager's idea of its last byte is at most 1 ms old, against a ping interval of
  // minutes.
  let notifiedAtMs = -1;
  let notifiedSession: Http2Session | undefined;
  const bytesRead = (stream: ClientHttp2Stream): void => {
    const now = Date.now();
    const session = stream.session;
    if (now === notifiedAtMs && session === notifiedSession) return;
    notifiedAtMs = now;
    notifiedSession = session;
    sessionManager.notifyResponseByteRead(stream);
  };

  async function startCall<I extends DescMessage, O extends DescMessage>(
    req: UnaryRequest<I, O> | StreamRequest<I, O>,
    timeoutMs: number | undefined,
    unaryBody: Uint8Array | undefined,
  ): Promise<Http2GrpcCall<O>> {
    const aborted = callAbortReason(req);
    if (aborted !== undefined) throw ConnectError.from(aborted.reason, Code.Canceled);
    const method = req.method;
    const headers = requestHeaders(req.header, timeoutMs);
    const stream = await sessionManager.request("POST", grpcMethodPath(method), headers, {});
    const session = stream.session;
    if (connectionWindowBytes !== undefined && session !== undefined && !widened.has(session)) {
      widened.add(session);
      session.setLocalWindowSize(connectionWindowBytes);
    }
    let stopWatching: () => void = () => undefined;
    const call = new Http2GrpcCall<O>(method.output, responseDecoderFor(method), readAhead, () => stopWatching(), bytesRead);
    call.attach(stream);
    stopWatching = watchCallAbort(req, (reason) => call.fail(ConnectError.from(reason, Code.Canceled)));
    // Aborted while the stream opened: the call is cancelled, and nothing is sent.
    if (call.hasEnded) return call;
    if (unaryBody !== undefined) {
      stream.end(grpcMessageFrame(unaryBody));
    } else if (req.stream) {
      // Send the request messages as the stream accepts them, then half-close. (SyncLatest and
      // Sync send exactly one.)
      void (async () => {
        for await (const message of req.message) await write(stream, grpcMessageFrame(toBinary(method.input, message)));
        stream.end();
      })().catch((e: unknown) => call.fail(ConnectError.from(e)));
    }
    return call;
  }

  return createCallTransport(options.baseUrl, options.interceptors, startCall);
}
