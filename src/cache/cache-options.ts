/** What createDatabrokerCache takes, and the checks that run before anything connects. */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Meter, MeterProvider } from "@opentelemetry/api";
import type { Clock } from "../records/clock.js";
import { projectionFunction, type ProjectionOption, type RecordProjection } from "../records/record-projection.js";
import { SERVICE_ACCOUNT_TYPE, SESSION_TYPE, USER_TYPE } from "../records/type-urls.js";
import { DEFAULT_DECODED_MESSAGE_LIMIT } from "../replica/decoded-messages.js";
import type { IndexFunction } from "../replica/index-definitions.js";
import type { RetryPolicy } from "../sync/retry-delay.js";
import type { StreamRefreshOptions } from "../sync/sync-loop.js";
import { DATABROKER_TRANSPORT_IMPLEMENTATIONS, MAX_TIMER_DELAY_MS, type DatabrokerTransportImplementation } from "../transport/databroker-transport.js";
import type { DatabrokerTlsOptions } from "../transport/tls-options.js";
import type { ClusterOptions } from "../sync/cluster-options.js";
import type { DatabrokerCacheLogger } from "../observability/cache-logger.js";
import type { StaleCacheError } from "./stale-cache-error.js";
import { DEFAULT_SUBSCRIBER_BUFFER_BYTES, DEFAULT_SUBSCRIBER_BUFFER_SIZE } from "./change-buffer.js";
import { resolveSnapshotOptions, type ResolvedSnapshotOptions, type SnapshotOptions } from "../snapshot-file/snapshot-options.js";

/** Sessions, users and service accounts: what an authorizer needs. */
/**
 * The transport a cache uses unless `transport` says otherwise: our own gRPC call layer on our
 * own HTTP/2 connection (no Node HTTP/2 client underneath), which answers a unary call from
 * Pomerium in 0.72x the time the same layer takes on Node's HTTP/2 client, and reads a snapshot at
 * 0.67x its client CPU per record (BENCHMARKS.md).
 */
export const DEFAULT_CACHE_TRANSPORT: DatabrokerTransportImplementation = "http2-frames";

export const DEFAULT_CACHE_TYPES: readonly string[] = Object.freeze([SESSION_TYPE, USER_TYPE, SERVICE_ACCOUNT_TYPE]);

export type RetryOptions = Partial<RetryPolicy>;

