/**
 * A Connect `Transport` that speaks gRPC on this SDK's own HTTP/2 connection
 * (frame-connection.ts, managed by frame-connection-manager.ts): a call is one HEADERS frame and
 * its DATA written on the socket, and the answer's frames read into the call's queue
 * (frame-grpc-call.ts). What it saves against Node's HTTP/2 client: the per-stream Duplex
 * objects, header objects converted both ways, and a JavaScript callback per frame from nghttp2.
 *
 * Requests carry `content-type: application/grpc+proto`, `te: trailers`, a `grpc-timeout` when
 * the call has a timeout, and the caller's headers (after the interceptors ran) except the ones
 * the protocol owns. No compression is offered (`grpc-accept-encoding` is not sent) and none is
 * used for requests.
 */
import { toBinary, type DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor, type StreamRequest, type Transport, type UnaryRequest } from "@connectrpc/connect";
import { DEFAULT_READ_AHEAD } from "../call-messages.js";
import { createCallTransport, grpcMethodPath } from "../call-transport.js";
import { callAbortReason, watchCallAbort } from "../call-signal.js";
import { grpcMessageFrame, grpcTimeoutHeader } from "../http2-grpc-transport.js";
import { PROTOCOL_HEADERS } from "../protocol-headers.js";
import { responseDecoderFor } from "../sync-response-decoder.js";
import type { HeaderField } from "./hpack-decoder.js";
import type { FrameConnection, FrameStream } from "./frame-connection.js";
import type { FrameConnectionManager } from "./frame-connection-manager.js";
import { FrameGrpcCall } from "./frame-grpc-call.js";

export interface FrameGrpcTransportOptions {
  /** The origin every call goes to; the manager connects to the same one. */
  readonly baseUrl: string;
  readonly manager: FrameConnectionManager;
  /** Run for every call, first to last, as in any Connect transport. */
  readonly interceptors?: readonly Interceptor[];
  /** Messages a stream decodes ahead of its reader before it holds the server back. Default {@link DEFAULT_READ_AHEAD}. */
  readonly streamReadAhead?: number;
}

const USER_AGENT = "pomerium-databroker-sdk-ts (http2-frames)";

export function createFrameGrpcTransport(options: FrameGrpcTransportOptions): Transport {
  const { manager } = options;
  const url = new URL(options.baseUrl);
  const scheme = url.protocol === "https:" ? "https" : "http";
  const authority = url.host;
  const readAhead = Math.max(1, options.streamReadAhead ?? DEFAULT_READ_AHEAD);

  /** The request's header fields: pseudo-headers, the protocol's, then the caller's. */
  const requestFields = (path: string, header: Headers, timeoutMs: number | undefined): HeaderField[] => {
    const fields: HeaderField[] = [
      [":method", "POST"],
      [":scheme", scheme],
      [":path", path],
      [":authority", authority],
      ["content-type", "application/grpc+proto"],
      ["te", "trailers"],
      ["user-agent", USER_AGENT],
    ];
    if (timeoutMs !== undefined) fields.push(["grpc-timeout", grpcTimeoutHeader(timeoutMs)]);
    header.forEach((value, key) => {
      if (!PROTOCOL_HEADERS.has(key)) fields.push([key, value]);
    });
    return fields;
  };

  /**
   * Opens the stream on a connection that takes it: one that started draining meanwhile is
   * replaced once; if that one drains too, the call fails as unavailable (safe to retry: nothing
   * was sent). A call aborted while the connection was awaited fails as cancelled, with nothing
   * sent. `body` is a unary call's whole request, sent with the HEADERS.
   */
  const open = async <I extends DescMessage, O extends DescMessage>(
    req: UnaryRequest<I, O> | StreamRequest<I, O>,
    fields: HeaderField[],
    call: FrameGrpcCall<O>,
    body: Buffer | undefined,
  ): Promise<FrameStream> => {
    let connection: FrameConnection = await manager.connection();
    if (!connection.acceptsStreams) connection = await manager.connection();
    if (!connection.acceptsStreams) throw new ConnectError(`the HTTP/2 connection to ${url.origin} closed before the call could start`, Code.Unavailable);
    const aborted = callAbortReason(req);
    if (aborted !== undefined) throw ConnectError.from(aborted.reason, Code.Canceled);
    return connection.openStream(fields, call.handler, body);
  };

  async function startCall<I extends DescMessage, O extends DescMessage>(
    req: UnaryRequest<I, O> | StreamRequest<I, O>,
    timeoutMs: number | undefined,
    unaryBody: Uint8Array | undefined,
  ): Promise<FrameGrpcCall<O>> {
    const aborted = callAbortReason(req);
    if (aborted !== undefined) throw ConnectError.from(aborted.reason, Code.Canceled);
    const method = req.method;
    const body = unaryBody === undefined ? undefined : grpcMessageFrame(unaryBody);
    let stopWatching: () => void = () => undefined;
    const call = new FrameGrpcCall<O>(method.output, responseDecoderFor(method), readAhead, () => stopWatching());
    const stream = await open(req, requestFields(grpcMethodPath(method), req.header, timeoutMs), call, body);
    call.attach(stream);
    // No await since the abort check in `open`: the call cannot have been aborted in between.
    stopWatching = watchCallAbort(req, (reason) => call.fail(ConnectError.from(reason, Code.Canceled)));
    // Ended as it opened (the connection could not start it).
    if (call.hasEnded) return call;
    if (req.stream) {
      // Send the request messages as they come, then half-close. (SyncLatest and Sync send exactly one.)
      void (async () => {
        for await (const message of req.message) stream.write(grpcMessageFrame(toBinary(method.input, message)), false);
        stream.write(Buffer.alloc(0), true);
      })().catch((e: unknown) => call.fail(ConnectError.from(e)));
    }
    return call;
  }

  return createCallTransport(options.baseUrl, options.interceptors, startCall);
}
