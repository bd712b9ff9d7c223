/**
 * The h2c (cleartext HTTP/2) listener: node:http2 serving the Connect routes with the gRPC
 * protocol only, gzip off, and a receive limit like grpc-go's. Tracks sessions so close() can
 * leave nothing behind.
 */
import type { ConnectRouter, ContextValues, Interceptor } from "@connectrpc/connect";
import { createServer, type Http2Server, type Http2ServerRequest, type Http2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { createGrpcNodeHandler } from "./grpc-node-handler.js";
import { unknownMethodFallback } from "./unknown-method-fallback.js";

/**
 * How many header fields a request may carry before its stream is refused (ENHANCE_YOUR_CALM).
 * Node's default, 128, refused requests grpc-go serves (it limits only the size, to 16 MiB):
 * e.g. a call with 1,000 `jwt` fields, which Pomerium answers UNAUTHENTICATED. Each field costs
 * the server a little work before any handler runs, so the limit stays bounded.
 * The other limits on a request's headers are nghttp2's and cannot be changed from Node: one
 * field of more than 64 KiB (HPACK-encoded), or a header block spread over more than 9 frames
 * (about 144 KiB from clients that frame at 16 KiB), fails the whole connection.
 */
export const MAX_HEADER_FIELDS = 2048;

/**
 * How long a connection may take to send its first SETTINGS frame (right after the client
 * preface, which every HTTP/2 client sends at once). A peer that sends the preface and the start
 * of a SETTINGS frame claiming more bytes than it sends, then half-closes, is never failed by
 * nghttp2, and Node does not act on the half-close: without this limit the connection stays open
 * until the server closes. (Garbage that breaks the preface or the first frame header is refused
 * at once.)
 */
export const HANDSHAKE_LIMIT_MS = 10_000;

export interface Http2ListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly routes: (router: ConnectRouter) => void;
  readonly interceptors: Interceptor[];
  readonly readMaxBytes: number;
  readonly knownServices: ReadonlySet<string>;
  /** Values the interceptors see in each call's context, taken from the raw request. */
  readonly contextValues?: (req: Http2ServerRequest) => ContextValues;
  /** Default {@link HANDSHAKE_LIMIT_MS}; tests use a shorter one. */
  readonly handshakeLimitMs?: number;
}

export interface Http2Listener {
  readonly port: number;
  close(): Promise<void>;
}

export async function listenHttp2(options: Http2ListenerOptions): Promise<Http2Listener> {
  const handler = createGrpcNodeHandler({
    routes: options.routes,
    interceptors: options.interceptors,
    readMaxBytes: options.readMaxBytes,
    fallback: unknownMethodFallback(options.knownServices),
    ...(options.contextValues === undefined ? {} : { contextValues: options.contextValues }),
  });
  const server: Http2Server = createServer({ maxHeaderListPairs: MAX_HEADER_FIELDS }, handler);
  const sessions = new Set<Http2Session>();
  // A misbehaving peer must never take the server down: session errors only end that session.
  server.on("sessionError", () => undefined);
  const handshakeLimitMs = options.handshakeLimitMs ?? HANDSHAKE_LIMIT_MS;
  server.on("session", (session) => {
    session.on("error", () => undefined);
    sessions.add(session);
    // A session whose peer never completes its first SETTINGS frame is ended (see HANDSHAKE_LIMIT_MS).
    const handshake = setTimeout(() => session.destroy(), handshakeLimitMs);
    handshake.unref();
    session.once("remoteSettings", () => clearTimeout(handshake));
    session.once("close", () => {
      clearTimeout(handshake);
      sessions.delete(session);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      // Give in-flight responses a moment to flush their trailers, then cut what is left.
      await new Promise((resolve) => setTimeout(resolve, 50));
      for (const session of sessions) session.destroy();
      await closed;
    },
  };
}
