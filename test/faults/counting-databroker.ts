/**
 * Our in-memory databroker's own parts (service, JWT check, listener) with one more interceptor in
 * front that records every call that reaches the server, authenticated or not: its method, the
 * record type it asked for, when it arrived and how it ended. These are the server-side counters
 * the sync tests wait on and assert with (the proxy counts connections, and HTTP/2 reuses one
 * connection for every retry; a client's own status can only say what the client believes).
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { DataBrokerService } from "../../gen/databroker/databroker_pb.js";
import { createDatabrokerService } from "../../src/server/databroker-service.js";
import { listenHttp2 } from "../../src/server/http2-listener.js";
import { jwtAuthInterceptor, jwtFieldContextValues } from "../../src/server/jwt-auth-interceptor.js";
import { DatabrokerStorage } from "../../src/server/storage/databroker-storage.js";
import type { StreamSignals } from "../../src/server/stream-signals.js";
import { parseSharedSecret } from "../../src/transport/shared-secret.js";

/** One call as the server saw it. */
export interface CountedCall {
  /** The method's name: "Sync", "SyncLatest", "Put", ... */
  readonly method: string;
  /** The request's `type` field for the methods that have one (Sync, SyncLatest, Query, ...). */
  readonly type: string | undefined;
  /** For Sync: the position it resumes from. */
  readonly recordVersion: bigint | undefined;
  /** performance.now() when the call arrived. */
  readonly at: number;
  /** How it ended: "OK", a gRPC code name ("Aborted", "Unauthenticated", ...); undefined while it runs. */
  outcome: string | undefined;
  /** The error message, when it failed. */
  message: string | undefined;
}

export interface CountingDatabroker {
  readonly url: string;
  readonly port: number;
  /** Every call received, in arrival order. */
  readonly calls: readonly CountedCall[];
  /** How many calls of `method` (and of `type`, when given) arrived so far. */
  count(method: string, type?: string): number;
  /** Sync and SyncLatest streams the service is running right now (its own registry). */
  readonly openStreams: number;
  /** The current server version (a Clear changes it). */
  readonly serverVersion: bigint;
  /** Drops every change but the newest, as if all were older than the retention. */
  compactNow(): void;
  /** Ends every stream (UNAVAILABLE, as our server's shutdown) and closes the listener. */
  close(): Promise<void>;
}

export interface CountingDatabrokerOptions {
  /** Default 0 = ephemeral; give the port of a closed instance to restart "on the same port". */
  readonly port?: number;
}

export async function startCountingDatabroker(sharedSecret: string, options: CountingDatabrokerOptions = {}): Promise<CountingDatabroker> {
  const storage = new DatabrokerStorage({});
  const streams = new Set<StreamSignals>();
  const calls: CountedCall[] = [];
  const counting: Interceptor = (next) => async (req) => {
    const at = performance.now();
    // Every DataBrokerService method takes exactly one request message: for the streaming ones
    // it is read here (as the handler would) and handed on unchanged.
    const message = req.stream ? await single(req.message) : req.message;
    const call: CountedCall = { method: req.method.name, type: fieldOf(message, "type"), recordVersion: req.method.name === "Sync" ? fieldOf(message, "recordVersion") : undefined, at, outcome: undefined, message: undefined };
    calls.push(call);
    const ended = (error: unknown) => {
      if (error === undefined) {
        call.outcome = "OK";
        return;
      }
      const e = ConnectError.from(error);
      call.outcome = Code[e.code];
      call.message = e.rawMessage;
    };
    try {
      const res = req.stream ? await next({ ...req, message: createAsyncIterable([message]) }) : await next(req);
      if (!res.stream) {
        ended(undefined);
        return res;
      }
      return { ...res, message: observed(res.message, ended) };
    } catch (error) {
      ended(error);
      throw error;
    }
  };
  const protectedServices = new Set([DataBrokerService.typeName]);
  const listener = await listenHttp2({
    host: "127.0.0.1",
    port: options.port ?? 0,
    routes: (router) => router.service(DataBrokerService, createDatabrokerService({ storage, streams })),
    interceptors: [counting, jwtAuthInterceptor(parseSharedSecret(sharedSecret), protectedServices)],
    readMaxBytes: 4 * 1024 * 1024,
    knownServices: protectedServices,
    // The JWT check reads the first `jwt` header field, which the listener puts into the context.
    contextValues: jwtFieldContextValues,
  });
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${listener.port}`,
    port: listener.port,
    calls,
    count: (method, type) => calls.filter((c) => c.method === method && (type === undefined || c.type === type)).length,
    get openStreams() {
      return streams.size;
    },
    get serverVersion() {
      return storage.serverVersion;
    },
    compactNow: () => storage.compactAll(),
    close() {
      closing ??= (async () => {
        for (const s of [...streams]) s.end("shutdown");
        await listener.close();
      })();
      return closing;
    },
  };
}

async function single<T>(messages: AsyncIterable<T>): Promise<T> {
  const read: T[] = [];
  for await (const m of messages) read.push(m);
  if (read.length !== 1) throw new ConnectError(`expected one request message, got ${read.length}`, Code.Unimplemented);
  return read[0]!;
}

function fieldOf<T>(message: unknown, field: string): T | undefined {
  return typeof message === "object" && message !== null && field in message ? ((message as Record<string, unknown>)[field] as T) : undefined;
}

/** Passes a response stream through and reports how it ended (undefined = OK). */
async function* observed<T>(messages: AsyncIterable<T>, ended: (error: unknown) => void): AsyncGenerator<T> {
  let finished = false;
  try {
    yield* messages;
    finished = true;
    ended(undefined);
  } catch (error) {
    finished = true;
    ended(error);
    throw error;
  } finally {
    // Stopped from outside (the client went away while a message was being written).
    if (!finished) ended(new ConnectError("stream stopped by the transport", Code.Canceled));
  }
}
