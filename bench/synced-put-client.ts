/**
 * The two clients the unary benches compare on one server: a synced cache (`cache.client`, whose
 * replica takes in the Sync change each Put causes), or the cache's default transport bare with a
 * Sync stream open whose changes are read and dropped (discarded-sync.ts: the transport's intake
 * of each change, no replica). Both resolve once ready (the cache synced, the stream open).
 */
import { createDatabrokerCache, DEFAULT_CACHE_TRANSPORT } from "../src/index.js";
import { createDatabrokerTransport } from "../src/transport/databroker-transport.js";
import { createDataBrokerClient } from "../src/transport/databroker-clients.js";
import type { Record as DatabrokerRecord } from "../gen/databroker/databroker_pb.js";
import { openDiscardedSync } from "./discarded-sync.js";

export type SyncedClientKind = "cache.client" | "transport+sync";

export interface SyncedPutClient {
  put(records: DatabrokerRecord[]): Promise<unknown>;
  close(): Promise<void>;
}

export async function openSyncedPutClient(kind: SyncedClientKind, url: string, sharedSecret: string): Promise<SyncedPutClient> {
  if (kind === "cache.client") {
    const cache = createDatabrokerCache({ url, sharedSecret, transport: DEFAULT_CACHE_TRANSPORT });
    await cache.ready({ timeoutMs: 300_000 });
    return { put: (records) => cache.client.put({ records }), close: () => cache.close() };
  }
  const transport = createDatabrokerTransport(url, { sharedSecret, implementation: DEFAULT_CACHE_TRANSPORT });
  await transport.connect();
  const client = createDataBrokerClient(transport.transport);
  const stopSync = await openDiscardedSync(client);
  return {
    put: (records) => client.put({ records }),
    close: async () => {
      await stopSync();
      await transport.close();
    },
  };
}
