/**
 * One HTTP/2 client connection spoken by this SDK itself on a connected socket (TCP for h2c, TLS
 * with ALPN "h2"): the streams' frames written and read here, without Node's HTTP/2 client and
 * its per-stream objects. It carries gRPC calls (frame-grpc-call.ts): requests are a HEADERS
 * frame and DATA, answers HEADERS, DATA and trailing HEADERS.
 *
 * What it does of RFC 9113, in our words:
 * - Start: the client preface, then this side's SETTINGS (no server push, the streams' receive
 *   window) and a WINDOW_UPDATE widening the connection's receive window. The peer's SETTINGS
 *   are applied and acknowledged; streams may open at once (the peer's defaults hold until then).
 * - Streams: client streams have odd ids, rising; at most the peer's MAX_CONCURRENT_STREAMS are
 *   open at once (more wait their turn). A header block longer than a frame continues in
 *   CONTINUATION frames, with nothing else on the connection in between (both directions).
 * - Flow control: DATA may be sent only within the stream's and the connection's send windows
 *   (the peer's INITIAL_WINDOW_SIZE per stream, 65,535 for the connection, both raised by the
 *   peer's WINDOW_UPDATEs; a change of INITIAL_WINDOW_SIZE moves every open stream's window by
 *   the difference). What does not fit waits, in order. Received DATA (padding included) uses
 *   this side's windows: the connection's is given back as it arrives, a stream's as its reader
 *   consumes it (`FrameStream.consumed`), so a reader that stops reading stops its stream's
 *   sender and no other.
 * - PING: answered with the same 8 octets and ACK; `ping()` measures a round trip.
 * - GOAWAY from the peer: no new streams; streams above its last stream id were not processed
 *   and fail as refused (safe to retry); the rest run to their end, then the socket closes.
 * - RST_STREAM ends one stream; a connection error (a protocol violation, an HPACK error) sends
 *   GOAWAY with its code and ends every stream.
 *
 * Invariants: a stream's handler hears of headers and data only before its end, and of exactly
 * one end (`onEnd`: the peer's END_STREAM, a reset, or the connection's failure); the send and
 * receive windows never go below zero on our side; nothing is written after the socket ended.
 */
import type { Duplex } from "node:stream";
import { encodeHeaderBlock } from "./hpack-encoder.js";
import { HpackDecodeError, HpackDecoder, type HeaderField } from "./hpack-decoder.js";
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  encodeFrame,
  ErrorCode,
  Flags,
  FRAME_HEADER_BYTES,
  FrameReader,
  FrameType,
  Http2ProtocolError,
  LARGEST_MAX_FRAME_SIZE,
  MAX_WINDOW,
  Setting,
  windowUpdateFrame,
  writeFrameHeader,
} from "./frame-codec.js";

/** How a stream ended, as its handler hears it. */
export type StreamEnd =
  /** The peer ended the stream (END_STREAM on its last frame). */
  | { readonly kind: "ended" }
  /** The peer reset the stream with this error code. */
  | { readonly kind: "reset"; readonly code: number }
  /** This side reset it (`FrameStream.cancel`). */
  | { readonly kind: "cancelled"; readonly code: number }
  /** The connection failed or went away before the stream ended; `refused`: the peer never processed it. */
  | { readonly kind: "connection"; readonly error: Error; readonly refused: boolean };

/**
 * A connection that failed before the peer spoke HTTP/2, with a code naming how (found on the
 * cause chain by connection-failure-hint.ts): `HTTP2_FRAMES_NOT_HTTP2`, the peer's first bytes
 * were not a SETTINGS frame (an HTTP/1.x server, another protocol); `HTTP2_FRAMES_CLOSED_BEFORE_HTTP2`,
 * the peer closed the connection first, or its first bytes were a TLS record (a TLS port reached
 * without TLS).
 */
export class Http2PrefaceError extends Error {
  constructor(
    readonly code: "HTTP2_FRAMES_NOT_HTTP2" | "HTTP2_FRAMES_CLOSED_BEFORE_HTTP2",
    message: string,
  ) {
    super(message);
    this.name = "Http2PrefaceError";
  }
}

