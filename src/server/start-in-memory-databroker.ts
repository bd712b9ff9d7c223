/**
 * The public entry: an in-memory databroker with Pomerium's memory/file semantics, served over
 * h2c gRPC on loopback. For tests, the CLI's embedded default, and users' own tests.
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { CheckpointService, DataBrokerService } from "../../gen/databroker/databroker_pb.js";
import { parseSharedSecret } from "../transport/shared-secret.js";
import { createCheckpointService } from "./checkpoint-service.js";
import { createDatabrokerService } from "./databroker-service.js";
import { HealthService, registerHealthService } from "./health-service.js";
import { listenHttp2 } from "./http2-listener.js";
import { jwtAuthInterceptor, jwtFieldContextValues } from "./jwt-auth-interceptor.js";
import { DatabrokerStorage } from "./storage/databroker-storage.js";
import type { StreamSignals } from "./stream-signals.js";

export interface InMemoryDatabrokerOptions {
  /** Base64 of 32 bytes; checked with parseSharedSecret, whose clear error fails startup. */
  sharedSecret: string;
  /** Default "127.0.0.1". */
  host?: string;
  /** Default 0 = ephemeral. */
  port?: number;
  /** How long changes stay in the log; default 3_600_000 (Pomerium: 1 h). */
  changeRetentionMs?: number;
  /** Period of the cleaner (compaction + ttl); default 60_000 (Pomerium: every minute). */
  cleanupIntervalMs?: number;
  /** Largest request message accepted; default 4 MiB (grpc-go's default). */
  maxReceiveMessageBytes?: number;
  /** Initial server version; default a random non-zero uint64. */
  serverVersion?: bigint;
}

export interface RunningInMemoryDatabroker {
  /** "http://127.0.0.1:PORT" (h2c). */
  readonly url: string;
  readonly port: number;
  /** The current server version (changes after Clear). */
  readonly serverVersion: bigint;
  /** Drops every change but the newest, as if all were older than the retention. */
  compactNow(): void;
  /** One run of the periodic cleaner (retention + ttl), now. */
  cleanupNow(): void;
  /** Ends streams, timers and sockets; the process can exit afterwards. */
  close(): Promise<void>;
}

const DEFAULT_RETENTION_MS = 3_600_000;
const DEFAULT_CLEANUP_INTERVAL_MS = 60_000;
const DEFAULT_MAX_RECEIVE_BYTES = 4 * 1024 * 1024;

export async function startInMemoryDatabroker(options: InMemoryDatabrokerOptions): Promise<RunningInMemoryDatabroker> {
  const key = parseSharedSecret(options.sharedSecret);
  const host = options.host ?? "127.0.0.1";
  const retentionMs = options.changeRetentionMs ?? DEFAULT_RETENTION_MS;
  const cleanupIntervalMs = options.cleanupIntervalMs ?? DEFAULT_CLEANUP_INTERVAL_MS;
  const storage = new DatabrokerStorage(options.serverVersion === undefined ? {} : { serverVersion: options.serverVersion });
  const streams = new Set<StreamSignals>();
  const protectedServices = new Set([DataBrokerService.typeName, CheckpointService.typeName]);

  const routes = (router: ConnectRouter): void => {
    router.service(DataBrokerService, createDatabrokerService({ storage, streams }));
    router.service(CheckpointService, createCheckpointService(storage));
    registerHealthService(router);
  };
  const listener = await listenHttp2({
    host,
    port: options.port ?? 0,
    routes,
    interceptors: [jwtAuthInterceptor(key, protectedServices)],
    readMaxBytes: options.maxReceiveMessageBytes ?? DEFAULT_MAX_RECEIVE_BYTES,
    knownServices: new Set([...protectedServices, HealthService.typeName]),
    contextValues: jwtFieldContextValues,
  });

  const cleaner = setInterval(() => storage.clean(retentionMs), cleanupIntervalMs);
  cleaner.unref();

  let closing: Promise<void> | undefined;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${listener.port}`,
    port: listener.port,
    get serverVersion() {
      return storage.serverVersion;
    },
    compactNow: () => storage.compactAll(),
    cleanupNow: () => storage.clean(retentionMs),
    close() {
      closing ??= (async () => {
        clearInterval(cleaner);
        for (const stream of [...streams]) stream.end("shutdown");
        await listener.close();
      })();
      return closing;
    },
  };
}
