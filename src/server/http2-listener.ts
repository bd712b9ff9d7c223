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
  const server: Http2Server = createServer(handler);
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
