/**
 * One gRPC call read off a stream of our own HTTP/2 connection (frame-connection.ts): the
 * response headers, the length-prefixed messages in its DATA, and the status in its trailers
 * (or in the headers of a trailers-only answer), laid out as the gRPC-over-HTTP/2 protocol says:
 * - every message is a 5-octet prefix (a flags octet, bit 0 set for a compressed message, then
 *   the length as a big-endian uint32) followed by that many octets of protobuf;
 * - the status is `grpc-status` (with `grpc-message`, percent-encoded, and optionally
 *   `grpc-status-details-bin`) in the trailers; an answer without messages may put it in the
 *   headers and end the stream there;
 * - a reset stream (RST_STREAM) instead of a status fails the call, its code mapped as gRPC maps
 *   HTTP/2 error codes (CANCEL to Canceled, REFUSED_STREAM to Unavailable, ...).
 *
 * Messages are decoded into the call's queue (CallMessages) as their DATA arrives while the queue
 * has room; once it is full, DATA is kept as received octets and decoded as the reader takes
 * messages. The stream's receive window is given back for the octets decoded into the queue, so
 * a reader that falls behind holds the window: the server stops, with at most one window of
 * octets kept here.
 *
 * No compression is offered, so a compressed message is a protocol error.
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { CallMessages } from "../call-messages.js";
import { markStreamReset, streamResetMessage } from "../connection-errors.js";
import { codeForReset, isGrpcProtoContentType, responseHeadersError, statusFromTrailers, trailersOnlyStatus } from "../grpc-response-checks.js";
import type { HeaderField } from "./hpack-decoder.js";
import type { FrameStream, FrameStreamHandler, StreamEnd } from "./frame-connection.js";
import { GrpcMessageAssembler } from "../grpc-message-assembler.js";

/** Appends the fields to `target`, pseudo-headers (`:status`) left out. */
function copyFields(fields: readonly HeaderField[], target: Headers): Headers {
  for (const [name, value] of fields) {
    if (name.charCodeAt(0) !== 0x3a) target.append(name, value);
  }
  return target;
}

/**
 * Whether these response headers are the usual start of an answer, which the checks on a
 * Headers object (responseHeadersError, a trailers-only status) would pass without a word:
 * `:status` 200, one protobuf gRPC content type, at most one compression and that identity, no status.
 */
function isPlainGrpcAnswer(fields: readonly HeaderField[]): boolean {
  let status: string | undefined;
  let contentTypes = 0;
  let contentType = "";
  let encodings = 0;
  for (const [name, value] of fields) {
    switch (name) {
      case ":status":
        status ??= value;
        break;
      case "content-type":
        contentTypes++;
        contentType = value;
        break;
      case "grpc-encoding":
        // Two would read as one joined value ("identity, identity"), which the full check refuses.
        if (++encodings > 1 || value.toLowerCase() !== "identity") return false;
        break;
      case "grpc-status":
        return false;
    }
  }
  return status === "200" && contentTypes === 1 && isGrpcProtoContentType(contentType);
}

/** Whether the trailers say OK: exactly one `grpc-status`, and it is `0` (what statusFromTrailers reads as OK). */
function isOkStatus(fields: readonly HeaderField[]): boolean {
  let ok = false;
  for (const [name, value] of fields) {
    if (name !== "grpc-status") continue;
    if (ok || value !== "0") return false;
    ok = true;
  }
  return ok;
}

export class FrameGrpcCall<O extends DescMessage> extends CallMessages<O> {
  #stream: FrameStream | undefined;
  /** The status once known: `null` for OK, else the error it carries. */
  #status: ConnectError | null | undefined;
  #sawHeaders = false;
  /**
   * The response headers and trailers as received; their Headers objects are built from them
   * only when read (`#headerRead`, `#trailerRead`), and filled in place if read before they came.
   */
  #headerFields: readonly HeaderField[] | undefined;
  #trailerFields: readonly HeaderField[] | undefined;
  #headerRead = false;
  #trailerRead = false;
  /** Received DATA; its messages are decoded only while the queue has room. */
  readonly #messages = new GrpcMessageAssembler();
  /**
   * How the call ends once the messages still held are decoded and queued: set when the stream
   * ended cleanly before the reader caught up (undefined until then).
   */
  #endAfterMessages: ConnectError | null | undefined;

  /** What the connection tells of the stream; passed to `openStream`. */
  readonly handler: FrameStreamHandler = {
    onHeaders: (fields, endStream) => this.#onHeaders(fields, endStream),
    onData: (data) => this.#onData(data),
    onEnd: (end) => this.#onStreamEnd(end),
  };

  constructor(
    output: O,
    decode: (bytes: Uint8Array) => MessageShape<O>,
    readAhead: number,
    private readonly onEnded: (call: FrameGrpcCall<O>) => void,
  ) {
    super(output, decode, readAhead);
  }

