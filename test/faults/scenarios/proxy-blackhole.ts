/**
 * Scenario 5b: a silent partition longer than the idle timeout. Sync has no heartbeats, so only
 * the idle timeout (and the connect timeout for a connection that never answers) can notice;
 * after the partition ends the cache reconnects and converges.
 */
import assert from "node:assert/strict";
import { TYPES, cacheFor, printHealTime, session, sleep, type Cleanups } from "../fault-fixtures.js";
import { seededServer, faultProxy, probeSeededSessions } from "../scenario-setup.js";
import { awaitReplicaEqualsServer } from "../replica-equals-server.js";

export default async function proxyBlackhole(cleanups: Cleanups): Promise<void> {
  const { server, ref, db, records } = await seededServer(cleanups, "hole", 50);
  const proxy = await faultProxy(cleanups, server.port);
  const cache = cacheFor(cleanups, { url: proxy.url, idleTimeoutMs: 300, connectTimeoutMs: 500 });
  await cache.ready({ timeoutMs: 5000 });
  const probe = probeSeededSessions(cleanups, cache, records);
  const connectionsBefore = proxy.connectionsAccepted;

  proxy.blackhole();
  const faultAt = performance.now();
  for (let i = 0; i < 10; i++) await db.put({ records: [session(`s-hole-new-${i}`, "u-hole-1")] });
  await sleep(1000); // > idleTimeoutMs: the cache must notice on its own
  proxy.heal();

  await awaitReplicaEqualsServer(cache, ref, TYPES);
  printHealTime("blackhole", performance.now() - faultAt);
  assert.ok(proxy.connectionsAccepted > connectionsBefore, "the cache opened a new connection");
  assert.deepEqual(probe.stop(), [], "no probed session vanished");
}
