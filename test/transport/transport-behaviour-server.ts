/**
 * A real Connect server (h2c) whose answers are chosen per call by request headers, to hold
 * both transport implementations to the same behaviour: errors with every code, metadata and
 * details, response headers and trailers, long streams, streams that hang until cancelled, and
 * streams the server resets (RST_STREAM) or whose connection it drops.
 */
import * as http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { create } from "@bufbuild/protobuf";
import { StringValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { DataBrokerService, RecordSchema, ServerInfoResponseSchema, SyncLatestResponseSchema, type SyncLatestResponse } from "../../gen/databroker/databroker_pb.js";

/** Request headers the server obeys. */
export const FAIL_CODE = "x-fail-code";
export const WITH_DETAIL = "x-with-detail";
export const RECORDS = "x-records";
export const HANG = "x-hang";
/** Handled below Connect: answer with headers and one message, then RST_STREAM(CANCEL). */
export const RESET_STREAM = "x-reset-stream";
/** Handled below Connect: answer with headers and one message, then destroy the socket. */
export const DROP_CONNECTION = "x-drop-connection";

export interface BehaviourServer {
  readonly url: string;
  /** Streams whose handler saw its context signal abort (the client cancelled). */
  readonly cancelledHandlers: number;
  /** Handlers that started to hang (HANG), cancelled since or not. */
  readonly hangingHandlers: number;
  /** Tokens seen under `jwt`, in call order. */
  readonly tokens: string[];
  openSessions(): number;
  close(): Promise<void>;
}

function recordResponse(i: number): SyncLatestResponse {
  return create(SyncLatestResponseSchema, {
    response: { case: "record", value: create(RecordSchema, { type: "t", id: `r-${i}`, version: BigInt(i + 1) }) },
  });
}

/** One gRPC length-prefixed message. */
function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

export async function startBehaviourServer(): Promise<BehaviourServer> {
  let cancelledHandlers = 0;
  let hangingHandlers = 0;
  const tokens: string[] = [];
  const failIfAsked = (ctx: HandlerContext) => {
    tokens.push(ctx.requestHeader.get("jwt") ?? "");
    ctx.responseHeader.set("x-response-header", "h1");
    ctx.responseTrailer.set("x-response-trailer", "t1");
    const code = Number(ctx.requestHeader.get(FAIL_CODE) ?? "0");
    if (code === 0) return;
    const error = new ConnectError(`failed with ${Code[code]} ü%`, code as Code, { "x-error-meta": "m1" });
    if (ctx.requestHeader.has(WITH_DETAIL)) error.details.push({ desc: StringValueSchema, value: { value: "the detail" } });
    throw error;
  };
  const hang = (ctx: HandlerContext) =>
    new Promise<void>((resolve) => {
      hangingHandlers += 1;
      ctx.signal.addEventListener("abort", () => {
        cancelledHandlers += 1;
        resolve();
      });
    });
  const routes = (router: ConnectRouter) =>
    router.service(DataBrokerService, {
      async serverInfo(_req, ctx) {
        if (ctx.requestHeader.has(HANG)) await hang(ctx);
        failIfAsked(ctx);
        return create(ServerInfoResponseSchema, { serverVersion: 7n });
      },
      async *syncLatest(_req, ctx) {
        const records = Number(ctx.requestHeader.get(RECORDS) ?? "0");
        const failCode = ctx.requestHeader.get(FAIL_CODE);
        tokens.push(ctx.requestHeader.get("jwt") ?? "");
        ctx.responseHeader.set("x-response-header", "h1");
        ctx.responseTrailer.set("x-response-trailer", "t1");
        for (let i = 0; i < records; i++) yield recordResponse(i);
        if (ctx.requestHeader.has(HANG)) await hang(ctx);
        if (failCode !== null) throw new ConnectError(`stream failed with ${Code[Number(failCode)]}`, Number(failCode) as Code, { "x-error-meta": "m1" });
      },
    });
  const connectHandler = connectNodeAdapter({ routes, acceptCompression: [], grpc: true, connect: false, grpcWeb: false });
  const server = http2.createServer((req, res) => {
    if (req.headers[RESET_STREAM] !== undefined || req.headers[DROP_CONNECTION] !== undefined) {
      res.writeHead(200, { "content-type": "application/grpc" });
      res.write(frame(new Uint8Array(0)));
      const stream = res.stream;
      const remotePort = req.socket.remotePort;
      setTimeout(() => {
        if (req.headers[RESET_STREAM] !== undefined) stream.close(http2.constants.NGHTTP2_CANCEL);
        else for (const socket of sockets) if (socket.remotePort === remotePort) socket.destroy();
      }, 20);
      return;
    }
    connectHandler(req, res);
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  // The raw sockets: node:http2 refuses destroy() through a session's socket proxy.
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    session.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get cancelledHandlers() {
      return cancelledHandlers;
    },
    get hangingHandlers() {
      return hangingHandlers;
    },
    tokens,
    openSessions: () => sessions.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}
