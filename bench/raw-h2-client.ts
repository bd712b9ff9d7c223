/**
 * A PROTOTYPE gRPC client (unary and server-streaming calls) that writes and reads HTTP/2 frames on a plain TCP socket itself
 * (h2c, no TLS), for one measurement: what a unary call would cost without Node's HTTP/2 client
 * (its per-stream Duplex, header objects converted both ways, nghttp2 callbacks into JavaScript).
 * It is not a transport: no TLS, no keepalive, no deadlines or cancellation, no reconnect, and it
 * does not decode HPACK (see `call`). Bench code only.
 *
 * The HTTP/2 it does (RFC 9113 and RFC 7541, in our own words):
 * - A frame is a 9-byte header (24-bit payload length, 8-bit type, 8-bit flags, 31-bit stream
 *   id) and its payload. Types used: DATA 0, HEADERS 1, RST_STREAM 3, SETTINGS 4, PING 6,
 *   GOAWAY 7, WINDOW_UPDATE 8, CONTINUATION 9; others are skipped, as the protocol allows.
 * - The client opens with the 24-byte preface and its SETTINGS; it acknowledges the server's
 *   SETTINGS and answers every PING with the same 8 bytes and the ACK flag.
 * - Flow control: the client may send DATA only within the server's windows (65,535 bytes per
 *   stream and per connection until the server's SETTINGS and WINDOW_UPDATEs say otherwise); it
 *   advertises 8 MiB for its own streams and connection, and gives the connection's window back
 *   with a WINDOW_UPDATE once half of it is used.
 * - Request headers are HPACK "literal without indexing" fields (name by static-table index
 *   where the table has it) and two fully indexed ones (`:method: POST`, `:scheme: http`), so the
 *   client never touches the server's dynamic table; no Huffman coding. Frames and header blocks
 *   are written with the SDK's own codec (src/transport/http2-frames/frame-codec.ts and
 *   hpack-encoder.ts), which the "http2-frames" transport built on this prototype uses.
 * - A gRPC message in the body is a 1-byte compressed flag, a 4-byte big-endian length, the bytes.
 */
import { connect, type Socket } from "node:net";
import {
  CLIENT_PREFACE as PREFACE,
  DEFAULT_WINDOW,
  encodeFrame as frame,
  Flags,
  FrameType,
  Setting,
  windowUpdateFrame,
  writeFrameHeader as frameHeader,
} from "../src/transport/http2-frames/frame-codec.js";
import { encodeHeaderBlock } from "../src/transport/http2-frames/hpack-encoder.js";

const { DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION } = FrameType;
const { END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY } = Flags;
const RECEIVE_WINDOW = 8 * 1024 * 1024;

interface PendingCall {
  readonly chunks: Buffer[];
  sawHeaders: boolean;
  /** Server streaming: each message as it completes, instead of one body at the end. */
  readonly onMessage: ((message: Buffer) => void) | undefined;
  /** Server streaming: the stream's DATA bytes not yet given back with a WINDOW_UPDATE. */
  received: number;
  /** Server streaming: at least one message was delivered. */
  delivered?: boolean;
  resolve(body: Buffer): void;
  reject(error: Error): void;
}

export class RawH2Client {
  readonly #socket: Socket;
  readonly #authority: string;
  #pending = Buffer.alloc(0);
  #nextStream = 1;
  readonly #calls = new Map<number, PendingCall>();
  #sendWindow = DEFAULT_WINDOW;
  #streamSendWindow = DEFAULT_WINDOW;
  #maxFrame = 16_384;
  #received = 0;
  #failed: Error | undefined;
  readonly #settled: Promise<void>;

  private constructor(socket: Socket, authority: string, settled: Promise<void>) {
    this.#socket = socket;
    this.#authority = authority;
    this.#settled = settled;
  }

