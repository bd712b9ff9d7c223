/**
 * A small real Connect server (h2c or TLS) that answers ServerInfo and SyncLatest and records
 * the headers and TLS details of every call, for transport tests.
 */
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  DataBrokerService,
  PutResponseSchema,
  ServerInfoResponseSchema,
  SyncLatestResponseSchema,
  VersionsSchema,
} from "../../gen/databroker/databroker_pb.js";

export interface RecordedCall {
  readonly method: string;
  readonly headers: Headers;
}

export interface RecordingServer {
  readonly url: string;
  readonly port: number;
  readonly calls: RecordedCall[];
  /** SNI names seen on TLS connections. */
  readonly serverNames: Array<string | false>;
  /** Whether each TLS connection presented a client certificate the server verified. */
  readonly clientAuthorized: boolean[];
  /** HTTP/2 sessions currently open. */
  openSessions(): number;
  /** HTTP/2 streams the server has seen opened, answered or not. */
  streamsOpened(): number;
  /** Resolves once no HTTP/2 stream is open on the server (at once when none is). */
  allStreamsClosed(): Promise<void>;
  close(): Promise<void>;
}

export async function startRecordingServer(tls?: { cert: string; key: string; ca?: string; requireClientCert?: boolean }): Promise<RecordingServer> {
  const calls: RecordedCall[] = [];
  const serverNames: Array<string | false> = [];
  const clientAuthorized: boolean[] = [];
  const routes = (router: ConnectRouter) =>
    router.service(DataBrokerService, {
      serverInfo(_req, ctx) {
        calls.push({ method: "ServerInfo", headers: new Headers(ctx.requestHeader) });
        return create(ServerInfoResponseSchema, { serverVersion: 2n ** 64n - 1n, latestRecordVersion: 3n });
      },
      put(_req, ctx) {
        calls.push({ method: "Put", headers: new Headers(ctx.requestHeader) });
        return create(PutResponseSchema, {});
      },
      async *syncLatest(_req, ctx) {
        calls.push({ method: "SyncLatest", headers: new Headers(ctx.requestHeader) });
        yield create(SyncLatestResponseSchema, {
          response: { case: "versions", value: create(VersionsSchema, { serverVersion: 42n, latestRecordVersion: 0n }) },
        });
      },
    });
  const handler = connectNodeAdapter({ routes, acceptCompression: [], grpc: true, connect: false, grpcWeb: false });
  const server = tls
    ? http2.createSecureServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: tls.requireClientCert ?? false, rejectUnauthorized: tls.requireClientCert ?? false }, handler)
    : http2.createServer(handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  let streamsOpened = 0;
  let streamsOpen = 0;
  const closedWaiters: Array<() => void> = [];
  server.on("stream", (stream: http2.ServerHttp2Stream) => {
    streamsOpened++;
    streamsOpen++;
    stream.on("close", () => {
      if (--streamsOpen === 0) for (const resolve of closedWaiters.splice(0)) resolve();
    });
  });
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    const socket = session.socket as TLSSocket;
    if (tls) {
      serverNames.push((socket as TLSSocket & { servername?: string | false }).servername ?? false);
      clientAuthorized.push(socket.authorized === true);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
    port,
    calls,
    serverNames,
    clientAuthorized,
    openSessions: () => sessions.size,
    streamsOpened: () => streamsOpened,
    allStreamsClosed: () => (streamsOpen === 0 ? Promise.resolve() : new Promise<void>((resolve) => closedWaiters.push(resolve))),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}
