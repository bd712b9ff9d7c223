/**
 * The facade: createDatabrokerCache wires the URL set (transport, failover), one sync loop per
 * mirrored type, the replica, change fan-out, waiters, metrics and logging, and exposes
 * synchronous reads that go straight to the replica.
 *
 * Lifecycle (explicit, one direction): "syncing" -> "closed". Readiness is separate and sticky.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { BehaviorSubject, Observable, concat, defer, distinctUntilChanged, map, of } from "rxjs";
import type { QueryResponse } from "../../gen/databroker/databroker_pb.js";
import type { Session } from "../../gen/session/session_pb.js";
import type { ServiceAccount, User } from "../../gen/user/user_pb.js";
import type { Message } from "@bufbuild/protobuf";
import { SESSION_TYPE, USER_TYPE } from "../records/type-urls.js";
import { CachedRecord, compareVersion } from "../replica/cached-record.js";
import type { ChangeBatch } from "../replica/change-batch.js";
import { EMAIL_INDEX, USER_ID_INDEX } from "../replica/index-definitions.js";
import { rawRecordFromRecord } from "../replica/raw-record.js";
import { Replica, type LocalQueryRequest, type ValidityOptions } from "../replica/replica.js";
import { replicaTarget } from "../sync/replica-target.js";
import { SyncLoop, type SyncStatus } from "../sync/sync-loop.js";
import { syncSourcesFromUrlSet } from "../sync/sync-stream-source.js";
import { resolveClusterOptions } from "../sync/cluster-options.js";
import { createDataBrokerClient, type DataBrokerClient } from "../transport/databroker-clients.js";
import { createDatabrokerUrlSet, type DatabrokerUrlSet } from "../transport/databroker-url-set.js";
import { cacheLog, type CacheLog } from "../observability/cache-logger.js";
import { SyncerMetrics, recordTypeAttribute } from "../observability/syncer-metrics.js";
import type { RecordProjection } from "../records/record-projection.js";
import { resolveCacheOptions, type DatabrokerCacheOptions } from "./cache-options.js";
import type { CacheState, CacheStreamState } from "./cache-state.js";
import { ChangeHub } from "./change-hub.js";
import type { CacheChange } from "./change-buffer.js";
import { currentUrlTransport } from "./current-url-transport.js";
import type { DatabrokerVersion } from "./databroker-version.js";
import { Waiters, type WaitOptions } from "./waiters.js";
import { StaleCacheError } from "./stale-cache-error.js";
import { StalenessBound, resolveStalenessOptions } from "./staleness-bound.js";
import { SnapshotKeeper } from "../snapshot-file/snapshot-keeper.js";
import { snapshotKey } from "../snapshot-file/snapshot-key.js";
import type { SnapshotReadiness } from "../snapshot-file/snapshot-options.js";

/**
 * How far a cached answer can be trusted for a read-your-writes version:
 * - "fresh": the cache holds the same server version, and the record held is at least that
 *   record version or the type's stream has delivered every change up to it;
 * - "stale": same server version, but the stream has not reached the version yet (Pomerium's
 *   SyncQuerier rule `latest < hint`: do not answer from the cache);
 * - "unknown": the type has no snapshot yet (not mirrored, or not ready), or the version belongs
 *   to another server version than the one the cache holds (the write was made before a Clear or
 *   restart, or the cache has not resynced to the new server yet): the cache cannot tell.
 */
export type Freshness = "fresh" | "stale" | "unknown";

export interface Lookup {
  readonly freshness: Freshness;
  readonly record: CachedRecord | undefined;
}

export interface VersionOptions {
  /** The version the caller needs reflected (e.g. from a Put response or a session handle). */
  readonly minVersion?: DatabrokerVersion;
}

export interface WaitForVersionOptions extends WaitOptions {
  /** The type whose stream must reach the version; required when more than one type is mirrored. */
  readonly type?: string;
}

export interface ConsistentReadOptions extends VersionOptions {
  /** How long to wait for the stream to catch up before asking the server. Default 0 (no wait). */
  readonly waitMs?: number;
  readonly signal?: AbortSignal;
}

export interface ConsistentRead {
  /** "cache" when the replica was fresh for the version; "server" when a Query answered. */
  readonly source: "cache" | "server";
  /** The live record, or undefined when it does not exist (or is deleted). */
  readonly record: CachedRecord | undefined;
}

export interface ReadyOptions extends WaitOptions {}

