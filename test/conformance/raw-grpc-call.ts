/**
 * gRPC calls made by hand over node:http2, for what generated clients cannot send or do not
 * show: repeated or oversized header fields, the raw grpc-status and grpc-message, the
 * RST_STREAM code a stream closed with, and whether one HTTP/2 connection still serves calls
 * afterwards. Every call of a RawGrpcConnection goes over the same HTTP/2 session.
 */
import { connect, type ClientHttp2Session, type OutgoingHttpHeaders, type SecureClientSessionOptions } from "node:http2";

export interface RawGrpcAnswer {
  /** grpc-status from the trailers (or from the headers of a trailers-only answer); undefined if none came. */
  readonly grpcStatus: number | undefined;
  /** grpc-message, percent-decoded. */
  readonly grpcMessage: string | undefined;
  /** The RST_STREAM code the stream closed with (0: none, or NO_ERROR). */
  readonly rstCode: number;
  /** The response messages (envelope payloads). */
  readonly messages: Uint8Array[];
}

/** A length-prefixed gRPC message (uncompressed). */
export function grpcEnvelope(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

/** An empty request message (ServerInfo, GetCheckpoint, ListTypes), as one envelope. */
export const EMPTY_REQUEST = grpcEnvelope(new Uint8Array(0));

export class RawGrpcConnection {
  readonly session: ClientHttp2Session;
  /** The session's error, if it failed (GOAWAY with an error code, socket error). */
  sessionError: Error | undefined;

  /** `options` are node:http2 client session options (Node's defaults when omitted). */
  constructor(url: string, options: SecureClientSessionOptions = {}) {
    this.session = connect(url, options);
    this.session.on("error", (err) => (this.sessionError = err));
  }

  /**
   * One call: `headers` are sent as given (an array value sends one header field per element),
   * then `body`, then the end of the request. Resolves when the stream closes.
   */
  call(path: string, headers: OutgoingHttpHeaders, body: Uint8Array = EMPTY_REQUEST): Promise<RawGrpcAnswer> {
    return new Promise((resolve) => {
      const stream = this.session.request({
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
        ...headers,
      });
      let grpcStatus: number | undefined;
      let grpcMessage: string | undefined;
      const onStatus = (fields: { [name: string]: unknown }) => {
        const status = fields["grpc-status"];
        if (typeof status === "string") grpcStatus = Number(status);
        const message = fields["grpc-message"];
        if (typeof message === "string") grpcMessage = percentDecoded(message);
      };
      const chunks: Buffer[] = [];
      stream.on("response", onStatus);
      stream.on("trailers", onStatus);
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", () => undefined); // the answer carries rstCode instead
      stream.on("close", () => resolve({ grpcStatus, grpcMessage, rstCode: stream.rstCode ?? 0, messages: envelopes(Buffer.concat(chunks)) }));
      stream.end(body);
    });
  }

  close(): void {
    this.session.destroy();
  }
}

function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function envelopes(bytes: Buffer): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at + 5 <= bytes.length) {
    const length = bytes.readUInt32BE(at + 1);
    out.push(bytes.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return out;
}
