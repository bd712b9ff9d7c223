/**
 * The grpc-message field as this server sends it: bounded in size, and percent-encoded the way
 * grpc-go (Pomerium's server) encodes it.
 *
 * Bounded: a status message travels in one HTTP/2 header field, and nghttp2 (inside Node's
 * http2, so under connect-node and grpc-js) cannot carry one much over 64 KiB: Node's server
 * fails to send it (the stream is reset with FRAME_SIZE_ERROR and the client never sees the
 * status), and a larger field sent anyway tears the receiving connection down. Messages echo
 * request input (a field-mask path, a record id, a filter operator, a method name), so every
 * message is cut to MAX_STATUS_MESSAGE_BYTES of UTF-8, marker included. Pomerium sends them whole.
 *
 * Encoded as grpc-go does: printable ASCII other than `%` as is, every other byte as `%XX`.
 * Connect's own encoding (encodeURIComponent) also escapes `:`, `/`, `=` and the like, which
 * grpc-js (decoding with decodeURI) then shows its users as `%3A`, `%2F`, `%3D`.
 */

/** The longest status message sent, in UTF-8 bytes before percent-encoding. */
export const MAX_STATUS_MESSAGE_BYTES = 4096;

const encoder = new TextEncoder();

/**
 * `message` if it fits in MAX_STATUS_MESSAGE_BYTES of UTF-8, otherwise its longest prefix that
 * fits together with the marker `... [truncated from N bytes]` (N: the whole message's UTF-8
 * size). Never splits a character.
 */
export function boundStatusMessage(message: string): string {
  // A UTF-16 unit is at most 3 UTF-8 bytes: short messages need no counting.
  if (message.length * 3 <= MAX_STATUS_MESSAGE_BYTES) return message;
  const bytes = Buffer.byteLength(message, "utf8");
  if (bytes <= MAX_STATUS_MESSAGE_BYTES) return message;
  const marker = `... [truncated from ${bytes} bytes]`;
  // encodeInto writes whole characters only; `read` is how many UTF-16 units it consumed.
  const { read } = encoder.encodeInto(message, new Uint8Array(MAX_STATUS_MESSAGE_BYTES - marker.length));
  return message.slice(0, read) + marker;
}

/** grpc-go's percent-encoding of a status message. */
export function encodeGrpcMessage(message: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  let out = "";
  for (const byte of encoder.encode(message)) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The grpc-message value to send for `message`: bounded, then encoded. */
export function grpcMessageFieldValue(message: string): string {
  return encodeGrpcMessage(boundStatusMessage(message));
}

/**
 * Rewrites the grpc-message in response trailers Connect has filled in (percent-encoded with
 * encodeURIComponent) to {@link grpcMessageFieldValue}.
 */
export function rewriteGrpcMessage(trailer: Headers): void {
  const sent = trailer.get("grpc-message");
  if (sent === null) return;
  let message: string;
  try {
    message = decodeURIComponent(sent);
  } catch {
    message = sent;
  }
  trailer.set("grpc-message", grpcMessageFieldValue(message));
}
