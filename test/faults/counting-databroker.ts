/**
 * Our in-memory databroker's own parts (service, JWT check, listener) with one more interceptor in
 * front that counts every call that reaches the server, authenticated or not: the server-side
 * attempt counter the wrong-secret scenario needs (the proxy counts connections, and HTTP/2 reuses
 * one connection for every retry).
 */
import type { Interceptor } from "@connectrpc/connect";
import { CheckpointService, DataBrokerService } from "../../gen/databroker/databroker_pb.js";
import { createDatabrokerService } from "../../src/server/databroker-service.js";
import { listenHttp2 } from "../../src/server/http2-listener.js";
import { jwtAuthInterceptor } from "../../src/server/jwt-auth-interceptor.js";
import { DatabrokerStorage } from "../../src/server/storage/databroker-storage.js";
import type { StreamSignals } from "../../src/server/stream-signals.js";
import { parseSharedSecret } from "../../src/transport/shared-secret.js";

export interface CountingDatabroker {
  readonly url: string;
  /** Calls received, by method name ("Sync", "SyncLatest", ...), with when (performance.now()). */
  readonly calls: { method: string; at: number }[];
  close(): Promise<void>;
}

export async function startCountingDatabroker(sharedSecret: string): Promise<CountingDatabroker> {
  const storage = new DatabrokerStorage({});
  const streams = new Set<StreamSignals>();
  const calls: { method: string; at: number }[] = [];
  const counting: Interceptor = (next) => async (req) => {
    calls.push({ method: req.method.name, at: performance.now() });
    return next(req);
  };
  const protectedServices = new Set([DataBrokerService.typeName, CheckpointService.typeName]);
  const listener = await listenHttp2({
    host: "127.0.0.1",
    port: 0,
    routes: (router) => router.service(DataBrokerService, createDatabrokerService({ storage, streams })),
    interceptors: [counting, jwtAuthInterceptor(parseSharedSecret(sharedSecret), protectedServices)],
    readMaxBytes: 4 * 1024 * 1024,
    knownServices: protectedServices,
  });
  return {
    url: `http://127.0.0.1:${listener.port}`,
    calls,
    async close() {
      for (const s of [...streams]) s.end("shutdown");
      await listener.close();
    },
  };
}