/** TLS record types (change_cipher_spec, alert, handshake, application_data) as a record's first octet. */
const TLS_RECORD_TYPES = new Set([0x14, 0x15, 0x16, 0x17]);

export interface FrameStreamHandler {
  /** A complete header block: the response headers, then (if any) the trailers. */
  onHeaders(fields: HeaderField[], endStream: boolean): void;
  /** DATA payload (padding removed); the reader gives its window back with `consumed`. */
  onData(data: Buffer, endStream: boolean): void;
  /** The stream's end, exactly once, after its last headers and data. */
  onEnd(end: StreamEnd): void;
}

export interface FrameConnectionOptions {
  /** The receive window of each stream (SETTINGS_INITIAL_WINDOW_SIZE). */
  readonly streamWindowBytes: number;
  /** The connection's receive window. */
  readonly connectionWindowBytes: number;
  /** Called once when the connection has closed, with the error that closed it, if any. */
  readonly onClose?: (error: Error | undefined) => void;
  /** Called once when the connection stops taking new streams (GOAWAY either way, or a failure). */
  readonly onDraining?: () => void;
}

type ConnectionState = "open" | "draining" | "closed";

const SETTINGS_ENTRY_BYTES = 6;
const PING_PAYLOAD_BYTES = 8;
/** How long a cleanly closed connection waits for the peer to close its side. */
const CLOSE_GRACE_MS = 1000;
/** Frames queued in one stretch up to this many octets are copied into one buffer; more are corked instead. */
const COALESCE_COPY_LIMIT = 64 * 1024;
/** The highest client stream id. */
const MAX_STREAM_ID = 0x7fffffff;

export class FrameStream {
  /** The stream id; 0 while it waits for a free slot (MAX_CONCURRENT_STREAMS). */
  id = 0;
  /** What the peer still lets us send on this stream. */
  sendWindow = 0;
  /** Octets received and consumed but not yet given back. */
  unacknowledged = 0;
  /** DATA waiting for window: buffers with whether each ends the stream. */
  readonly queued: Array<{ data: Buffer; end: boolean }> = [];
  /** The header block to send when the stream opens. */
  block: Uint8Array | undefined;
  localEnded = false;
  ended = false;
  /** Set while a CONTINUATION sequence of this stream's answer is being received. */
  fragments: Buffer[] | undefined;
  fragmentsEndStream = false;

  constructor(
    readonly connection: FrameConnection,
    readonly handler: FrameStreamHandler,
  ) {}

  /** Sends `data` (in DATA frames, as the windows allow); `end` half-closes after it. */
  write(data: Buffer, end: boolean): void {
    this.connection.writeData(this, data, end);
  }

  /** Resets the stream (RST_STREAM, CANCEL by default); its handler hears `cancelled`. */
  cancel(code: number = ErrorCode.CANCEL): void {
    this.connection.resetStream(this, code);
  }

  /** Gives `octets` of received DATA back to the peer (the reader has taken them). */
  consumed(octets: number): void {
    this.connection.consumed(this, octets);
  }
}

export class FrameConnection {
  readonly #socket: Duplex;
  readonly #options: FrameConnectionOptions;
  readonly #decoder = new HpackDecoder();
  readonly #reader: FrameReader;
  #state: ConnectionState = "open";
  #nextStreamId = 1;
  readonly #streams = new Map<number, FrameStream>();
  /** Streams waiting for a free slot under the peer's MAX_CONCURRENT_STREAMS. */
  readonly #waiting: FrameStream[] = [];
  /** Streams with DATA waiting for the connection's send window, in order. */
  readonly #blocked = new Set<FrameStream>();
  #peerMaxConcurrent = Number.POSITIVE_INFINITY;
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  #sendWindow = DEFAULT_WINDOW;
  /** Connection-level octets received and not yet given back. */
  #receivedUnacknowledged = 0;
  /** The pad length of the padded DATA frame being received (#onDataPiece). */
  #piecePad = 0;
  /** The stream whose header block is being continued (CONTINUATION expected next), if any. */
  #continuing: FrameStream | undefined;
  /** The last stream id the peer's GOAWAY said it processed, once one came. */
  #goawayLastStream: number | undefined;
  /** Frames written since the last flush to the socket (`#flushWrites`, at the end of the current job). */
  #pendingWrites: Buffer[] = [];
  #pendingBytes = 0;
  readonly #pings = new Map<number, { resolve(rttMs: number): void; reject(error: Error): void; sentAt: number }>();
  #pingCounter = 0;
  /** When the last frame arrived (performance.now()), for keepalive. */
  lastFrameAt = performance.now();
  #closeError: Error | undefined;
  /** Whether the peer's SETTINGS (the first frame it must send) has come. */
  #peerSpokeHttp2 = false;
  /** The peer's first bytes while fewer than 4 have come (too few to tell a frame type). */
  #firstBytes: Buffer | undefined;
  /** Settles with the peer's first SETTINGS (resolved) or the connection's end before it (rejected). */
  readonly ready: Promise<void>;
  #settleReady!: (error: Error | undefined) => void;

