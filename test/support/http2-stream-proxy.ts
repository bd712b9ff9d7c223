/**
 * An h2c gRPC proxy of ours that works per HTTP/2 stream, as a real L7 proxy (Envoy) does: each
 * client connection gets its own upstream connection, each stream is forwarded as its own
 * upstream stream (headers, messages, trailers), and faults hit one stream, not the connection:
 *
 * - `reset(stream)`: RST_STREAM to the client on that stream only (its upstream stream is
 *   cancelled); the other streams on the same connection go on.
 * - `idleEndMs`: a stream with no data in either direction for that long is ended cleanly, with
 *   `grpc-status: 0` trailers (a trailers-only response when no headers were sent yet), like a
 *   proxy's stream idle timeout. Its upstream stream is cancelled.
 * - `hold(stream)` until `release(stream)`: the proxy stops reading that stream's response, so
 *   once the HTTP/2 flow-control windows are full the server's writes on it wait, as behind a
 *   slow reader; nothing is dropped, and the other streams go on. `holdAll()` holds every
 *   stream, open or new, until `releaseAll()`: a blackholed link whose sockets stay open.
 *
 * It records every stream: the gRPC method, the request's record type (decoded from the one
 * request message of Sync and SyncLatest), when it opened and closed, and how it ended. Listens on
 * 127.0.0.1 only.
 */