/** The public face of the SDK: see createDatabrokerCache. */
export interface DatabrokerCache {
  /**
   * Resolves once every mirrored type has its first snapshot; sticky (a later resync never makes
   * reads fail or go empty). Rejects with ConnectError DeadlineExceeded on timeout (the message
   * says what each stream is doing, e.g. a shared-secret error), Canceled on abort or once the
   * cache is closed. Reads never wait: before ready they answer from an empty cache.
   */
  ready(options?: ReadyOptions): Promise<void>;
  /** Sticky readiness, synchronously. */
  readonly isReady: boolean;

  /**
   * The session, or undefined when absent or invalid (expired) unless `includeInvalid`. Every
   * reader gets the same deep-frozen message (no copy per read): to change it, `clone` it first.
   */
  getSession(id: string, options?: ValidityOptions): Readonly<Session> | undefined;
  /** The user (deep-frozen, shared by every reader, like getSession's answer). */
  getUser(id: string): Readonly<User> | undefined;
  /** The service account, or undefined when absent or expired unless `includeInvalid` (deep-frozen). */
  getServiceAccount(id: string, options?: ValidityOptions): Readonly<ServiceAccount> | undefined;
  /** Any mirrored record (frozen; its `message` decodes lazily, once, and is deep-frozen). */
  get(type: string, id: string): CachedRecord | undefined;
  /**
   * Ids under `key` in a named index: a live read-only view (not a Set: nothing can add to or
   * delete from it), copy it to keep it. Empty, like a key nothing is under, for an index name
   * the type does not have (yet): a named index neither built in nor added, or a field the
   * server does not index (the server's indexable fields are known only once its records are).
   * @throws ConnectError Unavailable while an index added to a held table is still being built
   */
  byIndex(type: string, index: string, key: string): ReadonlySet<string>;
  /** Ids of the sessions of a user (live read-only view; read each with getSession). */
  sessionsByUser(userId: string): ReadonlySet<string>;
  userByEmail(email: string): Readonly<User> | undefined;
  /**
   * A local Query: same filter language, free-text match and paging as the server (limit 0 =
   * count only). The answer is the caller's own: its records' data bytes are copies.
   * @throws ConnectError InvalidArgument for a malformed filter or a field of the wrong kind
   *   (a filter value JSON has no form for, such as `undefined` or a bigint, is refused);
   *   Unimplemented for operators the server does not evaluate
   */
  query(type: string, request?: LocalQueryRequest): QueryResponse;
  /** The number of records held for a type. */
  size(type: string): number;

  /**
   * A read with its freshness for a read-your-writes version. Allocates its result: on a hot
   * path use freshness() and get() instead.
   */
  lookup(type: string, id: string, options?: VersionOptions): Lookup;
  /** Whether the type's stream is fresh for `minVersion` (see Freshness); allocation-free. */
  freshness(type: string, minVersion?: DatabrokerVersion): Freshness;
  /**
   * Resolves once the type's stream holds `version`'s server version and has delivered its
   * record version. Rejects with DeadlineExceeded on timeout (a version from a server version
   * the cache never reaches, e.g. written before a Clear, times out).
   */
  waitForVersion(version: DatabrokerVersion, options?: WaitForVersionOptions): Promise<void>;
  /**
   * Read-your-writes: answers from the cache when fresh for `minVersion`, else waits up to
   * `waitMs` for the stream, else asks the server (Query with the id/$index OR filter, limit 1,
   * as Pomerium's storage.GetDataBrokerRecord).
   */
  getConsistent(type: string, id: string, options?: ConsistentReadOptions): Promise<ConsistentRead>;

  /**
   * Change batches ("snapshot", "change", "resync") of one type, or of every mirrored type.
   * Hot; delivered asynchronously (never inside the sync loop). Each subscriber has a bounded
   * buffer (`subscriberBufferSize` batches and `subscriberBufferBytes` of record data): on
   * overflow its buffered batches are dropped and it receives one `{ kind: "overflow",
   * droppedBatches }` marker instead: re-read the cache then. Every subscriber receives the same
   * frozen batches. Completes on close.
   */
  changes$(type?: string): Observable<CacheChange>;
  /** The same as an async iterable pulled at the consumer's pace (same buffer and overflow policy). */
  changes(type?: string): AsyncIterable<CacheChange>;
  /**
   * The record's decoded message now (synchronously on subscribe) and after each change of its
   * version (undefined when absent or deleted), delivered like changes$. The messages are the
   * deep-frozen ones every reader shares. Completes on close.
   */
  watch$(type: string, id: string): Observable<Readonly<Message> | undefined>;
  /**
   * The cache's condition, replayed to each subscriber, then emitted synchronously on every
   * stream change (keep subscribers cheap: they run inside the sync loop's step); completes on close.
   */
  readonly state$: Observable<CacheState>;
  readonly state: CacheState;
  /**
   * Milliseconds since the cache was last known caught up with the databroker (its stalest
   * stream: a message received, a snapshot loaded, or a probe answered while quiet; see
   * `maxStalenessMs`), now; undefined until every mirrored type was caught up once.
   */
  stalenessMs(): number | undefined;

