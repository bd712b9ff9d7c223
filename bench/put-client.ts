/**
 * The clients the Put benches compare on one server: a synced cache (`cache.client`, whose replica
 * takes in the Sync change each Put causes); a bare transport; or a bare transport with a Sync
 * stream open whose changes are read and dropped (discarded-sync.ts: the transport's intake of each
 * change, no replica). Each resolves once ready (the cache synced, the connection up, the stream
 * open), on the given transport implementation (default: the cache's).
 */
import { createDatabrokerCache, DEFAULT_CACHE_TRANSPORT, type DatabrokerTransportImplementation } from "../src/index.js";
import { createDatabrokerTransport } from "../src/transport/databroker-transport.js";
import { createDataBrokerClient } from "../src/transport/databroker-clients.js";
import type { Record as DatabrokerRecord } from "../gen/databroker/databroker_pb.js";
import { openDiscardedSync } from "./discarded-sync.js";

export type PutClientKind = "cache.client" | "transport" | "transport+sync";

export interface PutClient {
  put(records: DatabrokerRecord[]): Promise<unknown>;
  close(): Promise<void>;
}

export async function openPutClient(
  kind: PutClientKind,
  url: string,
  sharedSecret: string,
  implementation: DatabrokerTransportImplementation = DEFAULT_CACHE_TRANSPORT,
): Promise<PutClient> {
  if (kind === "cache.client") {
    const cache = createDatabrokerCache({ url, sharedSecret, transport: implementation });
    await cache.ready({ timeoutMs: 300_000 });
    return { put: (records) => cache.client.put({ records }), close: () => cache.close() };
  }
  const transport = createDatabrokerTransport(url, { sharedSecret, implementation });
  await transport.connect();
  const client = createDataBrokerClient(transport.transport);
  const stopSync = kind === "transport+sync" ? await openDiscardedSync(client) : async () => undefined;
  return {
    put: (records) => client.put({ records }),
    close: async () => {
      await stopSync();
      await transport.close();
    },
  };
}
