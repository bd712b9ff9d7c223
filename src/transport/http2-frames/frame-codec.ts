/**
 * HTTP/2 frames (RFC 9113, section 4): how they are written, and a reader that cuts them out of
 * the connection's bytes as they arrive.
 *
 * A frame is a 9-octet header, then its payload: the payload's length (24 bits), the frame's
 * type (8 bits), its flags (8 bits), a reserved bit and the stream id (31 bits), all big-endian.
 * A frame longer than the receiver's SETTINGS_MAX_FRAME_SIZE (16,384 until it says more) is a
 * connection error of type FRAME_SIZE_ERROR.
 */

export const FRAME_HEADER_BYTES = 9;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flags = {
  /** DATA, HEADERS: the sender's last frame on the stream. */
  END_STREAM: 0x1,
  /** SETTINGS, PING: the answer to the peer's frame. */
  ACK: 0x1,
  /** HEADERS, CONTINUATION: the header block is complete. */
  END_HEADERS: 0x4,
  /** DATA, HEADERS: a pad length octet comes first, that many octets of padding last. */
  PADDED: 0x8,
  /** HEADERS: 5 octets of priority (dependency and weight) follow the pad length. */
  PRIORITY: 0x20,
} as const;

/** The error codes of RST_STREAM and GOAWAY (RFC 9113, section 7). */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** SETTINGS parameters (RFC 9113, section 6.5.2). */
export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** What every HTTP/2 connection starts with, from the client, before its SETTINGS. */
export const CLIENT_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** The flow-control window every stream and the connection start with. */
export const DEFAULT_WINDOW = 65_535;
/** The largest flow-control window (2^31 - 1). */
export const MAX_WINDOW = 0x7fffffff;
/** The smallest and largest SETTINGS_MAX_FRAME_SIZE. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
export const LARGEST_MAX_FRAME_SIZE = 16_777_215;

/** A connection error: the connection must end with GOAWAY carrying `code`. */
export class Http2ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "Http2ProtocolError";
  }
}

/** Writes a frame header at `at` of `out`. */
export function writeFrameHeader(out: Buffer, at: number, length: number, type: number, flags: number, stream: number): void {
  out[at] = (length >>> 16) & 0xff;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(stream & 0x7fffffff, at + 5);
}

/** One frame, header and payload, in a new buffer. */
export function encodeFrame(type: number, flags: number, stream: number, payload?: Uint8Array): Buffer {
  const length = payload?.length ?? 0;
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  writeFrameHeader(out, 0, length, type, flags, stream);
  if (payload !== undefined) out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** A WINDOW_UPDATE frame granting `increment` octets on `stream` (0: the connection). */
export function windowUpdateFrame(stream: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(out, 0, 4, FrameType.WINDOW_UPDATE, 0, stream);
  out.writeUInt32BE(increment, FRAME_HEADER_BYTES);
  return out;
}

/** Receives each frame: its type, flags, stream id and payload (a view, valid until the handler returns or longer: see FrameReader). */
export type FrameHandler = (type: number, flags: number, stream: number, payload: Buffer) => void;

/**
 * Receives a DATA frame split over chunks piece by piece, as it arrives: each piece a view of its
 * chunk, `offset` its place in the frame's payload, `length` the payload's whole length (the
 * last piece ends there). Pieces are never empty.
 */
export type DataPieceHandler = (flags: number, stream: number, piece: Buffer, offset: number, length: number) => void;

/**
 * Cuts frames out of the connection's bytes. A frame that lies within one chunk is handed on as
 * a view of that chunk (Node does not reuse a socket's chunks, so the view stays valid). One
 * split over chunks is gathered into a buffer of its own, except a DATA frame when the reader
 * has a piece handler: that one goes out in pieces, views of the chunks they came in, so the
 * bulk of a stream (16 KiB frames read in 64 KiB chunks: about one frame in four is split) is
 * never copied.
 */
export class FrameReader {
  /** The header of a frame split over chunks, while fewer than 9 octets of it have come. */
  readonly #header = Buffer.alloc(FRAME_HEADER_BYTES);
  #headerFilled = 0;
  /** The payload of a frame split over chunks, and how much of it has come. */
  #payload: Buffer | undefined;
  #payloadFilled = 0;
  #type = 0;
  #flags = 0;
  #stream = 0;
  /** The DATA frame being handed on in pieces: its payload's length, and how much of it has come (-1: none is). */
  #pieceLength = 0;
  #pieceOffset = -1;

  /**
   * @param maxFrameSize this side's SETTINGS_MAX_FRAME_SIZE: longer frames are a connection error
   * @param onDataPiece receives DATA frames split over chunks in pieces; without it they are gathered
   */
  constructor(
    private readonly maxFrameSize: number,
    private readonly onDataPiece?: DataPieceHandler,
  ) {}

  /**
   * Hands on every complete frame in `chunk` (after what earlier chunks left), in order.
   * @throws Http2ProtocolError FRAME_SIZE_ERROR for a frame over the limit
   */
  push(chunk: Buffer, onFrame: FrameHandler): void {
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      if (this.#pieceOffset >= 0) {
        const offset = this.#pieceOffset;
        const take = Math.min(this.#pieceLength - offset, end - at);
        this.#pieceOffset = offset + take === this.#pieceLength ? -1 : offset + take;
        at += take;
        (this.onDataPiece as DataPieceHandler)(this.#flags, this.#stream, chunk.subarray(at - take, at), offset, this.#pieceLength);
        continue;
      }
      if (this.#payload !== undefined) {
        const take = Math.min(this.#payload.length - this.#payloadFilled, end - at);
        chunk.copy(this.#payload, this.#payloadFilled, at, at + take);
        this.#payloadFilled += take;
        at += take;
        if (this.#payloadFilled < this.#payload.length) return;
        const payload = this.#payload;
        this.#payload = undefined;
        onFrame(this.#type, this.#flags, this.#stream, payload);
        continue;
      }
      let length: number;
      if (this.#headerFilled > 0 || end - at < FRAME_HEADER_BYTES) {
        // A header split over chunks: gathered first.
        const take = Math.min(FRAME_HEADER_BYTES - this.#headerFilled, end - at);
        chunk.copy(this.#header, this.#headerFilled, at, at + take);
        this.#headerFilled += take;
        at += take;
        if (this.#headerFilled < FRAME_HEADER_BYTES) return;
        this.#headerFilled = 0;
        length = this.#readHeader(this.#header, 0);
      } else {
        length = this.#readHeader(chunk, at);
        at += FRAME_HEADER_BYTES;
      }
      if (end - at >= length) {
        at += length;
        onFrame(this.#type, this.#flags, this.#stream, chunk.subarray(at - length, at));
      } else if (this.#type === FrameType.DATA && this.onDataPiece !== undefined) {
        // Handed on as it comes (from the next turn of this loop, when this chunk holds some).
        this.#pieceLength = length;
        this.#pieceOffset = 0;
      } else {
        this.#payload = Buffer.allocUnsafe(length);
        this.#payloadFilled = 0;
      }
    }
  }

  /** Reads a frame header at `at`; returns the payload length. */
  #readHeader(bytes: Buffer, at: number): number {
    const length = ((bytes[at] as number) << 16) | ((bytes[at + 1] as number) << 8) | (bytes[at + 2] as number);
    this.#type = bytes[at + 3] as number;
    this.#flags = bytes[at + 4] as number;
    this.#stream = bytes.readUInt32BE(at + 5) & 0x7fffffff;
    if (length > this.maxFrameSize) throw new Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, `a ${length}-octet frame over the ${this.maxFrameSize} allowed`);
    return length;
  }
}