export interface DatabrokerCacheOptions {
  /** Databroker URLs (`http://` h2c or `https://`), tried in order; give this or `url`. */
  readonly urls?: readonly string[];
  /** A single databroker URL. */
  readonly url?: string;
  /** Pomerium's shared secret: base64 of 32 bytes. Never logged. */
  readonly sharedSecret: string;
  /** TLS for `https://` URLs: extra CA, server name override, client certificate. */
  readonly tls?: DatabrokerTlsOptions;
  /**
   * Record types (type URLs) to mirror, each on its own stream (as Pomerium's syncers do).
   * Default: sessions, users and service accounts. `[""]` mirrors every type on one stream.
   */
  readonly types?: readonly string[];
  /** Aborting it closes the cache. */
  readonly signal?: AbortSignal;
  readonly logger?: DatabrokerCacheLogger;
  /** OpenTelemetry meter to record on; else `meterProvider`'s; else the global provider's. */
  readonly meter?: Meter;
  readonly meterProvider?: MeterProvider;
  /**
   * Reconnect a stream silent for this long (Sync has no heartbeats). Default 10 minutes.
   * A positive number of milliseconds, at most 2147483647 (about 24.8 days: a Node timer waits no longer).
   */
  readonly idleTimeoutMs?: number;
  /**
   * Give up on connecting to a URL after this long and try the next. Default 10 s.
   * A positive number of milliseconds, at most 2147483647 (about 24.8 days: a Node timer waits no longer).
   */
  readonly connectTimeoutMs?: number;
  /**
   * Backoff settings (defaults as Pomerium's clients: 500 ms initial, 60 s cap; 5 s cap after a
   * connection failure, so a databroker that comes back is used again within 5 s).
   */
  readonly retry?: RetryOptions;
  /**
   * Each type's live Sync stream is restarted every `intervalMs` (default 60 s) from the position
   * it held `intervalMs + lateCommitGraceMs` (default 10 s) earlier. This bounds three gaps of
   * the databroker itself: a commit that becomes visible after a higher version was streamed
   * (Postgres under concurrent writers), options changed by SetOptions (sent only when a stream
   * starts), and a compaction that removed changes a slow stream had not read yet (the restart
   * gets ABORTED and resyncs). Re-read changes the cache already holds are recognised by version.
   */
  readonly streamRefresh?: StreamRefreshOptions;
  /** HTTP/2 keepalive; at least 5 minutes (Pomerium refuses more frequent pings). Default 6 minutes. */
  readonly pingIntervalMs?: number;
  readonly pingTimeoutMs?: number;
  /**
   * The HTTP/2 gRPC client under the generated Connect clients: "http2-frames" (this SDK's own
   * gRPC call layer on its own HTTP/2 connection; the fastest), "node-http2" (the same call layer
   * on node:http2, on connect-node's connection management), "grpc-js" (@grpc/grpc-js behind a
   * Connect Transport) or "connect-node" (@connectrpc/connect-node's gRPC transport). All four
   * pass the same test suites.
   * Default: see {@link DEFAULT_CACHE_TRANSPORT}.
   */
  readonly transport?: DatabrokerTransportImplementation;
  /**
   * Host-defined indexes: `{ [type]: { [indexName]: record => key(s) } }`, read with byIndex.
   * Built in: sessions and service accounts by "user_id", users by "email". A function that
   * throws for a record indexes it under no key and the error is logged; the record is still
   * cached (a host's bug never makes the cache fall behind the server).
   */
  readonly indexes?: Readonly<Record<string, Readonly<Record<string, IndexFunction>>>>;
  /**
   * Per-subscriber buffer of changes$/changes(), in batches (default 1024). On overflow the
   * buffered batches are dropped and replaced by one `{ kind: "overflow" }` marker.
   */
  readonly subscriberBufferSize?: number;
  /**
   * Per-subscriber buffer of changes$/changes(), in bytes of record data: the encoded data of
   * every upsert and delete in the buffered batches (default 64 MiB). A batch that would take a
   * non-empty buffer past it overflows the buffer like `subscriberBufferSize` does; a single
   * larger batch is still delivered to an empty buffer. So a stalled subscriber keeps at most
   * this much record data (plus one batch) alive.
   */
  readonly subscriberBufferBytes?: number;
  /**
   * How many records' decoded messages the cache keeps (default 16,384): those decoded most
   * recently. A record's data is decoded on its first read; a decoded session holds a few KB of
   * heap (about 5.8 KB for a demo session, three times its encoded bytes), so a cache that kept
   * every message read would grow to several times its data once every record had been read.
   * Past the limit, the oldest message is let go: a reader still holding it gets that same object
   * from the next read, and one nobody holds is collected and decoded again (equal, frozen) when
   * next read. Raise it when the hot set of records read is larger. A positive integer.
   */
  readonly decodedMessageLimit?: number;
  /** Time source for validity checks (sessions expire); for tests. */
  readonly clock?: Clock;
  /**
   * What the cache keeps of each record's data. "full" (the default) keeps every byte. "lean"
   * drops what an authorizer never reads: a session's raw ID token and OAuth access token, and
   * replaces a non-empty refresh token with the 1-byte placeholder "*" (so validity is unchanged);
   * other types are kept whole. A function `(typeUrl, data) => bytes` projects the encoded data
   * itself (compose with `leanProjection`); if it throws, the record is skipped like malformed
   * data. Applies to synced records and to getConsistent's server reads, not to `client`.
   */
  readonly projection?: ProjectionOption;
  /**
   * Fail closed past this staleness: every synchronous read throws {@link StaleCacheError} (a
   * ConnectError with Code.Unavailable) and assertion verification refuses with "cache-stale"
   * while the stalest mirrored stream was last known caught up more than this many
   * milliseconds ago (a message received, or a ServerInfo probe answered on the same connection
   * while the stream was quiet), and before the first snapshot. Default: no bound (reads always
   * answer; `state$` still shows the figure). Measured with `clock`.
   */
  readonly maxStalenessMs?: number;
  /**
   * With `maxStalenessMs`: how often a quiet live stream is probed (a ServerInfo call on its
   * connection). Default a quarter of `maxStalenessMs`, at least 10 ms.
   */
  readonly stalenessProbeIntervalMs?: number;
  /**
   * A warm start: keep an encrypted copy of the replica in a local file, and start from it (then
   * resume Sync from its saved positions) instead of downloading every record again. See the
   * README's "Warm start" section for its guarantees.
   */
  readonly snapshot?: SnapshotOptions;
  /**
   * Pomerium's clustered databroker: give every node's URL in `urls` (the nearest first) and
   * this. Each live stream then checks its node every `leaderCheckIntervalMs` (a stream a node
   * opened outlives the node's loss of its leader, and would go silent); `syncMode: "local"`
   * reads from the node's own copy instead of the leader. See the README's cluster section.
   */
  readonly cluster?: ClusterOptions;
}

