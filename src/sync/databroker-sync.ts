/**
 * The sync loop wired to real databrokers: a URL set (failover in order) feeding the loop.
 * Closing the loop closes the transports, so nothing is left behind.
 */
import { createDatabrokerUrlSet, type DatabrokerUrlSet } from "../transport/databroker-url-set.js";
import type { DatabrokerTransportOptions } from "../transport/databroker-transport.js";
import { SyncLoop, type SyncLoopOptions } from "./sync-loop.js";
import { syncSourcesFromUrlSet } from "./sync-stream-source.js";

export interface DatabrokerSyncOptions extends DatabrokerTransportOptions, Omit<SyncLoopOptions, "source" | "onClose"> {
  /** Databroker URLs, tried in order. */
  readonly urls: readonly string[];
}

/**
 * Validates the secret, URLs and settings (throwing SharedSecretError or ConnectError), then
 * returns an idle loop: subscribe to `events$`, then call start().
 */
export function createDatabrokerSync(options: DatabrokerSyncOptions): { loop: SyncLoop; urlSet: DatabrokerUrlSet } {
  const urlSet = createDatabrokerUrlSet(options.urls, options);
  const loop = new SyncLoop({ ...options, source: syncSourcesFromUrlSet(urlSet), onClose: () => urlSet.close() });
  return { loop, urlSet };
}
