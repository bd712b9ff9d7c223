/**
 * Scenario 4: the connection under the streams ends (reset through the proxy). The cache resumes
 * Sync from its position: no new SyncLatest, no snapshot or resync batch, and the writes made
 * while it was away arrive as ordinary changes.
 */
import assert from "node:assert/strict";
import { CountingMeter, SESSION_TYPE, TYPES, cacheFor, printHealTime, recordChanges, session, tombstone, until, type Cleanups } from "../fault-fixtures.js";
import { seededServer, faultProxy, probeSeededSessions } from "../scenario-setup.js";
import { awaitReplicaEqualsServer } from "../replica-equals-server.js";

export const SYNC_LATEST_CALLS = "databroker.syncer.sync_latest.total";

export default async function streamEndResume(cleanups: Cleanups): Promise<void> {
  const { server, ref, db, records } = await seededServer(cleanups, "resume", 50, [session("s-resume-doomed", "u-resume-0")]);
  const proxy = await faultProxy(cleanups, server.port);
  const metrics = new CountingMeter();
  const cache = cacheFor(cleanups, { url: proxy.url, meter: metrics.meter });
  const changes = recordChanges(cache, cleanups);
  await cache.ready({ timeoutMs: 5000 });
  await awaitReplicaEqualsServer(cache, ref, TYPES);
  await until(() => cache.state.streams.every((s) => s.state === "live"), "streams live");
  const probe = probeSeededSessions(cleanups, cache, records);
  const syncLatestBefore = metrics.total(SYNC_LATEST_CALLS);
  assert.equal(syncLatestBefore, TYPES.length, "one SyncLatest per type so far");
  const batchesBefore = changes.length;
  const connectionsBefore = proxy.connectionsAccepted;

  const faultAt = performance.now();
  proxy.cut();
  await db.put({ records: [session("s-resume-new", "u-resume-1")] });
  await db.put({ records: [tombstone(SESSION_TYPE, "s-resume-doomed")] });

  await awaitReplicaEqualsServer(cache, ref, TYPES);
  printHealTime("stream-end", performance.now() - faultAt);
  assert.ok(proxy.connectionsAccepted > connectionsBefore, "the cache reconnected");
  const after = changes.slice(batchesBefore);
  assert.deepEqual(after.filter((c) => c.kind !== "change").map((c) => c.kind), [], "only change batches after the cut");
  assert.equal(metrics.total(SYNC_LATEST_CALLS), syncLatestBefore, "no new SyncLatest");
  assert.deepEqual(probe.stop(), [], "no probed session vanished");
}
