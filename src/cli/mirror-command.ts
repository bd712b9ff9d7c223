/** `databroker-cache mirror --url ... --shared-secret-file F`: the demo's live status against a live databroker. */
import { createDatabrokerCache } from "../cache/databroker-cache.js";
import { DEFAULT_CACHE_TYPES } from "../cache/cache-options.js";
import { runLiveStatus } from "./live-status.js";
import { recordTypeFromName } from "./record-type-names.js";
import { connectRemote, explainRemoteError, type RemoteSettings } from "./remote-databroker.js";
import { shutdownSignal } from "./shutdown-signal.js";

export interface MirrorOptions {
  readonly remote: RemoteSettings;
  /** Short names or type URLs; empty: the cache's defaults (sessions, users, service accounts). */
  readonly types: readonly string[];
  readonly durationMs: number | undefined;
  readonly intervalMs: number;
  readonly lookupsPerSecond: number;
  readonly readyTimeoutMs: number;
  /** Warm start: the encrypted snapshot file (key derived from the shared secret). */
  readonly snapshotPath?: string | undefined;
}

export async function runMirror(options: MirrorOptions): Promise<number> {
  const types = options.types.length === 0 ? DEFAULT_CACHE_TYPES : options.types.map(recordTypeFromName);
  // Checks the URL and secret with one call, and counts what the first snapshots will hold.
  const probe = await connectRemote(options.remote);
  let expected = 0;
  try {
    for (const type of types) expected += Number((await probe.client.query({ type, limit: 0n })).totalCount);
  } catch (error) {
    throw explainRemoteError(error, probe.url);
  } finally {
    probe.close();
  }
  process.stdout.write(`databroker ${probe.url}: server version ${probe.info.serverVersion}, latest record version ${probe.info.latestRecordVersion}\n`);
  const { signal, dispose } = shutdownSignal(options.durationMs);
  const cache = createDatabrokerCache({
    urls: options.remote.urls,
    sharedSecret: options.remote.sharedSecret,
    tls: options.remote.tls,
    types,
    signal,
    ...(options.snapshotPath === undefined ? {} : { snapshot: { path: options.snapshotPath } }),
  });
  try {
    await runLiveStatus({
      cache,
      title: `databroker-cache mirror: ${options.remote.urls.join(", ")}`,
      expectedRecords: expected,
      lookupsPerSecond: options.lookupsPerSecond,
      intervalMs: options.intervalMs,
      signal,
      readyTimeoutMs: options.readyTimeoutMs,
    });
  } finally {
    await cache.close();
    dispose();
  }
  process.stdout.write("stopped: cache closed\n");
  return 0;
}