  /** Connects to an h2c server (`http://host:port`) and waits for its first SETTINGS. */
  static async connect(url: string): Promise<RawH2Client> {
    const { hostname, port } = new URL(url);
    const socket = connect({ host: hostname, port: Number(port), noDelay: true });
    let onSettings!: () => void;
    const settled = new Promise<void>((resolve) => (onSettings = resolve));
    const client = new RawH2Client(socket, `${hostname}:${port}`, settled);
    socket.on("data", (chunk: Buffer) => client.#onData(chunk, onSettings));
    socket.on("error", (error) => client.#fail(error));
    socket.on("close", () => client.#fail(new Error("connection closed")));
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(Setting.INITIAL_WINDOW_SIZE, 0);
    settings.writeUInt32BE(RECEIVE_WINDOW, 2);
    settings.writeUInt16BE(2, 6); // ENABLE_PUSH
    settings.writeUInt32BE(0, 8);
    socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, settings), windowUpdateFrame(0, RECEIVE_WINDOW - DEFAULT_WINDOW)]));
    await settled;
    return client;
  }

  /**
   * One unary call: `path` (`/package.Service/Method`), the `jwt` metadata, one request message;
   * resolves with the response message's bytes. A response without a message (gRPC answers an
   * error status that way, in the trailers alone) and a reset stream reject; the status in the
   * trailers is not decoded (that needs HPACK's Huffman code and dynamic table), so a caller
   * checks the response message itself.
   */
  call(path: string, jwt: string, message: Uint8Array): Promise<Buffer> {
    return this.#start(path, jwt, message, undefined);
  }

  /**
   * A server-streaming call: `onMessage` gets each response message's bytes (a view valid only
   * during the call); resolves when the server ends the stream with at least one message, and
   * rejects as `call` does. The stream's window is given back once half of it is read.
   */
  stream(path: string, jwt: string, message: Uint8Array, onMessage: (message: Buffer) => void): Promise<void> {
    return this.#start(path, jwt, message, onMessage).then(() => undefined);
  }

  #start(path: string, jwt: string, message: Uint8Array, onMessage: ((message: Buffer) => void) | undefined): Promise<Buffer> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    const stream = this.#nextStream;
    this.#nextStream += 2;
    const block = encodeHeaderBlock([
      [":method", "POST"],
      [":scheme", "http"],
      [":path", path],
      [":authority", this.#authority],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ["jwt", jwt],
    ]);
    if (block.length > this.#maxFrame) throw new Error("prototype: header block over one frame");
    const bodyLength = 5 + message.length;
    if (bodyLength > this.#sendWindow || bodyLength > this.#streamSendWindow) throw new Error("prototype: request over the send window");
    this.#sendWindow -= bodyLength;
    const frames = Math.max(1, Math.ceil(bodyLength / this.#maxFrame));
    const out = Buffer.allocUnsafe(9 + block.length + frames * 9 + bodyLength);
    frameHeader(out, 0, block.length, HEADERS, END_HEADERS, stream);
    out.set(block, 9);
    const body = Buffer.allocUnsafe(bodyLength);
    body[0] = 0;
    body.writeUInt32BE(message.length, 1);
    body.set(message, 5);
    let at = 9 + block.length;
    for (let sent = 0; sent < bodyLength; ) {
      const n = Math.min(this.#maxFrame, bodyLength - sent);
      frameHeader(out, at, n, DATA, sent + n === bodyLength ? END_STREAM : 0, stream);
      body.copy(out, at + 9, sent, sent + n);
      at += 9 + n;
      sent += n;
    }
    return new Promise<Buffer>((resolve, reject) => {
      this.#calls.set(stream, { chunks: [], sawHeaders: false, onMessage, received: 0, resolve, reject });
      this.#socket.write(out);
    });
  }

  async close(): Promise<void> {
    await this.#settled;
    const goaway = Buffer.alloc(8);
    this.#socket.end(frame(GOAWAY, 0, 0, goaway));
    if (!this.#socket.destroyed) await new Promise<void>((resolve) => this.#socket.once("close", () => resolve()));
  }

  #fail(error: Error): void {
    if (this.#failed !== undefined) return;
    this.#failed = error;
    for (const call of this.#calls.values()) call.reject(error);
    this.#calls.clear();
  }

  #onData(chunk: Buffer, onSettings: () => void): void {
    const buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    let at = 0;
    while (buf.length - at >= 9) {
      const length = buf.readUIntBE(at, 3);
      if (buf.length - at < 9 + length) break;
      const type = buf[at + 3] as number;
      const flags = buf[at + 4] as number;
      const stream = buf.readUInt32BE(at + 5) & 0x7fffffff;
      const payload = buf.subarray(at + 9, at + 9 + length);
      at += 9 + length;
      this.#onFrame(type, flags, stream, payload, onSettings);
    }
    this.#pending = at === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(at));
  }

  #onFrame(type: number, flags: number, stream: number, payload: Buffer, onSettings: () => void): void {
    switch (type) {
      case DATA: {
        this.#received += payload.length;
        if (this.#received >= RECEIVE_WINDOW / 2) {
          this.#socket.write(windowUpdateFrame(0, this.#received));
          this.#received = 0;
        }
        const call = this.#calls.get(stream);
        if (call === undefined) return;
        if (!call.sawHeaders) {
          this.#calls.delete(stream);
          call.reject(new Error("DATA before the response headers"));
          return;
        }
        const pad = (flags & PADDED) !== 0 ? (payload[0] as number) : -1;
        const data = pad < 0 ? payload : payload.subarray(1, payload.length - pad);
        if (call.onMessage === undefined) call.chunks.push(data);
        else this.#streamData(stream, call, data, payload.length);
        if ((flags & END_STREAM) !== 0) this.#finish(stream, call);
        return;
      }
      case HEADERS:
      case CONTINUATION: {
        const call = this.#calls.get(stream);
        if (call === undefined) return;
        call.sawHeaders = true;
        if (type === HEADERS && (flags & PRIORITY) !== 0 && payload.length < 5) throw new Error("malformed HEADERS");
        if ((flags & END_STREAM) !== 0) this.#finish(stream, call);
        return;
      }
      case RST_STREAM: {
        const call = this.#calls.get(stream);
        if (call === undefined) return;
        this.#calls.delete(stream);
        call.reject(new Error(`stream reset, HTTP/2 error code ${payload.readUInt32BE(0)}`));
        return;
      }
      case SETTINGS: {
        if ((flags & ACK) !== 0) return;
        for (let i = 0; i + 6 <= payload.length; i += 6) {
          const id = payload.readUInt16BE(i);
          const value = payload.readUInt32BE(i + 2);
          if (id === Setting.INITIAL_WINDOW_SIZE) this.#streamSendWindow = value;
          if (id === Setting.MAX_FRAME_SIZE) this.#maxFrame = value;
        }
        this.#socket.write(frame(SETTINGS, ACK, 0));
        onSettings();
        return;
      }
      case PING:
        if ((flags & ACK) === 0) this.#socket.write(frame(PING, ACK, 0, payload));
        return;
      case WINDOW_UPDATE:
        if (stream === 0) this.#sendWindow += payload.readUInt32BE(0) & 0x7fffffff;
        return;
      case GOAWAY:
        this.#fail(new Error(`GOAWAY, HTTP/2 error code ${payload.readUInt32BE(4)}`));
        return;
      default:
        return;
    }
  }

  /** Delivers the complete messages in `data` (after what an earlier frame left over). */
  #streamData(stream: number, call: PendingCall, data: Buffer, frameLength: number): void {
    call.received += frameLength;
    if (call.received >= RECEIVE_WINDOW / 2) {
      this.#socket.write(windowUpdateFrame(stream, call.received));
      call.received = 0;
    }
    let bytes = data;
    if (call.chunks.length > 0) {
      call.chunks.push(data);
      bytes = Buffer.concat(call.chunks);
      call.chunks.length = 0;
    }
    let at = 0;
    while (bytes.length - at >= 5) {
      const length = bytes.readUInt32BE(at + 1);
      if (bytes.length - at < 5 + length) break;
      if (bytes[at] !== 0) throw new Error("prototype: compressed message");
      (call.onMessage as (message: Buffer) => void)(bytes.subarray(at + 5, at + 5 + length));
      at += 5 + length;
      call.delivered = true;
    }
    // What is left is part of the next message; copied, so that it does not keep the socket's whole chunk.
    if (at < bytes.length) call.chunks.push(Buffer.from(bytes.subarray(at)));
  }

  #finish(stream: number, call: PendingCall): void {
    this.#calls.delete(stream);
    if (!call.sawHeaders) {
      call.reject(new Error("response without headers"));
      return;
    }
    if (call.onMessage !== undefined) {
      if (call.chunks.length > 0) call.reject(new Error("stream ended inside a message"));
      else if (call.delivered !== true) call.reject(new Error("response without a message: an error status in the trailers"));
      else call.resolve(Buffer.alloc(0));
      return;
    }
    const body = call.chunks.length === 1 ? (call.chunks[0] as Buffer) : Buffer.concat(call.chunks);
    if (body.length < 5) {
      call.reject(new Error("response without a message: an error status in the trailers"));
      return;
    }
    const length = body.readUInt32BE(1);
    if (body[0] !== 0 || body.length !== 5 + length) {
      call.reject(new Error("response body is not one uncompressed gRPC message"));
      return;
    }
    call.resolve(body.subarray(5));
  }
}
