/**
 * Scenario 2: the server's Clear cancels every stream (CANCELLED) and starts a new server
 * version. Pomerium's own syncer stops for good here; the cache must resync and go on.
 * The data is re-written right after the Clear, while the cache's link is slowed (so its next
 * SyncLatest sees the re-written data): the probed sessions exist before and after.
 */
import assert from "node:assert/strict";
import { SESSION_TYPE, TYPES, cacheFor, printHealTime, recordChanges, session, until, type Cleanups } from "../fault-fixtures.js";
import { seededServer, faultProxy, probeSeededSessions } from "../scenario-setup.js";
import { awaitReplicaEqualsServer } from "../replica-equals-server.js";

export default async function serverClear(cleanups: Cleanups): Promise<void> {
  const { server, ref, db, records } = await seededServer(cleanups, "clear", 50, [session("s-gone-after-clear", "u-clear-0")]);
  const proxy = await faultProxy(cleanups, server.port);
  const cache = cacheFor(cleanups, { url: proxy.url });
  const changes = recordChanges(cache, cleanups);
  await cache.ready({ timeoutMs: 5000 });
  await awaitReplicaEqualsServer(cache, ref, TYPES);
  const probe = probeSeededSessions(cleanups, cache, records);
  const before = server.serverVersion;

  // Chunks stay in order while slowed; the link is left slow to the end (healing with chunks in
  // flight could reorder them).
  proxy.slow(150);
  const faultAt = performance.now();
  await db.clear({});
  await db.put({ records });
  assert.notEqual(server.serverVersion, before);

  // Re-written records can get the same versions as before (counters restart), so equal data alone
  // does not prove a resync: every stream must also be on the new server version.
  await until(() => cache.state.streams.every((s) => s.serverVersion === server.serverVersion && s.recordVersion !== undefined), "every stream on the new server version", 15_000);
  await awaitReplicaEqualsServer(cache, ref, TYPES, { timeoutMs: 15_000 });
  printHealTime("clear", performance.now() - faultAt);
  assert.equal(cache.get(SESSION_TYPE, "s-gone-after-clear"), undefined);
  assert.ok(cache.state.streams.every((s) => s.serverVersion === server.serverVersion), "every stream follows the new server version");
  // changes$ delivers a turn after the replica shows the change: wait for the batch itself.
  await until(() => changes.some((c) => c.kind === "resync"), "a resync batch delivered");
  assert.ok(!cache.state.closed && cache.state.streams.every((s) => s.state !== "closed"), "the streams go on after the Clear");

  // Still syncing: a new write arrives.
  await db.put({ records: [session("s-after-clear", "u-clear-1")] });
  await awaitReplicaEqualsServer(cache, ref, TYPES, { timeoutMs: 15_000 });
  assert.deepEqual(probe.stop(), [], "no probed session vanished");
}
