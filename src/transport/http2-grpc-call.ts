/**
 * One gRPC call read straight off a node:http2 client stream: the response headers, the
 * length-prefixed messages of its DATA frames, and the status in its trailers (or in the headers
 * of a trailers-only answer), as the gRPC-over-HTTP/2 protocol lays them out:
 * - every message is a 5-byte prefix (a flags byte, bit 0 set for a compressed message, then the
 *   length as a big-endian uint32) followed by that many bytes of protobuf;
 * - the status is `grpc-status` (and `grpc-message`, percent-encoded, and optionally
 *   `grpc-status-details-bin`) in the trailers; an answer without messages may put it in the
 *   headers and end the stream there;
 * - a stream reset (RST_STREAM) instead of a status is a failure of the stream, mapped to a code
 *   as gRPC maps HTTP/2 error codes (CANCEL to Canceled, REFUSED_STREAM to Unavailable, ...).
 *
 * Messages are decoded in the `data` handler and queued (CallMessages); once the queue is full
 * the Node stream is paused, so that its buffer fills, Node stops reading it and HTTP/2 flow
 * control holds the server back, and it is resumed when the reader takes a message.
 *
 * No compression is offered, so a compressed message is a protocol error.
 */
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders } from "node:http2";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { CallMessages } from "./call-messages.js";
import { markStreamReset, nodeErrorCodes, streamResetMessage } from "./connection-errors.js";
import { GrpcMessageAssembler } from "./grpc-message-assembler.js";
import { codeForReset, responseHeadersError, statusFromTrailers, trailersOnlyStatus } from "./grpc-response-checks.js";

/** Appends Node's response headers or trailers (pseudo-headers left out) to `target`. */
function copyNodeHeaders(from: IncomingHttpHeaders, target: Headers): Headers {
  for (const key in from) {
    if (key.charCodeAt(0) === 0x3a) continue; // ":status"
    const value = from[key];
    if (value === undefined) continue;
    if (typeof value === "string") target.append(key, value);
    else for (const v of value) target.append(key, v);
  }
  return target;
}

/**
 * The ConnectError for an error Node emitted on the stream: a ConnectError (e.g. the session
 * manager's "connection aborted") as it is; anything else wrapped, with the Node error as its
 * cause, so that isConnectionFailure() finds its code (ECONNRESET, ERR_HTTP2_SESSION_ERROR, ...).
 */
function connectErrorFromStreamError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  const codes = nodeErrorCodes(error);
  const code = codes.includes("ECONNREFUSED") || codes.includes("ETIMEDOUT") || codes.includes("ENOTFOUND") || codes.includes("EAI_AGAIN") ? Code.Unavailable : Code.Internal;
  return new ConnectError(error instanceof Error ? error.message : String(error), code, undefined, undefined, error);
}

/** Whether Node's error only repeats the stream's reset code (the reset itself says more). */
function isResetEcho(error: unknown): boolean {
  return nodeErrorCodes(error).includes("ERR_HTTP2_STREAM_ERROR");
}

export class Http2GrpcCall<O extends DescMessage> extends CallMessages<O> {
  #stream: ClientHttp2Stream | undefined;
  /** The status once known: `null` for OK, else the error it carries. */
  #status: ConnectError | null | undefined;
  /** The first error Node emitted on the stream. */
  #streamError: unknown;
  #paused = false;
  readonly #messages = new GrpcMessageAssembler();

  constructor(
    output: O,
    decode: (bytes: Uint8Array) => MessageShape<O>,
    readAhead: number,
    private readonly onEnded: (call: Http2GrpcCall<O>) => void,
    /** Told of each DATA chunk read (the session manager's keepalive counts it as a sign of life). */
    private readonly onBytesRead: (stream: ClientHttp2Stream) => void,
  ) {
    super(output, decode, readAhead);
  }

  /** Starts reading `stream`, the call's HTTP/2 stream (its request already sent or being sent). */
  attach(stream: ClientHttp2Stream): void {
    this.#stream = stream;
    stream.on("response", (headers) => this.#onResponse(headers));
    stream.on("data", (chunk: Buffer) => this.#onData(chunk));
    stream.on("trailers", (trailers) => this.#onTrailers(trailers));
    stream.on("error", (error: unknown) => {
      this.#streamError ??= error;
    });
    stream.on("close", () => this.#onClose());
  }

  fail(error: ConnectError): void {
    if (this.hasEnded) return;
    this.finish(error);
    const stream = this.#stream;
    // RST_STREAM CANCEL: how a client cancels a call (the gRPC HTTP/2 mapping).
    if (stream !== undefined && !stream.closed && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
  }

  protected requestMore(): void {
    if (this.#paused && this.wantsMore()) {
      this.#paused = false;
      this.#stream?.resume();
    }
  }

  protected onEnd(): void {
    this.#messages.clear();
    this.onEnded(this);
  }

  #onResponse(headers: IncomingHttpHeaders): void {
    if (this.hasEnded) return;
    copyNodeHeaders(headers, this.header);
    const headersError = responseHeadersError(Number(headers[":status"]), this.header);
    if (headersError !== undefined) {
      this.fail(headersError);
      return;
    }
    const status = trailersOnlyStatus(this.header);
    if (status !== undefined) {
      // Trailers-only: the headers are the trailers, and nothing else follows.
      copyNodeHeaders(headers, this.trailer);
      this.#status = status;
      if (status !== null) {
        this.finish(status);
        return;
      }
    }
    this.settleHeaders(undefined);
  }

  #onTrailers(trailers: IncomingHttpHeaders): void {
    if (this.hasEnded) return;
    this.#status = statusFromTrailers(copyNodeHeaders(trailers, this.trailer));
  }

  #onData(chunk: Buffer): void {
    if (this.hasEnded) return;
    const stream = this.#stream as ClientHttp2Stream;
    this.onBytesRead(stream);
    const messages = this.#messages;
    messages.push(chunk);
    for (let bytes = messages.next(); bytes !== undefined; bytes = messages.next()) {
      if (messages.compressed) {
        this.fail(new ConnectError(`protocol error: received a compressed ${this.output.typeName}, but no compression was offered`, Code.Internal));
        return;
      }
      if (!this.deliverEncoded(bytes)) return;
    }
    if (!this.wantsMore() && !this.hasEnded && !this.#paused) {
      this.#paused = true;
      stream.pause();
    }
  }

  #onClose(): void {
    if (this.hasEnded) return;
    const rstCode = (this.#stream as ClientHttp2Stream).rstCode ?? 0;
    const resetCode = codeForReset(rstCode);
    const error = this.#streamError;
    // A status read, a stream closed without a reset, and no Node error beside an OK status.
    if (this.#status !== undefined && rstCode === 0 && (error === undefined || this.#status !== null)) {
      this.finish(this.#messages.midMessage ? new ConnectError("protocol error: the stream ended inside a message", Code.Internal) : this.#status);
      return;
    }
    // Node's error, unless it only repeats a reset code that says more.
    if (error !== undefined && !(resetCode !== undefined && isResetEcho(error))) {
      this.finish(connectErrorFromStreamError(error));
      return;
    }
    if (resetCode !== undefined) {
      this.finish(markStreamReset(new ConnectError(streamResetMessage(rstCode), resetCode)));
      return;
    }
    this.finish(this.#status ?? new ConnectError("protocol error: missing status", Code.Internal));
  }
}
