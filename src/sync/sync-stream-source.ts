/**
 * Where the loop gets its streams. The loop only needs "open SyncLatest" and "open Sync" on
 * the current databroker, and a way to say the current one failed; tests inject scripted
 * fakes, production adapts a DatabrokerUrlSet.
 */
import type { SyncLatestResponse, SyncResponse } from "../../gen/databroker/databroker_pb.js";
import type { DatabrokerConnection, DatabrokerUrlSet } from "../transport/databroker-url-set.js";

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
}

export interface SyncSourceProvider {
  current(): SyncStreamSource;
  /** The source's connection failed (refused, reset, TLS): move on to the next URL. */
  reportConnectionFailure(source: SyncStreamSource): void;
}

class UrlSetSource implements SyncStreamSource {
  constructor(readonly connection: DatabrokerConnection) {}

  get url(): string {
    return this.connection.url;
  }

  get resets(): number {
    return this.connection.resets;
  }

  connect(): Promise<void> {
    return this.connection.transport.connect();
  }

  syncLatest(type: string, signal: AbortSignal): AsyncIterable<SyncLatestResponse> {
    return this.connection.dataBroker.syncLatest({ type }, { signal });
  }

  sync(request: { serverVersion: bigint; recordVersion: bigint; type: string; wait?: boolean }, signal: AbortSignal): AsyncIterable<SyncResponse> {
    // wait=true unless asked otherwise: stay open and stream changes as they happen.
    return this.connection.dataBroker.sync({ ...request, wait: request.wait ?? true }, { signal });
  }
}

/** Adapts a URL set: the current URL's clients, failover on connection failures. */
export function syncSourcesFromUrlSet(urlSet: DatabrokerUrlSet): SyncSourceProvider {
  const sources = new WeakMap<DatabrokerConnection, UrlSetSource>();
  const sourceFor = (connection: DatabrokerConnection): UrlSetSource => {
    let source = sources.get(connection);
    if (!source) {
      source = new UrlSetSource(connection);
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
  };
}