export interface ResolvedCacheOptions {
  readonly urls: readonly string[];
  readonly types: readonly string[];
  readonly subscriberBufferSize: number;
  readonly subscriberBufferBytes: number;
  readonly decodedMessageLimit: number;
  /** undefined for "full": records are kept as received. The result may be kept as is. */
  readonly projectData: RecordProjection | undefined;
  /** The same for the replica, whose result is copied before the next call (no allocation for "lean"). */
  readonly replicaProjectData: RecordProjection | undefined;
  readonly transport: DatabrokerTransportImplementation;
  readonly snapshot: ResolvedSnapshotOptions | undefined;
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/**
 * A timeout option, when given, must be a positive number of milliseconds a timer can wait: a
 * longer one (or Infinity) would fire after 1 ms and turn an idle or connect timeout into a
 * reconnect loop.
 */
function checkTimeoutOption(name: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !(value > 0) || value > MAX_TIMER_DELAY_MS) {
    throw invalid(`\`${name}\` must be a positive number of milliseconds, at most ${MAX_TIMER_DELAY_MS} (about 24.8 days)`);
  }
}

/** Throws ConnectError InvalidArgument for settings that can never work. */
export function resolveCacheOptions(options: DatabrokerCacheOptions): ResolvedCacheOptions {
  if (options === null || typeof options !== "object") throw invalid("createDatabrokerCache needs an options object");
  if (options.urls !== undefined && options.url !== undefined) throw invalid("give either `url` or `urls`, not both");
  const urls = options.urls ?? (options.url !== undefined ? [options.url] : []);
  if (urls.length === 0) throw invalid("a databroker URL is required (`url` or `urls`)");
  const types = options.types ?? DEFAULT_CACHE_TYPES;
  if (types.length === 0) throw invalid("`types` must name at least one record type");
  if (new Set(types).size !== types.length) throw invalid("`types` lists a type twice");
  if (types.includes("") && types.length > 1) throw invalid('`types`: "" (every type) cannot be combined with other types');
  for (const t of types) if (typeof t !== "string") throw invalid("`types` must be type URL strings");
  checkTimeoutOption("idleTimeoutMs", options.idleTimeoutMs);
  checkTimeoutOption("connectTimeoutMs", options.connectTimeoutMs);
  const subscriberBufferSize = options.subscriberBufferSize ?? DEFAULT_SUBSCRIBER_BUFFER_SIZE;
  if (!Number.isInteger(subscriberBufferSize) || subscriberBufferSize < 1) throw invalid("`subscriberBufferSize` must be a positive integer");
  const subscriberBufferBytes = options.subscriberBufferBytes ?? DEFAULT_SUBSCRIBER_BUFFER_BYTES;
  if (!Number.isSafeInteger(subscriberBufferBytes) || subscriberBufferBytes < 1) throw invalid("`subscriberBufferBytes` must be a positive integer");
  const decodedMessageLimit = options.decodedMessageLimit ?? DEFAULT_DECODED_MESSAGE_LIMIT;
  if (!Number.isSafeInteger(decodedMessageLimit) || decodedMessageLimit < 1) throw invalid("`decodedMessageLimit` must be a positive integer");
  const projection = options.projection ?? "full";
  if (projection !== "full" && projection !== "lean" && typeof projection !== "function") {
    throw invalid('`projection` must be "full", "lean" or a function (typeUrl, data) => Uint8Array');
  }
  const projectData = typeof projection === "function" ? checkedProjection(projection) : projectionFunction(projection);
  const replicaProjectData = typeof projection === "function" ? projectData : projectionFunction(projection, true);
  const transport = options.transport ?? DEFAULT_CACHE_TRANSPORT;
  if (!DATABROKER_TRANSPORT_IMPLEMENTATIONS.includes(transport)) {
    throw invalid(`\`transport\` must be one of ${DATABROKER_TRANSPORT_IMPLEMENTATIONS.map((t) => JSON.stringify(t)).join(", ")}`);
  }
  const snapshot = options.snapshot === undefined ? undefined : resolveSnapshotOptions(options.snapshot);
  return { urls, types, subscriberBufferSize, subscriberBufferBytes, decodedMessageLimit, projectData, replicaProjectData, transport, snapshot };
}

/** A host's projection must return bytes; anything else counts as a failure (the record is skipped). */
function checkedProjection(project: RecordProjection): RecordProjection {
  return (typeUrl, data) => {
    const kept = project(typeUrl, data);
    if (!(kept instanceof Uint8Array)) throw new TypeError("the projection did not return a Uint8Array");
    return kept;
  };
}