  constructor(socket: Duplex, options: FrameConnectionOptions) {
    this.#socket = socket;
    this.#options = options;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#settleReady = (error) => (error === undefined ? resolve() : reject(error));
    });
    this.ready.catch(() => undefined); // a connection nobody waits on must not raise an unhandled rejection
    this.#reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE, (flags, stream, piece, offset, length) => this.#onDataPiece(flags, stream, piece, offset, length));
    socket.on("data", (chunk: Buffer) => this.#onBytes(chunk));
    socket.on("error", (error: Error) => this.#fail(error));
    socket.on("close", () =>
      this.#fail(this.#peerSpokeHttp2 ? new Error("the connection closed") : new Http2PrefaceError("HTTP2_FRAMES_CLOSED_BEFORE_HTTP2", "the server closed the connection before its HTTP/2 settings")),
    );
    const settings = Buffer.allocUnsafe(2 * SETTINGS_ENTRY_BYTES);
    settings.writeUInt16BE(Setting.ENABLE_PUSH, 0);
    settings.writeUInt32BE(0, 2);
    settings.writeUInt16BE(Setting.INITIAL_WINDOW_SIZE, 6);
    settings.writeUInt32BE(options.streamWindowBytes, 8);
    const frames = [CLIENT_PREFACE, encodeFrame(FrameType.SETTINGS, 0, 0, settings)];
    if (options.connectionWindowBytes > DEFAULT_WINDOW) frames.push(windowUpdateFrame(0, options.connectionWindowBytes - DEFAULT_WINDOW));
    socket.write(Buffer.concat(frames));
  }

  /** Whether new streams may open: false once draining (GOAWAY) or closed. */
  get acceptsStreams(): boolean {
    return this.#state === "open";
  }

  get closed(): boolean {
    return this.#state === "closed";
  }

  /** Streams open or waiting to open. */
  get activeStreams(): number {
    return this.#streams.size + this.#waiting.length;
  }

  /**
   * Opens a stream with these request headers (pseudo-headers first); it sends its HEADERS at
   * once, or once the peer has sent its SETTINGS (nothing but the preface goes to a peer before
   * it has shown it speaks HTTP/2: an HTTP/1 server that closes on the preface then reads as
   * one, not as a write to a closed socket) and its limit on concurrent streams leaves room.
   * `request`, when given, is the stream's whole request body: it follows the HEADERS in the same
   * socket write and half-closes the stream (as a `write(request, true)` right after would, one
   * write later).
   * @throws Error when the connection no longer accepts streams
   */
  openStream(fields: readonly HeaderField[], handler: FrameStreamHandler, request?: Buffer): FrameStream {
    if (this.#state !== "open") throw new Error("the HTTP/2 connection no longer accepts streams");
    const stream = new FrameStream(this, handler);
    stream.block = encodeHeaderBlock(fields);
    if (request !== undefined) {
      // The whole request, known up front (a unary call's): queued before the stream starts, its
      // DATA goes out with the HEADERS in the same socket write instead of in a write of its own.
      stream.localEnded = true;
      stream.queued.push({ data: request, end: true });
    }
    if (this.#peerSpokeHttp2 && this.#streams.size < this.#peerMaxConcurrent) this.#start(stream);
    else this.#waiting.push(stream);
    return stream;
  }

  /** Sends a PING; resolves with the round trip in ms once its ACK is back, rejects if the connection closes first. */
  ping(): Promise<number> {
    if (this.#state === "closed") return Promise.reject(this.#closeError ?? new Error("the connection is closed"));
    const payload = Buffer.alloc(PING_PAYLOAD_BYTES);
    const key = ++this.#pingCounter;
    payload.writeUInt32BE(key, 4);
    return new Promise<number>((resolve, reject) => {
      this.#pings.set(key, { resolve, reject, sentAt: performance.now() });
      this.#write(encodeFrame(FrameType.PING, 0, 0, payload));
    });
  }

  /** Ends the connection now (GOAWAY NO_ERROR, then the socket): every stream ends with `error`. */
  destroy(error?: Error): void {
    if (this.#state === "closed") return;
    this.#flushWrites();
    if (!this.#socket.writableEnded) this.#socket.end(this.#goawayFrame(ErrorCode.NO_ERROR, ""));
    this.#fail(error ?? new Error("the connection was closed by the client"), true);
  }

  // --- used by FrameStream ---

  writeData(stream: FrameStream, data: Buffer, end: boolean): void {
    if (stream.ended || stream.localEnded) return;
    stream.localEnded = end;
    stream.queued.push({ data, end });
    if (stream.id !== 0) this.#flushStream(stream);
  }

  resetStream(stream: FrameStream, code: number): void {
    if (stream.ended) return;
    if (stream.id === 0) {
      const at = this.#waiting.indexOf(stream);
      if (at >= 0) this.#waiting.splice(at, 1);
    } else {
      const payload = Buffer.allocUnsafe(4);
      payload.writeUInt32BE(code);
      this.#write(encodeFrame(FrameType.RST_STREAM, 0, stream.id, payload));
    }
    this.#end(stream, { kind: "cancelled", code });
  }

  consumed(stream: FrameStream, octets: number): void {
    if (stream.ended || stream.id === 0 || octets <= 0) return;
    stream.unacknowledged += octets;
    if (stream.unacknowledged >= this.#options.streamWindowBytes / 2) {
      this.#write(windowUpdateFrame(stream.id, stream.unacknowledged));
      stream.unacknowledged = 0;
    }
  }

  // --- internals ---

  #start(stream: FrameStream): void {
    if (this.#nextStreamId > MAX_STREAM_ID) {
      // Ids are spent: this connection takes no more streams; the caller opens another.
      this.#enterDraining();
      this.#end(stream, { kind: "connection", error: new Error("the connection's stream ids are spent"), refused: true });
      return;
    }
    stream.id = this.#nextStreamId;
    this.#nextStreamId += 2;
    stream.sendWindow = this.#peerInitialWindow;
    this.#streams.set(stream.id, stream);
    this.#writeHeaders(stream, stream.block as Uint8Array);
    stream.block = undefined;
    this.#flushStream(stream);
  }

  #writeHeaders(stream: FrameStream, block: Uint8Array): void {
    const max = this.#peerMaxFrameSize;
    const frames = Math.max(1, Math.ceil(block.length / max));
    const out = Buffer.allocUnsafe(frames * FRAME_HEADER_BYTES + block.length);
    let at = 0;
    for (let sent = 0, i = 0; i < frames; i++) {
      const n = Math.min(max, block.length - sent);
      const last = i === frames - 1;
      writeFrameHeader(out, at, n, i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION, last ? Flags.END_HEADERS : 0, stream.id);
      out.set(block.subarray(sent, sent + n), at + FRAME_HEADER_BYTES);
      at += FRAME_HEADER_BYTES + n;
      sent += n;
    }
    this.#write(out);
  }

  /** Sends what the windows allow of the stream's queued DATA. */
  #flushStream(stream: FrameStream): void {
    while (stream.queued.length > 0 && !stream.ended) {
      const next = stream.queued[0] as { data: Buffer; end: boolean };
      const room = Math.min(stream.sendWindow, this.#sendWindow, this.#peerMaxFrameSize);
      if (next.data.length > 0 && room <= 0) {
        if (this.#sendWindow <= 0) this.#blocked.add(stream);
        return;
      }
      const n = Math.min(room, next.data.length);
      const last = n === next.data.length;
      const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + n);
      writeFrameHeader(out, 0, n, FrameType.DATA, last && next.end ? Flags.END_STREAM : 0, stream.id);
      next.data.copy(out, FRAME_HEADER_BYTES, 0, n);
      this.#write(out);
      stream.sendWindow -= n;
      this.#sendWindow -= n;
      if (last) stream.queued.shift();
      else next.data = next.data.subarray(n);
    }
  }

  /**
   * Queues frames for the socket. Everything written in one synchronous stretch (a call's
   * HEADERS and DATA, the WINDOW_UPDATEs and PING answers a read brings) leaves in one socket
   * write at the end of it: a write is a system call, and on loopback it costs about as much CPU
   * as the rest of a unary call's client side (measured: 80 us of the 460 us per Put with two writes).
   */
  #write(bytes: Buffer): void {
    if (this.#state === "closed" || this.#socket.writableEnded) return;
    this.#pendingWrites.push(bytes);
    this.#pendingBytes += bytes.length;
    if (this.#pendingWrites.length === 1) queueMicrotask(this.#flushWrites);
  }

  /** Writes the queued frames, in order: one buffer when they are small, else corked (one writev). */
  readonly #flushWrites = (): void => {
    const pending = this.#pendingWrites;
    const bytes = this.#pendingBytes;
    if (pending.length === 0) return;
    this.#pendingWrites = [];
    this.#pendingBytes = 0;
    const socket = this.#socket;
    if (socket.writableEnded || socket.destroyed) return;
    try {
      if (pending.length === 1) {
        socket.write(pending[0] as Buffer);
      } else if (bytes <= COALESCE_COPY_LIMIT) {
        socket.write(Buffer.concat(pending, bytes));
      } else {
        socket.cork();
        for (const frame of pending) socket.write(frame);
        socket.uncork();
      }
    } catch (error) {
      // This runs as a microtask: a throw here would be the host's uncaught exception.
      this.#fail(error instanceof Error ? error : new Error(String(error)));
    }
  };

  #onBytes(chunk: Buffer): void {
    if (this.#state === "closed") return;
    this.lastFrameAt = performance.now();
    let bytes = chunk;
    if (!this.#peerSpokeHttp2) {
      bytes = this.#firstBytes === undefined ? chunk : Buffer.concat([this.#firstBytes, chunk]);
      if (bytes.length < 4) {
        this.#firstBytes = bytes;
        return;
      }
      this.#firstBytes = undefined;
      if (!this.#startsWithSettings(bytes)) return;
    }
    try {
      this.#reader.push(bytes, (type, flags, stream, payload) => this.#onFrame(type, flags, stream, payload));
    } catch (error) {
      this.#connectionError(error);
    }
  }

  /**
   * Checks the peer's first 4 or more bytes: an HTTP/2 server's first frame is SETTINGS (its
   * type is the fourth octet). Fails the connection (and returns false) when they are something else.
   */
  #startsWithSettings(chunk: Buffer): boolean {
    if (chunk[3] === FrameType.SETTINGS) {
      this.#peerSpokeHttp2 = true;
      return true;
    }
    const tls = TLS_RECORD_TYPES.has(chunk[0] as number) && chunk[1] === 0x03;
    const error = tls
      ? new Http2PrefaceError("HTTP2_FRAMES_CLOSED_BEFORE_HTTP2", "the server answered with TLS, not HTTP/2 in the clear")
      : new Http2PrefaceError("HTTP2_FRAMES_NOT_HTTP2", "the server did not answer in HTTP/2 (its first bytes are not a SETTINGS frame)");
    this.#fail(error);
    return false;
  }

  #connectionError(error: unknown): void {
    if (this.#state === "closed") return;
    const code = error instanceof Http2ProtocolError ? error.code : error instanceof HpackDecodeError ? ErrorCode.COMPRESSION_ERROR : ErrorCode.INTERNAL_ERROR;
    const reason = error instanceof Error ? error : new Error(String(error));
    this.#flushWrites();
    if (!this.#socket.writableEnded) this.#socket.end(this.#goawayFrame(code, reason.message.slice(0, 100)));
    this.#fail(new Error(`HTTP/2 connection error: ${reason.message}`, { cause: reason }), true);
  }

  #onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.#continuing !== undefined && (type !== FrameType.CONTINUATION || streamId !== this.#continuing.id)) {
      throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "a frame inside a header block's CONTINUATION sequence");
    }
    switch (type) {
      case FrameType.DATA:
        // A whole DATA frame is the one-piece case.
        this.#onDataPiece(flags, streamId, payload, 0, payload.length);
        return;
      case FrameType.HEADERS:
        this.#onHeadersFrame(flags, streamId, payload);
        return;
      case FrameType.CONTINUATION:
        this.#onContinuation(flags, streamId, payload);
        return;
      case FrameType.RST_STREAM: {
        if (streamId === 0 || payload.length !== 4) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "malformed RST_STREAM");
        const stream = this.#streams.get(streamId);
        if (stream !== undefined) this.#end(stream, { kind: "reset", code: payload.readUInt32BE(0) });
        return;
      }
      case FrameType.SETTINGS:
        this.#onSettings(flags, streamId, payload);
        return;
      case FrameType.PING: {
        if (streamId !== 0 || payload.length !== PING_PAYLOAD_BYTES) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "malformed PING");
        if ((flags & Flags.ACK) === 0) {
          this.#write(encodeFrame(FrameType.PING, Flags.ACK, 0, payload));
          return;
        }
        // Our PINGs carry their number in the last 4 octets (the first 4 are zero).
        const key = payload.readUInt32BE(0) === 0 ? payload.readUInt32BE(4) : -1;
        const ping = this.#pings.get(key);
        if (ping !== undefined) {
          this.#pings.delete(key);
          ping.resolve(performance.now() - ping.sentAt);
        }
        return;
      }
      case FrameType.GOAWAY:
        this.#onGoaway(streamId, payload);
        return;
      case FrameType.WINDOW_UPDATE:
        this.#onWindowUpdate(streamId, payload);
        return;
      case FrameType.PUSH_PROMISE:
        throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE although push is disabled");
      default:
        // PRIORITY and unknown types carry nothing a client needs.
        return;
    }
  }

  /**
   * A DATA frame's payload, or a piece of one split over socket reads (frame-codec.ts: `offset`
   * is the piece's place in the payload, `length` the payload's; a whole frame is one piece at
   * 0), handled piece by piece as the whole frame would be: every octet (padding included)
   * counts against the connection's window as it comes, and is given back at once; the padding
   * (the pad length octet first, the pad octets last) is given back to the stream's window and
   * not delivered; the stream ends with the last piece if the frame says so.
   */
  #onDataPiece(flags: number, streamId: number, piece: Buffer, offset: number, length: number): void {
    if (offset === 0) {
      if (this.#continuing !== undefined) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "a frame inside a header block's CONTINUATION sequence");
      if (streamId === 0) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
      if ((flags & Flags.PADDED) !== 0) {
        const pad = length > 0 ? (piece[0] as number) : -1;
        if (pad < 0 || pad >= length) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "DATA padding longer than the frame");
        this.#piecePad = pad;
      }
    }
    this.#receivedUnacknowledged += piece.length;
    if (this.#receivedUnacknowledged >= this.#options.connectionWindowBytes / 2) {
      this.#write(windowUpdateFrame(0, this.#receivedUnacknowledged));
      this.#receivedUnacknowledged = 0;
    }
    const stream = this.#streams.get(streamId);
    if (stream === undefined) return; // a stream we reset or that ended: its DATA is dropped
    let data = piece;
    if ((flags & Flags.PADDED) !== 0) {
      // The data lies in [1, length - pad) of the payload; this piece is [offset, offset + piece.length).
      const from = Math.max(offset, 1);
      const to = Math.min(offset + piece.length, length - this.#piecePad);
      data = from < to ? piece.subarray(from - offset, to - offset) : piece.subarray(0, 0);
      this.consumed(stream, piece.length - data.length);
    }
    const end = offset + piece.length === length && (flags & Flags.END_STREAM) !== 0;
    if (data.length > 0 || end) stream.handler.onData(data, end);
    if (end) this.#end(stream, { kind: "ended" });
  }

  #onHeadersFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
    let start = 0;
    let end = payload.length;
    if ((flags & Flags.PADDED) !== 0) {
      const pad = payload.length > 0 ? (payload[0] as number) : -1;
      start = 1;
      end -= pad;
      if (pad < 0 || end < start) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "HEADERS padding longer than the frame");
    }
    if ((flags & Flags.PRIORITY) !== 0) start += 5;
    if (start > end) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "malformed HEADERS");
    const fragment = payload.subarray(start, end);
    const endStream = (flags & Flags.END_STREAM) !== 0;
    const stream = this.#streams.get(streamId) ?? this.#orphan(streamId);
    if ((flags & Flags.END_HEADERS) !== 0) {
      this.#onHeaderBlock(stream, fragment, endStream);
      return;
    }
    stream.fragments = [Buffer.from(fragment)];
    stream.fragmentsEndStream = endStream;
    this.#continuing = stream;
  }

  #onContinuation(flags: number, streamId: number, payload: Buffer): void {
    const stream = this.#continuing;
    if (stream === undefined || stream.id !== streamId) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without HEADERS");
    (stream.fragments as Buffer[]).push(Buffer.from(payload));
    if ((flags & Flags.END_HEADERS) === 0) return;
    this.#continuing = undefined;
    const block = Buffer.concat(stream.fragments as Buffer[]);
    stream.fragments = undefined;
    this.#onHeaderBlock(stream, block, stream.fragmentsEndStream);
  }

  /**
   * A header block for a stream that is not open (one we reset, or an id the peer should not
   * use): it must still be decoded, as it changes the HPACK table, then dropped.
   */
  #orphan(streamId: number): FrameStream {
    const stream = new FrameStream(this, { onHeaders: () => undefined, onData: () => undefined, onEnd: () => undefined });
    stream.id = streamId;
    stream.ended = true;
    return stream;
  }

  #onHeaderBlock(stream: FrameStream, block: Uint8Array, endStream: boolean): void {
    const fields = this.#decoder.decode(block);
    if (stream.ended) return;
    stream.handler.onHeaders(fields, endStream);
    if (endStream) this.#end(stream, { kind: "ended" });
  }

  #onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
    if ((flags & Flags.ACK) !== 0) {
      if (payload.length !== 0) throw new Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
      return;
    }
    if (payload.length % SETTINGS_ENTRY_BYTES !== 0) throw new Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS of a length not a multiple of 6");
    for (let at = 0; at < payload.length; at += SETTINGS_ENTRY_BYTES) {
      const id = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      switch (id) {
        case Setting.MAX_CONCURRENT_STREAMS:
          this.#peerMaxConcurrent = value;
          break;
        case Setting.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) throw new Http2ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE over 2^31 - 1");
          const delta = value - this.#peerInitialWindow;
          this.#peerInitialWindow = value;
          for (const stream of this.#streams.values()) stream.sendWindow += delta;
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > LARGEST_MAX_FRAME_SIZE) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, `MAX_FRAME_SIZE ${value} out of range`);
          this.#peerMaxFrameSize = value;
          break;
        default:
          // HEADER_TABLE_SIZE bounds the peer's decoder table, which our encoder never uses;
          // ENABLE_PUSH and MAX_HEADER_LIST_SIZE do not bind a client here; unknown ones are ignored.
          break;
      }
    }
    this.#write(encodeFrame(FrameType.SETTINGS, Flags.ACK, 0));
    this.#settleReady(undefined);
    this.#openWaiting();
    for (const stream of [...this.#streams.values()]) this.#flushStream(stream);
  }

  #onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE of a length other than 4");
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (streamId === 0) {
      if (increment === 0) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0 on the connection");
      this.#sendWindow += increment;
      if (this.#sendWindow > MAX_WINDOW) throw new Http2ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, "connection send window over 2^31 - 1");
      const blocked = [...this.#blocked];
      this.#blocked.clear();
      for (const stream of blocked) this.#flushStream(stream);
      return;
    }
    const stream = this.#streams.get(streamId);
    if (stream === undefined) return;
    if (increment === 0) {
      this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) {
      this.resetStream(stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    this.#flushStream(stream);
  }

  #onGoaway(streamId: number, payload: Buffer): void {
    if (streamId !== 0 || payload.length < 8) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, "malformed GOAWAY");
    const lastStream = payload.readUInt32BE(0) & 0x7fffffff;
    const code = payload.readUInt32BE(4);
    this.#goawayLastStream = lastStream;
    this.#enterDraining();
    const error = new Error(`the server sent GOAWAY (HTTP/2 error code ${code})`);
    for (const stream of [...this.#waiting]) this.#end(stream, { kind: "connection", error, refused: true });
    this.#waiting.length = 0;
    for (const stream of [...this.#streams.values()]) {
      if (stream.id > lastStream) this.#end(stream, { kind: "connection", error, refused: true });
    }
    this.#closeIfIdle();
  }

  #enterDraining(): void {
    if (this.#state !== "open") return;
    this.#state = "draining";
    this.#options.onDraining?.();
  }

  #openWaiting(): void {
    while (this.#waiting.length > 0 && this.#peerSpokeHttp2 && this.#streams.size < this.#peerMaxConcurrent && this.#state === "open") {
      this.#start(this.#waiting.shift() as FrameStream);
    }
  }

  #end(stream: FrameStream, end: StreamEnd): void {
    if (stream.ended) return;
    if (end.kind === "ended" && (!stream.localEnded || stream.queued.length > 0) && stream.id !== 0) {
      // The peer answered before we finished sending (a gRPC server may fail a call early): say
      // we are done with the stream, so that it does not wait for the rest of our request.
      const payload = Buffer.alloc(4);
      this.#write(encodeFrame(FrameType.RST_STREAM, 0, stream.id, payload));
    }
    stream.ended = true;
    stream.queued.length = 0;
    this.#blocked.delete(stream);
    if (stream.id !== 0) this.#streams.delete(stream.id);
    if (this.#continuing === stream) this.#continuing = undefined;
    stream.handler.onEnd(end);
    if (this.#state === "open") this.#openWaiting();
    else this.#closeIfIdle();
  }

  #closeIfIdle(): void {
    if (this.#state === "draining" && this.#streams.size === 0 && this.#waiting.length === 0) {
      this.#flushWrites();
      if (!this.#socket.writableEnded) this.#socket.end();
      this.#fail(undefined, true);
    }
  }

  #goawayFrame(code: number, debug: string): Buffer {
    const text = Buffer.from(debug, "utf8");
    const payload = Buffer.allocUnsafe(8 + text.length);
    payload.writeUInt32BE(0, 0); // no server-initiated streams were processed
    payload.writeUInt32BE(code, 4);
    text.copy(payload, 8);
    return encodeFrame(FrameType.GOAWAY, 0, 0, payload);
  }

  /** Ends every stream and the connection; `error` undefined for a clean close. */
  #fail(error: Error | undefined, clean = false): void {
    if (this.#state === "closed") return;
    const wasDraining = this.#state === "draining";
    this.#state = "closed";
    this.#closeError = error;
    this.#settleReady(error ?? new Error("the connection closed before the server's HTTP/2 settings"));
    if (!wasDraining) this.#options.onDraining?.();
    const reason = error ?? new Error("the connection closed");
    const refusedAbove = this.#goawayLastStream;
    for (const stream of [...this.#waiting, ...this.#streams.values()]) {
      // A stream the peer never saw (still waiting, or above a GOAWAY's last id) can be retried.
      const refused = stream.id === 0 || (refusedAbove !== undefined && stream.id > refusedAbove);
      this.#end(stream, { kind: "connection", error: reason, refused });
    }
    this.#waiting.length = 0;
    for (const ping of this.#pings.values()) ping.reject(reason);
    this.#pings.clear();
    if (!clean || error !== undefined) {
      this.#socket.destroy();
    } else if (!this.#socket.destroyed) {
      // A clean close has ended our side; the peer closes its own. If it does not, the socket goes
      // after a grace period (without holding the process open).
      const timer = setTimeout(() => this.#socket.destroy(), CLOSE_GRACE_MS);
      timer.unref();
      this.#socket.once("close", () => clearTimeout(timer));
    }
    this.#options.onClose?.(error);
  }
}
