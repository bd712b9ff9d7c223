/**
 * `databroker-cache watch [TYPE]`: mirrors one type (or every type) with the cache and prints
 * each change batch as one JSON line (NDJSON), the first being the snapshot.
 */
import { createDatabrokerCache } from "../cache/databroker-cache.js";
import { changeJson } from "./record-json.js";
import { recordTypeFromName } from "./record-type-names.js";
import { connectRemote, type RemoteSettings } from "./remote-databroker.js";
import { aborted, shutdownSignal } from "./shutdown-signal.js";

export interface WatchOptions {
  readonly remote: RemoteSettings;
  /** undefined: every type, on one stream. */
  readonly type: string | undefined;
  /** Stop after this many batches (0: no limit). */
  readonly maxBatches: number;
  readonly durationMs: number | undefined;
}

export async function runWatch(options: WatchOptions): Promise<number> {
  // Fails fast, with one line, on a wrong URL or secret (the cache itself would retry forever).
  const probe = await connectRemote(options.remote);
  probe.close();
  const { signal, dispose } = shutdownSignal(options.durationMs);
  const cache = createDatabrokerCache({
    urls: [probe.url, ...options.remote.urls.filter((u) => new URL(u).origin !== probe.url)],
    sharedSecret: options.remote.sharedSecret,
    tls: options.remote.tls,
    types: [options.type === undefined ? "" : recordTypeFromName(options.type)],
    signal,
  });
  let printed = 0;
  const subscription = cache.changes$().subscribe((change) => {
    process.stdout.write(`${JSON.stringify(changeJson(change))}\n`);
    printed++;
    if (options.maxBatches > 0 && printed >= options.maxBatches) void cache.close();
  });
  const done = new Promise<void>((resolve) => subscription.add(() => resolve()));
  await Promise.race([aborted(signal), done]);
  subscription.unsubscribe();
  await cache.close();
  dispose();
  return 0;
}
