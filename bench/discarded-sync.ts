/**
 * A Sync stream with nothing behind it, for the unary benches: what a cache's sync opens on its
 * connection (SyncLatest read to its versions, then Sync from them), with each change read and
 * dropped. A Put round trip measured beside it pays the server's Sync send and the client's
 * intake of the change, and none of the replica's work.
 */
export interface SyncClient {
  syncLatest(request: { type: string }, options?: { signal?: AbortSignal }): AsyncIterable<{ response: { case: string | undefined; value?: unknown } }>;
  sync(request: { serverVersion: bigint; recordVersion: bigint }, options?: { signal?: AbortSignal }): AsyncIterable<unknown>;
}

/** Opens the stream; returns what stops it (and waits for its reader to end). */
export async function openDiscardedSync(client: SyncClient): Promise<() => Promise<void>> {
  let versions: { serverVersion: bigint; latestRecordVersion: bigint } | undefined;
  for await (const m of client.syncLatest({ type: "" })) {
    if (m.response.case === "versions") versions = m.response.value as typeof versions;
  }
  if (versions === undefined) throw new Error("SyncLatest ended without its versions");
  const abort = new AbortController();
  const reading = (async () => {
    for await (const _ of client.sync({ serverVersion: versions.serverVersion, recordVersion: versions.latestRecordVersion }, { signal: abort.signal })) {
      // dropped: the server's work and the client's intake of the change, no replica
    }
  })().catch(() => undefined);
  return async () => {
    abort.abort();
    await reading;
  };
}
