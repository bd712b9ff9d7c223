/**
 * Where the loop gets its streams. The loop only needs "open SyncLatest" and "open Sync" on
 * the current databroker, and a way to say the current one failed; tests inject scripted
 * fakes, production adapts a DatabrokerUrlSet.
 */
import { DataBrokerService, type SyncLatestResponse, type SyncResponse } from "../../gen/databroker/databroker_pb.js";
import type { DatabrokerConnection, DatabrokerUrlSet } from "../transport/databroker-url-set.js";
import { openServerStream } from "../transport/server-stream.js";
import { CLUSTER_REQUEST_MODE_HEADER, type ClusterSyncMode } from "./cluster-options.js";

/** What a cluster node says about itself (see SyncStreamSource.checkNode). */
export interface NodeCheck {
  /** The server version the node's streams are in now (the leader's in default mode, its own in local mode). */
  readonly serverVersion: bigint;
  /** Local mode: how many record versions the node has not copied from the leader yet, when known. */
  readonly behindLeader: bigint | undefined;
}

export interface SyncStreamSource {
  /** Shown on the state stream. */
  readonly url: string;
  /**
   * Bumped each time this client resets the source's connection (after another stream's
   * connection failure): a stream opened before a bump that then fails was cut by us.
   */
  readonly resets: number;
  /** Resolves once the connection to this databroker is up; rejects with why it is not. */
  connect(): Promise<void>;
  syncLatest(type: string, signal: AbortSignal): AsyncIterable<SyncLatestResponse>;
  /** `wait` false: the server sends the backlog and ends the stream (default true: it stays open). */
  sync(request: { serverVersion: bigint; recordVersion: bigint; type: string; wait?: boolean }, signal: AbortSignal): AsyncIterable<SyncResponse>;
  /** The cluster request mode the streams are sent with; undefined outside a cluster setting. */
  readonly requestMode?: ClusterSyncMode;
  /**
   * Asks the node which server version its streams are in now (a live stream whose version
   * differs, or a node that lost its leader, no longer receives changes). Rejects with the
   * node's answer (e.g. CLUSTER_HAS_NO_LEADER).
   */
  checkNode?(signal: AbortSignal, timeoutMs: number): Promise<NodeCheck>;
}

export interface SyncSourceProvider {
  current(): SyncStreamSource;
  /** The source's connection failed (refused, reset, TLS): move on to the next URL. */
  reportConnectionFailure(source: SyncStreamSource): void;
  /**
   * The source answered but cannot serve (a cluster node without a leader): move on to the next
   * URL, keeping the source's connection (the node is up; other streams on it are fine).
   */
  reportRefusal?(source: SyncStreamSource): void;
}

class UrlSetSource implements SyncStreamSource {
  readonly #headers: Record<string, string> | undefined;

  constructor(
    readonly connection: DatabrokerConnection,
    readonly requestMode: ClusterSyncMode | undefined,
  ) {
    this.#headers = requestMode === "local" ? { [CLUSTER_REQUEST_MODE_HEADER]: "local" } : undefined;
  }

  get url(): string {
    return this.connection.url;
  }

  get resets(): number {
    return this.connection.resets;
  }

  connect(): Promise<void> {
    return this.connection.transport.connect();
  }

  // The streams go straight to the transport (server-stream.ts): the generated client's wrapper
  // costs a few promises per message, and a snapshot is a message per record.
  syncLatest(type: string, signal: AbortSignal): AsyncIterable<SyncLatestResponse> {
    return openServerStream(this.connection.transport.transport, DataBrokerService.method.syncLatest, { type }, { signal, headers: this.#headers });
  }

  sync(request: { serverVersion: bigint; recordVersion: bigint; type: string; wait?: boolean }, signal: AbortSignal): AsyncIterable<SyncResponse> {
    // wait=true unless asked otherwise: stay open and stream changes as they happen.
    return openServerStream(this.connection.transport.transport, DataBrokerService.method.sync, { ...request, wait: request.wait ?? true }, { signal, headers: this.#headers });
  }

  async checkNode(signal: AbortSignal, timeoutMs: number): Promise<NodeCheck> {
    const own = await this.connection.dataBroker.serverInfo({}, { signal, timeoutMs, headers: this.#headers });
    if (this.requestMode !== "local") return { serverVersion: own.serverVersion, behindLeader: undefined };
    // A node's checkpoint is the leader's (server version, record version) it has copied up to;
    // ServerInfo in default mode is forwarded to the leader.
    let behindLeader: bigint | undefined;
    try {
      const [checkpoint, leader] = await Promise.all([
        this.connection.checkpoint.getCheckpoint({}, { signal, timeoutMs }),
        this.connection.dataBroker.serverInfo({}, { signal, timeoutMs }),
      ]);
      const copied = checkpoint.checkpoint;
      if (copied !== undefined && copied.serverVersion === leader.serverVersion) {
        behindLeader = leader.latestRecordVersion > copied.recordVersion ? leader.latestRecordVersion - copied.recordVersion : 0n;
      }
    } catch {
      // The leader is out of reach from this node: how far behind is not knowable now.
    }
    return { serverVersion: own.serverVersion, behindLeader };
  }
}

/**
 * Adapts a URL set: the current URL's clients, failover on connection failures. With a
 * `requestMode` (a cluster), the streams carry it and the sources can check their node.
 */
export function syncSourcesFromUrlSet(urlSet: DatabrokerUrlSet, requestMode?: ClusterSyncMode): SyncSourceProvider {
  const sources = new WeakMap<DatabrokerConnection, UrlSetSource>();
  const sourceFor = (connection: DatabrokerConnection): UrlSetSource => {
    let source = sources.get(connection);
    if (!source) {
      source = new UrlSetSource(connection, requestMode);
      sources.set(connection, source);
    }
    return source;
  };
  return {
    current: () => sourceFor(urlSet.current()),
    reportConnectionFailure(source) {
      // After close there is nothing to fail over to; a late report (a connect attempt that
      // failed as the cache closed) must not throw inside the loop's RxJS callbacks.
      if (source instanceof UrlSetSource && !urlSet.closed) urlSet.failover(source.connection);
    },
    reportRefusal(source) {
      if (source instanceof UrlSetSource && !urlSet.closed) urlSet.moveOn(source.connection);
    },
  };
}
