/**
 * One type's stream is reset by a proxy (RST_STREAM on that HTTP/2 stream only; the connection
 * and the other streams on it are fine). The other types have done nothing wrong: they must keep
 * their positions and never run SyncLatest again; the reset type resumes with Sync from its own.
 *
 * The counts are the server's: SyncLatest and Sync calls per type as they arrived
 * (counting-databroker.ts), the reset done by our HTTP/2 stream proxy between cache and server.
 * CACHE_TRANSPORT picks the cache's transport.
 */
import assert from "node:assert/strict";
import { DEFAULT_CACHE_TYPES, SERVICE_ACCOUNT_TYPE, SESSION_TYPE, USER_TYPE, type CacheChange } from "../../../src/index.js";
import { allLive } from "../../support/cache-recorder.js";
import { startHttp2StreamProxy } from "../../support/http2-stream-proxy.js";
import { until } from "../../support/wait-until.js";
import { SECRET, recordedCache, serviceAccount, session, synced, user } from "../../sync/cache-sync-fixtures.js";
import { startCountingDatabroker } from "../counting-databroker.js";
import { transportFromEnv, writer, type Cleanups } from "../fault-fixtures.js";

const holds = (id: string) => (c: CacheChange) => c.kind !== "overflow" && c.upserts.some((r) => r.id === id);

export default async function streamResetKeepsOtherPositions(cleanups: Cleanups): Promise<void> {
  const transport = transportFromEnv();
  const server = await startCountingDatabroker(SECRET);
  cleanups.add(() => server.close());
  const proxy = await startHttp2StreamProxy(server.url);
  cleanups.add(() => proxy.close());
  const db = writer(server.url, SECRET);
  await db.put({ records: [session("s1", "u1"), user("u1", "u1@example.com"), serviceAccount("sa1", "u1")] });

  const { cache, seen } = recordedCache(cleanups, { url: proxy.url, sharedSecret: SECRET, transport });
  await synced(seen);
  await until(() => DEFAULT_CACHE_TYPES.every((t) => proxy.open("Sync", t).length === 1) && server.openStreams === DEFAULT_CACHE_TYPES.length, "a Sync per type running");
  const countsOf = (method: string) => Object.fromEntries(DEFAULT_CACHE_TYPES.map((t) => [t, server.count(method, t)]));
  const syncLatestBefore = countsOf("SyncLatest");
  const syncBefore = countsOf("Sync");
  const position = cache.state.streams.find((s) => s.type === SESSION_TYPE)!.recordVersion;
  const healthy = server.calls.filter((c) => c.method === "Sync" && c.type !== SESSION_TYPE);
  const from = seen.changes.length;

  proxy.reset(proxy.open("Sync", SESSION_TYPE)[0]!);
  await until(() => server.count("Sync", SESSION_TYPE) > syncBefore[SESSION_TYPE]! || server.count("SyncLatest", SESSION_TYPE) > syncLatestBefore[SESSION_TYPE]!, "the reset type back on the server", 10_000);
  // Every type is fresh again: a write of each arrives.
  await db.put({ records: [session("s2", "u1"), user("u2", "u2@example.com"), serviceAccount("sa2", "u1")] });
  for (const id of ["s2", "u2", "sa2"]) await seen.change(holds(id), `${id} in the cache`, 10_000, from);
  await seen.state((s) => allLive(s), "every stream live", 10_000);

  const syncLatestDelta = Object.fromEntries(DEFAULT_CACHE_TYPES.map((t) => [t, server.count("SyncLatest", t) - syncLatestBefore[t]!]));
  const name = (t: string) => t.slice(t.lastIndexOf(".") + 1);
  console.log(
    `measure stream-reset transport=${transport} new-SyncLatest ${DEFAULT_CACHE_TYPES.map((t) => `${name(t)}=${syncLatestDelta[t]}`).join(" ")}` +
      ` healthy-streams-ended=${healthy.map((c) => `${name(c.type!)}:${c.outcome ?? "still-open"}`).join(",")}` +
      ` batches=${seen.since(from).map((c) => `${c.kind}:${c.type === undefined ? "all" : name(c.type)}`).join(",")}`,
  );
  for (const type of [USER_TYPE, SERVICE_ACCOUNT_TYPE]) {
    assert.equal(syncLatestDelta[type], 0, `${name(type)}'s stream was healthy, yet it ran SyncLatest again after the sessions' stream was reset`);
  }
  assert.equal(syncLatestDelta[SESSION_TYPE], 0, "the reset type resumes with Sync: its position is still good");
  const resumed = server.calls.filter((c) => c.method === "Sync" && c.type === SESSION_TYPE).slice(syncBefore[SESSION_TYPE]!);
  assert.equal(resumed[0]?.recordVersion, position, "the reset type resumed Sync from its position");
  assert.deepEqual(seen.since(from).filter((c) => c.kind !== "change").map((c) => c.kind), [], "only change batches after the reset (no resync)");
}
