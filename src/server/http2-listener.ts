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

export interface Http2ListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly routes: (router: ConnectRouter) => void;
  readonly interceptors: Interceptor[];
  readonly readMaxBytes: number;
  readonly knownServices: ReadonlySet<string>;
  /** Values the interceptors see in each call's context, taken from the raw request. */
  readonly contextValues?: (req: Http2ServerRequest) => ContextValues;
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
  server.on("session", (session) => {
    session.on("error", () => undefined);
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
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
