/**
 * What the sync tests share: the production wiring (createDatabrokerCache, public API only) over
 * each transport, recorded through its observables, and records of the three default types.
 */
import { createDatabrokerCache, type CachedRecord, type DatabrokerCache, type DatabrokerCacheOptions, type DatabrokerTransportImplementation } from "../../src/index.js";
import { DATABROKER_TRANSPORT_IMPLEMENTATIONS } from "../../src/transport/databroker-transport.js";
import { FAST_RETRY } from "../cache/cache-fixtures.js";
import { CacheRecorder, allLive } from "../support/cache-recorder.js";

export { Cleanups, FAST_RETRY, SECRET, deleted, serviceAccount, session, user } from "../cache/cache-fixtures.js";

/** Every HTTP/2 gRPC client a cache can run on: each sync test runs on each of them. */
export const TRANSPORTS: readonly DatabrokerTransportImplementation[] = DATABROKER_TRANSPORT_IMPLEMENTATIONS;

/** A started cache (FAST_RETRY unless given) with a recorder subscribed before it connects. */
export function recordedCache(cleanups: { add(fn: () => unknown): void }, options: DatabrokerCacheOptions): { cache: DatabrokerCache; seen: CacheRecorder } {
  const cache = createDatabrokerCache({ retry: FAST_RETRY, ...options });
  const seen = new CacheRecorder(cache);
  cleanups.add(async () => {
    seen.stop();
    await cache.close();
  });
  return { cache, seen };
}

export const idsOf = (records: readonly CachedRecord[]): string[] => records.map((r) => r.id).sort();

/**
 * Waits until the cache is ready with every stream live (on `serverVersion`, when given) and each
 * type's first snapshot batch was delivered on changes$ (which runs after the replica applied it).
 */
export async function synced(seen: CacheRecorder, serverVersion?: bigint, timeoutMs = 5000): Promise<void> {
  const state = await seen.state((s) => s.ready && allLive(s, serverVersion), "ready, every stream live", timeoutMs);
  for (const { type } of state.streams) await seen.change((c) => c.kind === "snapshot" && c.type === type, `the snapshot batch of ${type}`, timeoutMs);
}