  /** The call's stream, once opened (its request already sent or being sent). */
  attach(stream: FrameStream): void {
    this.#stream = stream;
  }

  fail(error: ConnectError): void {
    if (this.hasEnded) return;
    this.finish(error);
    // RST_STREAM CANCEL: how a client cancels a call (the gRPC HTTP/2 mapping).
    this.#stream?.cancel();
  }

  protected requestMore(): void {
    this.#decodeWhileWanted();
  }

  protected onEnd(): void {
    this.#messages.clear();
    this.onEnded(this);
  }

  #onHeaders(fields: HeaderField[], endStream: boolean): void {
    if (this.hasEnded) return;
    if (this.#sawHeaders) {
      this.#onTrailers(fields);
      return;
    }
    this.#sawHeaders = true;
    this.#headerFields = fields;
    if (this.#headerRead) copyFields(fields, this.header);
    if (!endStream && isPlainGrpcAnswer(fields)) {
      // The usual answer: nothing to check in a Headers object, and none built unless read.
      this.settleHeaders(undefined);
      return;
    }
    const headersError = responseHeadersError(Number(fields.find(([name]) => name === ":status")?.[1]), this.header);
    if (headersError !== undefined) {
      this.fail(headersError);
      return;
    }
    const status = trailersOnlyStatus(this.header);
    if (status !== undefined) {
      // Trailers-only: the headers are the trailers, and nothing else follows.
      copyFields(fields, this.trailer);
      this.#status = status;
      if (status !== null) {
        this.finish(status);
        return;
      }
    } else if (endStream) {
      this.#status = new ConnectError("protocol error: missing status", Code.Internal);
      return;
    }
    this.settleHeaders(undefined);
  }

  #onTrailers(fields: HeaderField[]): void {
    this.#trailerFields = fields;
    if (this.#trailerRead) copyFields(fields, this.trailer);
    this.#status = isOkStatus(fields) ? null : statusFromTrailers(this.trailer);
  }

  protected override initialHeader(): Headers {
    this.#headerRead = true;
    return copyFields(this.#headerFields ?? [], new Headers());
  }

  protected override initialTrailer(): Headers {
    this.#trailerRead = true;
    return copyFields(this.#trailerFields ?? [], new Headers());
  }

  #onData(data: Buffer): void {
    if (this.hasEnded) return;
    if (!this.#sawHeaders) {
      this.fail(new ConnectError("protocol error: DATA before the response headers", Code.Internal));
      return;
    }
    this.#messages.push(data);
    this.#decodeWhileWanted();
  }

  /**
   * Decodes held messages into the queue while it has room: a reader that falls behind leaves
   * the rest as received octets (not thousands of decoded messages for the collector to keep
   * alive), and its stream's window closes. Ends the call once nothing is held after a clean end.
   */
  #decodeWhileWanted(): void {
    const messages = this.#messages;
    let drained = false;
    while (this.wantsMore()) {
      const bytes = messages.next();
      if (bytes === undefined) {
        drained = true;
        break;
      }
      if (messages.compressed) {
        this.fail(new ConnectError(`protocol error: received a compressed ${this.output.typeName}, but no compression was offered`, Code.Internal));
        return;
      }
      if (!this.deliverEncoded(bytes)) return;
    }
    // The window goes back for what has been decoded into the queue: a reader that falls behind
    // stops its stream's sender once the window is held, with at most that much kept here.
    const read = messages.takeReadOctets();
    if (read > 0) this.#stream?.consumed(read);
    const end = this.#endAfterMessages;
    if (drained && end !== undefined && !this.hasEnded) {
      this.finish(messages.midMessage ? new ConnectError("protocol error: the stream ended inside a message", Code.Internal) : end);
    }
  }

  #onStreamEnd(end: StreamEnd): void {
    if (this.hasEnded) return;
    switch (end.kind) {
      case "ended":
        if (this.#status === undefined) {
          this.finish(new ConnectError("protocol error: missing status", Code.Internal));
          return;
        }
        // The messages still held go to the reader first; an error status as well as OK.
        this.#endAfterMessages = this.#status;
        this.#decodeWhileWanted();
        return;
      case "reset": {
        const code = codeForReset(end.code);
        if (code === undefined) {
          // NO_ERROR after a status: the server had answered; otherwise the answer is missing.
          this.finish(this.#status ?? new ConnectError("protocol error: missing status", Code.Internal));
          return;
        }
        this.finish(markStreamReset(new ConnectError(streamResetMessage(end.code), code)));
        return;
      }
      case "cancelled":
        this.finish(new ConnectError("the call was cancelled", Code.Canceled));
        return;
      case "connection":
        // A ConnectError is the client's own reason (a reset or close of the transport); anything
        // else is the connection failing under the call.
        this.finish(end.error instanceof ConnectError ? end.error : new ConnectError(end.error.message, Code.Unavailable, undefined, undefined, end.error));
        return;
    }
  }
}
