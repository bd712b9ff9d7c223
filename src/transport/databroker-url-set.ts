/**
 * Several databroker URLs tried in order. The set hands out the connection for the current
 * URL; when a caller reports that connection as failed, the set moves on to the next URL
 * (wrapping around). Transports are created lazily, one per URL, and closed together.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { createCheckpointClient, createDataBrokerClient, type CheckpointClient, type DataBrokerClient } from "./databroker-clients.js";
import { createDatabrokerTransport, parseDatabrokerUrl, pingSettings, type DatabrokerTransport, type DatabrokerTransportOptions } from "./databroker-transport.js";
import { parseSharedSecret } from "./shared-secret.js";
import { http2OptionsFor } from "./tls-options.js";

/** One URL's connection with its typed clients. */
export interface DatabrokerConnection {
  readonly url: string;
  /** Position of this URL in the configured list. */
  readonly index: number;
  readonly transport: DatabrokerTransport;
  readonly dataBroker: DataBrokerClient;
  readonly checkpoint: CheckpointClient;
  /**
   * How many times this client has reset the connection (failover). A stream opened before a
   * reset that then fails failed because of it, not because of the server (see the sync loop).
   */
  readonly resets: number;
}

export interface DatabrokerUrlSet {
  readonly urls: readonly string[];
  /** The connection to use now. */
  current(): DatabrokerConnection;
  /**
   * Reports that `failed` could not be reached. If it is still the current one, its
   * connection is dropped and the next URL becomes current. Returns the new current.
   */
  failover(failed: DatabrokerConnection): DatabrokerConnection;
  /**
   * Reports that `refused` answered but cannot serve now (a cluster node without a leader). If
   * it is still the current one, the next URL becomes current; its connection is kept.
   */
  moveOn(refused: DatabrokerConnection): DatabrokerConnection;
  /** Closes every transport (see DatabrokerTransport.close); current() throws at once. */
  close(): Promise<void>;
  /** True once close() has run. */
  readonly closed: boolean;
}

/**
 * Validates everything up front (secret, URLs, TLS and ping settings): a bad secret throws
 * SharedSecretError, a bad URL or setting ConnectError(InvalidArgument).
 */
export function createDatabrokerUrlSet(urls: readonly string[], options: DatabrokerTransportOptions): DatabrokerUrlSet {
  if (urls.length === 0) throw new ConnectError("at least one databroker URL is required", Code.InvalidArgument);
  parseSharedSecret(options.sharedSecret);
  const normalized = urls.map((u) => {
    const parsed = parseDatabrokerUrl(u);
    http2OptionsFor(parsed, options.tls);
    return parsed.origin;
  });
  // Fail on bad ping settings now rather than on first use.
  pingSettings(options);

  const connections: Array<{ -readonly [K in keyof DatabrokerConnection]: DatabrokerConnection[K] } | undefined> = normalized.map(() => undefined);
  let index = 0;
  let closed = false;

  const connectionAt = (i: number): DatabrokerConnection => {
    const existing = connections[i];
    if (existing) return existing;
    const transport = createDatabrokerTransport(normalized[i]!, options);
    const created = {
      url: transport.url,
      index: i,
      transport,
      dataBroker: createDataBrokerClient(transport.transport),
      checkpoint: createCheckpointClient(transport.transport),
      resets: 0,
    };
    connections[i] = created;
    return created;
  };

  const assertOpen = () => {
    if (closed) throw new ConnectError("databroker URL set is closed", Code.Canceled);
  };

  return {
    urls: normalized,
    current() {
      assertOpen();
      return connectionAt(index);
    },
    failover(failed) {
      assertOpen();
      const held = connections[index];
      if (failed.index === index && held === failed) {
        held.resets++;
        held.transport.resetConnection();
        index = (index + 1) % normalized.length;
      }
      return connectionAt(index);
    },
    moveOn(refused) {
      assertOpen();
      if (refused.index === index && connections[index] === refused) index = (index + 1) % normalized.length;
      return connectionAt(index);
    },
    async close() {
      closed = true;
      await Promise.all(connections.map((c) => c?.transport.close()));
    },
    get closed() {
      return closed;
    },
  };
}