  /** The real-time DataBrokerService client over the same authenticated transport and URL failover. */
  readonly client: DataBrokerClient;

  /**
   * Ends every stream, timer and socket; pending waits reject with Canceled, observables and
   * iterators complete. Reads keep answering from the last state (nothing updates it). The
   * promise resolves once the connections are closed (after a short grace). Idempotent.
   */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

type Lifecycle = "syncing" | "closed";

/** Per mirrored type: its loop and what we learned about the server from it. */
interface TypeStream {
  readonly type: string;
  readonly loop: SyncLoop;
  status: SyncStatus;
  /** The newest version known to exist on the server (record versions only compare within a server version). */
  latestKnown: DatabrokerVersion | undefined;
  /** Clock reading when the stream last started connecting: a snapshot is as fresh as its request. */
  connectingAt: number | undefined;
  /** Where the stream started (undefined while the snapshot file is read), and the snapshot's age then. */
  startedFrom: "snapshot" | "server" | undefined;
  snapshotAgeMs: number | undefined;
}

const CLOSED = () => new ConnectError("databroker cache is closed", Code.Canceled);

class DatabrokerCacheImpl implements DatabrokerCache {
  #lifecycle: Lifecycle = "syncing";
  #closing: Promise<void> | undefined;
  #ready = false;
  readonly #types: readonly string[];
  readonly #projectData: RecordProjection | undefined;
  readonly #replica: Replica;
  readonly #urlSet: DatabrokerUrlSet;
  readonly #streams = new Map<string, TypeStream>();
  readonly #hub: ChangeHub;
  readonly #waiters = new Waiters();
  readonly #state$: BehaviorSubject<CacheState>;
  /**
   * The state: "current" while #state$ holds it; "outdated" after a change that nobody observed
   * (no state$ subscriber), rebuilt when next read or subscribed to. Every change passes through
   * here, and building the state (a frozen object per stream and one for the whole) is work
   * worth skipping while nobody looks.
   */
  #stateHeld: "current" | "outdated" = "current";
  readonly #log: CacheLog;
  readonly #metrics: SyncerMetrics;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => void this.close();
  readonly #unsubscribeReplica: () => void;
  readonly #now: () => number;
  readonly #staleness: StalenessBound;
  /** The warm-start file, when the `snapshot` option is given. */
  readonly #snapshot: SnapshotKeeper | undefined;
  readonly #snapshotReadiness: SnapshotReadiness;
  readonly client: DataBrokerClient;
  readonly state$: Observable<CacheState>;