import { fromBinary } from "@bufbuild/protobuf";
import {
  connect,
  constants,
  createServer,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { AddressInfo } from "node:net";
import { SyncLatestRequestSchema, SyncRequestSchema } from "../../gen/databroker/databroker_pb.js";

/** How a proxied stream ended. */
export type ProxiedStreamOutcome =
  /** Still open. */
  | "open"
  /** The upstream answered with trailers (any grpc-status) and they were passed on. */
  | "answered"
  /** reset() sent RST_STREAM to the client. */
  | "reset-by-proxy"
  /** The idle limit ended it with grpc-status 0. */
  | "idle-ended"
  /** The client reset or abandoned it. */
  | "client-gone"
  /** The upstream stream or connection failed; the client got RST_STREAM. */
  | "upstream-failed";

export interface ProxiedStream {
  /** 1, 2, ... in the order the proxy saw them. */
  readonly seq: number;
  /** The gRPC method's name ("Sync", "SyncLatest", "Put", ...), from the :path. */
  readonly method: string;
  /** Sync and SyncLatest: the record type asked for, once the request message arrived. */
  readonly type: string | undefined;
  /** Sync: the record version it resumes from. */
  readonly recordVersion: bigint | undefined;
  readonly openedAt: number;
  /** performance.now() of the last headers or data forwarded in either direction. */
  readonly lastActivityAt: number;
  readonly closedAt: number | undefined;
  readonly outcome: ProxiedStreamOutcome;
  /** The grpc-status the client was given, when it was given one. */
  readonly grpcStatus: number | undefined;
  /** Its grpc-message, decoded, when there was one. */
  readonly grpcMessage: string | undefined;
}

export interface Http2StreamProxyOptions {
  /** End a stream cleanly after this long without data in either direction (off when omitted). */
  readonly idleEndMs?: number;
}

export interface Http2StreamProxy {
  /** "http://127.0.0.1:PORT": point the client here. */
  readonly url: string;
  readonly port: number;
  /** Every stream seen, oldest first. */
  readonly streams: readonly ProxiedStream[];
  /** Streams of `method` (and `type`, when given) seen so far. */
  count(method: string, type?: string): number;
  /** The open streams of `method` (and `type`, when given). */
  open(method: string, type?: string): ProxiedStream[];
  /** Sends RST_STREAM with `code` (default INTERNAL_ERROR) to the client on that stream only. */
  reset(stream: ProxiedStream, code?: number): void;
  /** Stops reading the stream's response from the upstream (see the module comment). */
  hold(stream: ProxiedStream): void;
  /** Reads and forwards the stream's response again, from where hold() stopped. */
  release(stream: ProxiedStream): void;
  /** hold() every open stream and every stream opened from now on: a blackholed link. */
  holdAll(): void;
  /** Ends holdAll(): releases every held stream. */
  releaseAll(): void;
  close(): Promise<void>;
}

interface StreamRecord {
  seq: number;
  method: string;
  type: string | undefined;
  recordVersion: bigint | undefined;
  openedAt: number;
  lastActivityAt: number;
  closedAt: number | undefined;
  outcome: ProxiedStreamOutcome;
  grpcStatus: number | undefined;
  grpcMessage: string | undefined;
}

interface Link {
  readonly record: StreamRecord;
  readonly downstream: ServerHttp2Stream;
  readonly upstream: ClientHttp2Stream;
  idleTimer: NodeJS.Timeout | undefined;
}

/** Hop-by-hop headers an HTTP/2 proxy must not forward. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"]);

function forwardable(headers: IncomingHttpHeaders, keepPseudo: readonly string[]): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    if (name.startsWith(":") && !keepPseudo.includes(name)) continue;
    out[name] = value;
  }
  return out;
}

/** grpc-message is percent-encoded; a malformed one is kept as sent. */
function percentDecoded(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Reads the record type (and Sync's position) from the first gRPC message of a request body. */
function requestFields(method: string, body: Buffer): { type: string; recordVersion: bigint | undefined } | undefined {
  if (body.length < 5) return undefined;
  const length = body.readUInt32BE(1);
  if (body.length < 5 + length || body[0] !== 0) return undefined;
  const bytes = body.subarray(5, 5 + length);
  try {
    if (method === "Sync") {
      const req = fromBinary(SyncRequestSchema, bytes);
      return { type: req.type, recordVersion: req.recordVersion };
    }
    if (method === "SyncLatest") return { type: fromBinary(SyncLatestRequestSchema, bytes).type, recordVersion: undefined };
  } catch {
    // Not ours to judge: the upstream answers a malformed request.
  }
  return undefined;
}

export async function startHttp2StreamProxy(upstreamUrl: string, options: Http2StreamProxyOptions = {}): Promise<Http2StreamProxy> {
  const records: StreamRecord[] = [];
  const links = new Set<Link>();
  const sessions = new Set<ServerHttp2Session>();
  const upstreams = new Map<ServerHttp2Session, ClientHttp2Session>();
  let seq = 0;
  let holdingAll = false;

  const upstreamFor = (session: ServerHttp2Session): ClientHttp2Session => {
    const existing = upstreams.get(session);
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const created = connect(upstreamUrl);
    created.on("error", () => undefined);
    // The upstream connection is gone: so are its streams (each reports on its own).
    created.once("close", () => {
      if (upstreams.get(session) === created) upstreams.delete(session);
    });
    upstreams.set(session, created);
    return created;
  };

  const finish = (link: Link, outcome: ProxiedStreamOutcome, status?: IncomingHttpHeaders) => {
    if (link.record.outcome !== "open") return;
    link.record.outcome = outcome;
    link.record.grpcStatus = status?.["grpc-status"] === undefined ? undefined : Number(status["grpc-status"]);
    const message = status?.["grpc-message"];
    link.record.grpcMessage = typeof message === "string" ? percentDecoded(message) : undefined;
    link.record.closedAt = performance.now();
    clearTimeout(link.idleTimer);
    links.delete(link);
  };

  const endIdle = (link: Link) => {
    if (link.record.outcome !== "open") return;
    const { downstream, upstream } = link;
    finish(link, "idle-ended", { "grpc-status": "0" });
    if (!upstream.destroyed) upstream.close(constants.NGHTTP2_CANCEL);
    if (downstream.destroyed || downstream.closed) return;
    if (!downstream.headersSent) {
      downstream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "0" }, { endStream: true });
    } else {
      pendingTrailers.set(downstream, { "grpc-status": "0" });
      downstream.end();
    }
  };

  const touch = (link: Link) => {
    link.record.lastActivityAt = performance.now();
    if (options.idleEndMs === undefined || link.record.outcome !== "open") return;
    clearTimeout(link.idleTimer);
    link.idleTimer = setTimeout(() => endIdle(link), options.idleEndMs);
  };

  /** Trailers to send when a downstream stream asks for them (set when the upstream's arrive). */
  const pendingTrailers = new WeakMap<ServerHttp2Stream, OutgoingHttpHeaders>();

  const server = createServer();
  server.on("sessionError", () => undefined);
  server.on("session", (session) => {
    sessions.add(session);
    session.on("error", () => undefined);
    session.once("close", () => {
      sessions.delete(session);
      const upstream = upstreams.get(session);
      upstreams.delete(session);
      upstream?.destroy();
    });
  });

  server.on("stream", (downstream, headers) => {
    const path = String(headers[":path"] ?? "");
    const record: StreamRecord = {
      seq: ++seq,
      method: path.slice(path.lastIndexOf("/") + 1),
      type: undefined,
      recordVersion: undefined,
      openedAt: performance.now(),
      lastActivityAt: performance.now(),
      closedAt: undefined,
      outcome: "open",
      grpcStatus: undefined,
      grpcMessage: undefined,
    };
    records.push(record);
    downstream.on("error", () => undefined);
    let upstream: ClientHttp2Stream;
    try {
      upstream = upstreamFor(downstream.session as ServerHttp2Session).request(forwardable(headers, [":method", ":path", ":scheme", ":authority"]), { endStream: false });
    } catch {
      record.outcome = "upstream-failed";
      record.closedAt = performance.now();
      downstream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    upstream.on("error", () => undefined);
    const link: Link = { record, downstream, upstream, idleTimer: undefined };
    links.add(link);
    if (holdingAll) upstream.pause();
    touch(link);

    // Client -> upstream.
    let requestBody = Buffer.alloc(0);
    downstream.on("data", (chunk: Buffer) => {
      touch(link);
      if (record.type === undefined && requestBody.length < 64 * 1024) {
        requestBody = Buffer.concat([requestBody, chunk]);
        const fields = requestFields(record.method, requestBody);
        if (fields !== undefined) {
          record.type = fields.type;
          record.recordVersion = fields.recordVersion;
        }
      }
      if (!upstream.destroyed) upstream.write(chunk);
    });
    downstream.on("end", () => {
      if (!upstream.destroyed) upstream.end();
    });

    // Upstream -> client.
    upstream.on("response", (responseHeaders, flags) => {
      touch(link);
      if (downstream.destroyed || downstream.closed || record.outcome !== "open") return;
      const out = forwardable(responseHeaders, [":status"]);
      const endsHere = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0 || responseHeaders["grpc-status"] !== undefined;
      if (endsHere) {
        // Trailers-only: the status is in these headers.
        finish(link, "answered", responseHeaders);
        downstream.respond(out, { endStream: true });
      } else {
        downstream.respond(out, { waitForTrailers: true });
      }
    });
    upstream.on("data", (chunk: Buffer) => {
      touch(link);
      if (!downstream.destroyed && !downstream.closed && record.outcome === "open") downstream.write(chunk);
    });
    upstream.on("trailers", (trailers) => {
      if (record.outcome !== "open") return;
      pendingTrailers.set(downstream, forwardable(trailers, []));
      finish(link, "answered", trailers);
    });
    upstream.on("end", () => {
      if (!downstream.destroyed && !downstream.closed && downstream.headersSent && pendingTrailers.has(downstream)) downstream.end();
    });
    downstream.on("wantTrailers", () => {
      // 13 = INTERNAL, should the upstream have ended its response without trailers.
      const trailers = pendingTrailers.get(downstream) ?? { "grpc-status": "13", "grpc-message": "proxy: upstream ended without trailers" };
      downstream.sendTrailers(trailers);
    });
    upstream.on("close", () => {
      // The upstream stream ended without an answer we passed on: the client gets a reset.
      if (record.outcome !== "open") return;
      finish(link, "upstream-failed");
      if (!downstream.destroyed && !downstream.closed) downstream.close(upstream.rstCode === constants.NGHTTP2_NO_ERROR ? constants.NGHTTP2_INTERNAL_ERROR : upstream.rstCode);
    });
    downstream.on("close", () => {
      if (record.outcome === "open") finish(link, "client-gone");
      if (!upstream.destroyed && !upstream.closed) upstream.close(constants.NGHTTP2_CANCEL);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const openLink = (stream: ProxiedStream): Link => {
    const link = [...links].find((l) => l.record === stream);
    if (link === undefined) throw new Error(`stream ${stream.seq} (${stream.method}) is not open`);
    return link;
  };
  const matches = (r: StreamRecord, method: string, type?: string) => r.method === method && (type === undefined || r.type === type);

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    streams: records,
    count: (method, type) => records.filter((r) => matches(r, method, type)).length,
    open: (method, type) => records.filter((r) => r.outcome === "open" && matches(r, method, type)),
    reset(stream, code = constants.NGHTTP2_INTERNAL_ERROR) {
      const link = openLink(stream);
      finish(link, "reset-by-proxy");
      link.downstream.close(code);
      if (!link.upstream.destroyed) link.upstream.close(constants.NGHTTP2_CANCEL);
    },
    hold(stream) {
      // A paused stream stops consuming what arrives, so no WINDOW_UPDATE goes to the server.
      openLink(stream).upstream.pause();
    },
    release(stream) {
      openLink(stream).upstream.resume();
    },
    holdAll() {
      holdingAll = true;
      for (const link of links) link.upstream.pause();
    },
    releaseAll() {
      holdingAll = false;
      for (const link of links) link.upstream.resume();
    },
    close() {
      for (const link of [...links]) {
        finish(link, "client-gone");
        link.downstream.destroy();
        link.upstream.destroy();
      }
      for (const upstream of upstreams.values()) upstream.destroy();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.destroy();
      return closed;
    },
  };
}