  constructor(options: DatabrokerCacheOptions) {
    const resolved = resolveCacheOptions(options);
    const staleness = resolveStalenessOptions(options.maxStalenessMs, options.stalenessProbeIntervalMs);
    const clock = options.clock;
    this.#now = clock === undefined ? Date.now : () => clock.now();
    this.#types = resolved.types;
    this.#projectData = resolved.projectData;
    this.#log = cacheLog(options.logger);
    this.#metrics = new SyncerMetrics(options);
    this.#replica = new Replica({
      clock: options.clock,
      projectData: resolved.replicaProjectData,
      decodedMessageLimit: resolved.decodedMessageLimit,
      onListenerError: (error) => this.#log("error", "change listener failed", { error: errorMessage(error) }),
      // Never the id or the bytes: the version identifies the record on the server.
      onMalformedRecord: ({ type, version, dataLength }) => {
        this.#metrics.malformed(type);
        this.#log("warn", "skipped a record whose data is malformed", {
          "record-type": recordTypeAttribute(type),
          version: String(version),
          bytes: dataLength,
        });
      },
    });
    for (const [type, indexes] of Object.entries(options.indexes ?? {})) {
      // Throws ConnectError AlreadyExists for a name taken (built in: user_id, email).
      for (const [name, keys] of Object.entries(indexes)) this.#replica.addIndex(type, name, keys);
    }
    const cluster = options.cluster === undefined ? undefined : resolveClusterOptions(options.cluster);
    // Throws SharedSecretError / ConnectError(InvalidArgument) before anything connects.
    this.#urlSet = createDatabrokerUrlSet(resolved.urls, {
      sharedSecret: options.sharedSecret,
      tls: options.tls,
      pingIntervalMs: options.pingIntervalMs,
      pingTimeoutMs: options.pingTimeoutMs,
      implementation: resolved.transport,
      onWarning: (message, attributes) => this.#log("warn", message, attributes),
    });
    this.client = createDataBrokerClient(currentUrlTransport(this.#urlSet, () => this.#lifecycle === "closed"));
    this.#hub = new ChangeHub({ maxBatches: resolved.subscriberBufferSize, maxBytes: resolved.subscriberBufferBytes }, (type) => {
      this.#metrics.overflowed(type);
      this.#log("warn", "a change subscriber fell behind; its buffered batches were replaced by an overflow marker", {
        "record-type": type === undefined ? "all" : recordTypeAttribute(type),
      });
    });
    this.#unsubscribeReplica = this.#replica.subscribe((batch) => this.#onBatch(batch));

    const sources = syncSourcesFromUrlSet(this.#urlSet, cluster?.syncMode);
    try {
      for (const type of this.#types) {
        const loop = new SyncLoop({
          type,
          source: sources,
          idleTimeoutMs: options.idleTimeoutMs,
          connectTimeoutMs: options.connectTimeoutMs,
          retry: options.retry,
          refresh: options.streamRefresh,
          ...(cluster !== undefined ? { nodeCheckIntervalMs: cluster.leaderCheckIntervalMs } : {}),
          // SyncLatest streams into the replica batch by batch and completes in slices (no long
          // stall); changes apply in the step that advances the position (a refusal resyncs).
          replica: replicaTarget(this.#replica, {
            onApplied: (count, seconds) => {
              this.#metrics.updated(type, count, seconds);
              // The stream position may advance without a batch (replays, tombstones of unknown ids).
              this.#waiters.check();
            },
          }),
          onInternalError: (error) => this.#log("error", "sync loop caught an internal error", { "record-type": recordTypeAttribute(type), error: errorMessage(error) }),
        });
        this.#streams.set(type, { type, loop, status: loop.status, latestKnown: undefined, connectingAt: undefined, startedFrom: undefined, snapshotAgeMs: undefined });
      }
    } catch (error) {
      for (const s of this.#streams.values()) s.loop.close();
      this.#urlSet.close();
      throw error;
    }
    this.#staleness = new StalenessBound(this.#types, {
      ...staleness,
      now: this.#now,
      liveStreams: () => this.#liveStreams(undefined),
      probe: (timeoutMs) => this.#probe(timeoutMs),
      onStaleChange: () => this.#publishState(),
    });
    this.#snapshotReadiness = resolved.snapshot?.readiness ?? "caught-up";
    this.#snapshot =
      resolved.snapshot === undefined
        ? undefined
        : new SnapshotKeeper(resolved.snapshot, snapshotKey(options.sharedSecret, resolved.snapshot.key), projectionName(options, resolved.snapshot.projectionName), this.#types, this.#replica, {
            canWrite: () => this.#ready && [...this.#streams.values()].every((s) => s.status.caughtUp),
            onWritten: ({ durationMs, bytes, records, longestSliceMs }) => {
              this.#metrics.snapshotWritten(durationMs / 1000);
              this.#log("debug", "snapshot written", { records, bytes, durationMs: Math.round(durationMs), longestSliceMs: Math.round(longestSliceMs * 10) / 10 });
            },
            onWriteFailed: (message) => this.#log("warn", message),
          });
    this.#state$ = new BehaviorSubject(this.#buildState());
    // Each subscriber first brings the held state up to date, then gets it replayed.
    this.state$ = defer(() => {
      this.#refreshState();
      return this.#state$;
    });

    for (const stream of this.#streams.values()) {
      stream.loop.status$.subscribe((status) => this.#onStatus(stream, status));
    }
    this.#signal = options.signal;
    if (this.#signal?.aborted) {
      void this.close();
      return;
    }
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.#log("info", "databroker cache starting", { urls: this.#urlSet.urls.map(originOf).join(","), types: this.#types.map(recordTypeAttribute).join(",") });
    if (this.#snapshot === undefined) {
      for (const stream of this.#streams.values()) {
        stream.startedFrom = "server";
        stream.loop.start();
      }
    } else {
      void this.#warmStart(this.#snapshot);
    }
  }

  /**
   * Loads the snapshot file, then starts each stream from its saved position; a file that
   * cannot be used is one log line (why, never a secret) and a start from the server.
   */
  async #warmStart(keeper: SnapshotKeeper): Promise<void> {
    const load = await keeper.load((positions, ageMs) => {
      for (const stream of this.#streams.values()) {
        if (!positions.has(stream.type)) continue;
        stream.startedFrom = "snapshot";
        stream.snapshotAgeMs = ageMs;
      }
    });
    if (this.#lifecycle === "closed") return;
    if (load.loaded) {
      this.#metrics.snapshotLoaded();
      this.#log("info", "resumed from snapshot", { records: load.records, ageMs: Math.round(load.ageMs) });
    } else if (load.reason !== "missing") {
      this.#metrics.snapshotRejected(load.reason);
      this.#log("warn", `snapshot not used: ${load.message}; syncing from the server`, { reason: load.reason });
    }
    for (const stream of this.#streams.values()) {
      const from = load.loaded ? load.positions.get(stream.type) : undefined;
      stream.startedFrom = from === undefined ? "server" : "snapshot";
      stream.snapshotAgeMs = from === undefined || !load.loaded ? undefined : load.ageMs;
      stream.loop.start(from);
    }
    this.#publishState();
    keeper.startWriting();
  }

  // ---- readiness ----

  get isReady(): boolean {
    return this.#ready;
  }

  ready(options: ReadyOptions = {}): Promise<void> {
    if (this.#lifecycle === "closed") return Promise.reject(CLOSED());
    if (this.#ready) return Promise.resolve();
    return this.#waiters.wait(() => this.#ready, options, "databroker cache ready", () => this.#describeStreams());
  }

  // ---- synchronous reads: straight to the replica, nothing allocated here ----

  getSession(id: string, options?: ValidityOptions): Readonly<Session> | undefined {
    if (this.#staleness.maxStalenessMs !== undefined) this.#failIfStale();
    return this.#replica.getSession(id, options);
  }

  getUser(id: string): Readonly<User> | undefined {
    if (this.#staleness.maxStalenessMs !== undefined) this.#failIfStale();
    return this.#replica.getUser(id);
  }

  getServiceAccount(id: string, options?: ValidityOptions): Readonly<ServiceAccount> | undefined {
    if (this.#staleness.maxStalenessMs !== undefined) this.#failIfStale();
    return this.#replica.getServiceAccount(id, options);
  }

  get(type: string, id: string): CachedRecord | undefined {
    if (this.#staleness.maxStalenessMs !== undefined) this.#failIfStale();
    return this.#replica.get(type, id);
  }

  byIndex(type: string, index: string, key: string): ReadonlySet<string> {
    if (this.#staleness.maxStalenessMs !== undefined) this.#failIfStale();
    return this.#replica.byIndex(type, index, key);
  }

  sessionsByUser(userId: string): ReadonlySet<string> {
    if (this.#staleness.maxStalenessMs !== undefined) this.#failIfStale();
    return this.#replica.byIndex(SESSION_TYPE, USER_ID_INDEX, userId);
  }

  userByEmail(email: string): Readonly<User> | undefined {
    if (this.#staleness.maxStalenessMs !== undefined) this.#failIfStale();
    for (const id of this.#replica.byIndex(USER_TYPE, EMAIL_INDEX, email)) {
      const user = this.#replica.getUser(id);
      if (user !== undefined) return user;
    }
    return undefined;
  }

  query(type: string, request?: LocalQueryRequest): QueryResponse {
    if (this.#staleness.maxStalenessMs !== undefined) this.#failIfStale();
    return this.#replica.query(type, request);
  }

  size(type: string): number {
    if (this.#staleness.maxStalenessMs !== undefined) this.#failIfStale();
    return this.#replica.size(type);
  }

  // ---- read-your-writes ----

  lookup(type: string, id: string, options?: VersionOptions): Lookup {
    if (this.#staleness.maxStalenessMs !== undefined) this.#failIfStale();
    const record = this.#replica.get(type, id);
    const min = options?.minVersion;
    const freshness = this.#freshness(type, min);
    // A record held at or above the version is fresh, on the same server version only.
    if (freshness === "stale" && record !== undefined && min !== undefined && compareVersion(record, min.recordVersion) >= 0) return { freshness: "fresh", record };
    return { freshness, record };
  }

  freshness(type: string, minVersion?: DatabrokerVersion): Freshness {
    return this.#freshness(type, minVersion);
  }

  waitForVersion(version: DatabrokerVersion, options: WaitForVersionOptions = {}): Promise<void> {
    let type: string;
    try {
      type = this.#typeFor(options.type);
      checkVersion(version);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#waiters.wait(
      () => this.#freshness(type, version) === "fresh",
      options,
      `version ${version.recordVersion} of server version ${version.serverVersion} of ${recordTypeAttribute(type)}`,
      () => {
        const held = this.#replica.versions(type);
        return `stream at ${held === undefined ? "no snapshot" : `${held.recordVersion} of server version ${held.serverVersion}`}; ${this.#describeStreams()}`;
      },
    );
  }

  async getConsistent(type: string, id: string, options: ConsistentReadOptions = {}): Promise<ConsistentRead> {
    if (this.#lifecycle === "closed") throw CLOSED();
    const min = options.minVersion;
    if (min !== undefined) checkVersion(min);
    const first = this.#staleness.isStale() ? { freshness: "unknown" as const, record: undefined } : this.lookup(type, id, options);
    if (first.freshness === "fresh") return { source: "cache", record: first.record };
    const waitMs = options.waitMs ?? 0;
    if (waitMs > 0) {
      try {
        await this.#waiters.wait(
          () => this.#freshness(type, min) === "fresh",
          { timeoutMs: waitMs, signal: options.signal },
          "consistent read",
          () => "",
        );
        return { source: "cache", record: this.#replica.get(type, id) };
      } catch (error) {
        // Only a timeout falls through to the server; abort and close propagate.
        if (!(error instanceof ConnectError && error.code === Code.DeadlineExceeded)) throw error;
      }
    }
    const response = await this.client.query(
      {
        type,
        filter: { $or: [{ id }, { $index: id }] },
        limit: 1n,
        ...(min !== undefined && min.recordVersion > 0n ? { minimumRecordVersionHint: min.recordVersion } : {}),
      },
      { signal: options.signal },
    );
    if (this.#learnLatest(type, { serverVersion: response.serverVersion, recordVersion: response.recordVersion })) this.#publishState();
    const found = response.records[0];
    if (found === undefined || found.deletedAt !== undefined) return { source: "server", record: undefined };
    const raw = rawRecordFromRecord(found);
    let data = raw.data;
    if (this.#projectData !== undefined) {
      // The same projection as synced records; a failing one skips the record, as the replica does.
      try {
        data = this.#projectData(raw.typeUrl, raw.data);
      } catch {
        return { source: "server", record: undefined };
      }
    }
    return { source: "server", record: new CachedRecord(raw.type, raw.id, raw.version, raw.modifiedAt, raw.typeUrl, data) };
  }

  // ---- streams ----

  changes$(type?: string): Observable<CacheChange> {
    return this.#hub.observable(type);
  }

  changes(type?: string): AsyncIterable<CacheChange> {
    return this.#hub.iterable(type);
  }

  watch$(type: string, id: string): Observable<Readonly<Message> | undefined> {
    // Built on the hub: delivered outside the sync loop, bounded; an overflow marker just
    // triggers a re-read, which is all a watcher needs.
    return concat(of(undefined), this.#hub.observable(type)).pipe(
      map(() => this.#replica.get(type, id)),
      // Records are immutable per version: a new object means a new version (or a delete).
      distinctUntilChanged(),
      map((record) => record?.message),
    );
  }

  get state(): CacheState {
    this.#refreshState();
    return this.#state$.getValue();
  }

  stalenessMs(): number | undefined {
    return this.#staleness.stalenessMs();
  }

  // ---- closing ----

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#lifecycle = "closed";
    this.#signal?.removeEventListener("abort", this.#onAbort);
    // Cancels the streams; the connections close once those have finished (see the transport).
    for (const stream of this.#streams.values()) stream.loop.close();
    this.#staleness.close();
    // The final snapshot write (bounded by snapshot.closeWriteTimeoutMs) runs alongside.
    this.#closing = Promise.all([this.#urlSet.close(), this.#snapshot?.close()]).then(() => undefined);
    this.#unsubscribeReplica();
    this.#replica.close(); // no index build keeps a timer
    this.#waiters.close(CLOSED());
    this.#hub.close();
    this.#stateHeld = "current";
    this.#state$.next(this.#buildState());
    this.#state$.complete();
    this.#log("info", "databroker cache closed");
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- internals ----

  #typeFor(type: string | undefined): string {
    if (type !== undefined) return type;
    if (this.#types.length === 1) return this.#types[0]!;
    throw new ConnectError("waitForVersion: pass `type` (each mirrored type has its own stream position)", Code.InvalidArgument);
  }

  #freshness(type: string, min: DatabrokerVersion | undefined): Freshness {
    // Past the staleness bound the cache cannot tell (getConsistent then asks the server).
    if (!this.#replica.isReady(type) || this.#staleness.isStale()) return "unknown";
    if (min === undefined) return "fresh";
    const held = this.#replica.versions(type);
    if (held === undefined || held.serverVersion !== min.serverVersion) return "unknown";
    return held.recordVersion >= min.recordVersion ? "fresh" : "stale";
  }

  #onBatch(batch: ChangeBatch): void {
    const stream = this.#streams.get(batch.type) ?? this.#streams.get("");
    if (stream !== undefined) this.#learnLatest(stream.type, batch);
    if (this.#becameReady()) this.#publishState();
    this.#hub.publish(batch);
    this.#waiters.check();
  }

  /**
   * Ready once every type has its first snapshot, and (unless `snapshot.readiness` is
   * "snapshot") every stream started from the snapshot file has read the server's backlog.
   */
  #becameReady(): boolean {
    if (this.#ready || !this.#types.every((t) => this.#replica.isReady(t === "" ? undefined : t))) return false;
    if (this.#snapshotReadiness === "caught-up") {
      for (const s of this.#streams.values()) if (s.startedFrom !== "server" && !s.status.caughtUp) return false;
    }
    this.#ready = true;
    this.#log("info", "databroker cache ready");
    return true;
  }

  #onStatus(stream: TypeStream, status: SyncStatus): void {
    const previous = stream.status === status ? undefined : stream.status;
    stream.status = status;
    this.#noteCaughtUp(stream, previous, status);
    if (stream.startedFrom === "snapshot" && !status.caughtUp && previous?.serverVersion !== undefined && status.serverVersion === undefined) {
      // The server refused the saved position (another server version, a compacted log).
      this.#metrics.snapshotRejected("aborted");
      this.#log("warn", `snapshot position not accepted by the server (${status.lastError ?? "aborted"}); syncing from the server`, { "record-type": recordTypeAttribute(stream.type), reason: "aborted" });
    }
    this.#becameReady();
    this.#metrics.status(stream.type, previous, status);
    if (previous?.state !== status.state) {
      const attributes = { "record-type": recordTypeAttribute(stream.type), state: status.state, url: status.url, attempt: status.attempt };
      if (status.state === "backing-off") this.#log("warn", `sync stream failed: ${status.lastError ?? "unknown error"}`, { ...attributes, retryInMs: status.retryInMs });
      else this.#log("debug", `sync stream ${status.state}`, attributes);
    }
    if (this.#lifecycle === "closed") return;
    this.#publishState();
    this.#waiters.check();
  }

  // ---- staleness (see staleness-bound.ts) ----

  #failIfStale(): void {
    if (this.#staleness.isStale()) throw new StaleCacheError(this.#staleness.stalenessMs(), this.#staleness.maxStalenessMs!);
  }

  /** A snapshot in counts as of its request; a message on a live stream as of its arrival. */
  #noteCaughtUp(stream: TypeStream, previous: SyncStatus | undefined, status: SyncStatus): void {
    if (status.state === "connecting" && previous?.state !== "connecting") stream.connectingAt = this.#now();
    // A warm start's backlog (read from a saved position) proves nothing until it has all come in.
    if (status.state !== "live" || !status.caughtUp) return;
    const justCaughtUp = previous?.state === "snapshotting" || (previous?.state === "live" && !previous.caughtUp);
    if (justCaughtUp && stream.connectingAt !== undefined) this.#staleness.confirm(stream.type, stream.connectingAt);
    if (status.lastMessageAt !== undefined && status.lastMessageAt !== previous?.lastMessageAt) this.#staleness.confirm(stream.type, this.#now());
  }

  /** Types whose stream is live now (on `url`, when given). */
  #liveStreams(url: string | undefined): string[] {
    const live: string[] = [];
    for (const s of this.#streams.values()) if (s.status.state === "live" && (url === undefined || s.status.url === url)) live.push(s.type);
    return live;
  }

  /** ServerInfo on the current connection; confirms the streams live on it before and after. */
  #probe(timeoutMs: number): Promise<readonly string[]> {
    if (this.#lifecycle === "closed") throw CLOSED();
    const url = this.#urlSet.current().url;
    const before = this.#liveStreams(url);
    return this.client.serverInfo({}, { timeoutMs }).then(() => {
      const after = this.#liveStreams(url);
      return before.filter((type) => after.includes(type));
    });
  }

  /** Returns true when `version` is news: newer on the same server version, or another server version. */
  #learnLatest(type: string, version: DatabrokerVersion): boolean {
    const stream = this.#streams.get(type) ?? this.#streams.get("");
    if (stream === undefined) return false;
    const known = stream.latestKnown;
    if (known !== undefined && known.serverVersion === version.serverVersion && version.recordVersion <= known.recordVersion) return false;
    stream.latestKnown = { serverVersion: version.serverVersion, recordVersion: version.recordVersion };
    return true;
  }

  /** A change of the state: emitted at once to state$ subscribers; with none, built when next read. */
  #publishState(): void {
    if (this.#lifecycle === "closed") return;
    if (this.#state$.observed) {
      this.#stateHeld = "current";
      this.#state$.next(this.#buildState());
    } else {
      this.#stateHeld = "outdated";
    }
  }

  /** Brings #state$'s value up to date after changes nobody observed (it has no subscriber then). */
  #refreshState(): void {
    if (this.#stateHeld === "current") return;
    this.#stateHeld = "current";
    this.#state$.next(this.#buildState());
  }

  #buildState(): CacheState {
    const streams: CacheStreamState[] = [];
    for (const s of this.#streams.values()) {
      const held = this.#replica.versions(s.type);
      const recordVersion = held?.recordVersion;
      // Lag only compares versions of the server version the replica holds: after a Clear or
      // restart it starts over from the new server's versions.
      const known = s.latestKnown !== undefined && s.latestKnown.serverVersion === held?.serverVersion ? s.latestKnown.recordVersion : undefined;
      const latest = known === undefined || (recordVersion !== undefined && recordVersion > known) ? recordVersion : known;
      streams.push(Object.freeze({
        type: s.type,
        state: s.status.state,
        url: s.status.url,
        serverVersion: s.status.serverVersion,
        recordVersion,
        latestKnownRecordVersion: latest,
        lag: latest === undefined || recordVersion === undefined ? undefined : latest - recordVersion,
        attempt: s.status.attempt,
        lastError: s.status.lastError,
        lastMessageAt: s.status.lastMessageAt,
        retryInMs: s.status.retryInMs,
        caughtUpAt: this.#staleness.caughtUpAt(s.type),
        startedFrom: s.startedFrom,
        snapshotAgeMs: s.snapshotAgeMs,
        caughtUp: s.status.caughtUp,
        requestMode: s.status.requestMode,
        behindLeader: s.status.behindLeader,
      }));
    }
    // Every subscriber gets the same object: frozen, so none can change what another sees.
    return Object.freeze({
      ready: this.#ready,
      closed: this.#lifecycle === "closed",
      streams: Object.freeze(streams),
      stalenessMs: this.#staleness.stalenessMs(),
      maxStalenessMs: this.#staleness.maxStalenessMs,
      stale: this.#staleness.isStale(),
    });
  }

  #describeStreams(): string {
    return [...this.#streams.values()]
      .map((s) => `${recordTypeAttribute(s.type)}: ${s.status.state}${s.status.url ? ` ${s.status.url}` : ""}${s.status.lastError ? `, last error: ${s.status.lastError}` : ""}`)
      .join("; ");
  }
}

/** Versions are bigints (server versions exceed 2^53); anything else is a caller's mistake. */
function checkVersion(version: DatabrokerVersion): void {
  if (typeof version !== "object" || version === null || typeof version.serverVersion !== "bigint" || typeof version.recordVersion !== "bigint") {
    throw new ConnectError("a version is { serverVersion: bigint, recordVersion: bigint } (e.g. from a Put response)", Code.InvalidArgument);
  }
}

/** The projection's name in a snapshot file: "full", "lean", or the host's name for its function. */
function projectionName(options: DatabrokerCacheOptions, custom: string): string {
  const projection = options.projection ?? "full";
  return typeof projection === "function" ? `custom:${custom}` : projection;
}

/** A URL without path or credentials, for logs. */
function originOf(url: string): string {
  return new URL(url).origin;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Creates a cache and starts syncing at once. Reads are synchronous and never touch the network;
 * `await cache.ready()` before relying on them. Throws SharedSecretError for a bad secret and
 * ConnectError InvalidArgument for bad URLs or settings, before any network activity.
 */
export function createDatabrokerCache(options: DatabrokerCacheOptions): DatabrokerCache {
  return new DatabrokerCacheImpl(options);
}
