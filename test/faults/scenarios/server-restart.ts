/**
 * Scenario 1: the in-memory databroker restarts on the same port with a new server version and
 * its data re-written (a deployment re-seeded from its source). The cache's Sync is ABORTED
 * (unknown server version), it resyncs from SyncLatest, and readers never miss a session.
 */
import assert from "node:assert/strict";
import { startInMemoryDatabroker } from "../../../src/server/index.js";
import { freeLoopbackPort } from "../../support/postgres-cluster.js";
import { startTcpFaultProxy } from "../../support/tcp-fault-proxy.js";
import { SECRET, SESSION_TYPE, TYPES, cacheFor, population, printHealTime, recordChanges, session, startServer, tombstone, until, writer, type Cleanups } from "../fault-fixtures.js";
import { awaitReplicaEqualsServer } from "../replica-equals-server.js";
import { startVanishProbe } from "../session-vanish-probe.js";

export default async function serverRestart(cleanups: Cleanups): Promise<void> {
  const port = await freeLoopbackPort();
  const first = await startServer(cleanups, { port });
  const records = population("restart", 50);
  await writer(first.url).put({ records: [...records, session("s-only-old", "u-restart-0")] });
  // A pass-through proxy, only so that the cache's reconnects can be refused while the new server
  // is seeded: else it could snapshot an empty server, and that legitimately empty snapshot
  // would look like a vanish to the probe.
  const proxy = await startTcpFaultProxy(port);
  cleanups.add(() => proxy.close());
  const cache = cacheFor(cleanups, { url: proxy.url });
  const changes = recordChanges(cache, cleanups);
  await cache.ready({ timeoutMs: 5000 });
  const probe = startVanishProbe(cache, records.filter((r) => r.type === SESSION_TYPE).map((r) => r.id));
  cleanups.add(() => probe.stop());

  proxy.retarget(await freeLoopbackPort());
  const faultAt = performance.now();
  await first.close();
  const second = await startInMemoryDatabroker({ sharedSecret: SECRET, port });
  cleanups.add(() => second.close());
  assert.notEqual(second.serverVersion, first.serverVersion);
  const db = writer(second.url);
  await db.put({ records });
  await db.put({ records: [session("s-only-new", "u-restart-1")] });
  proxy.retarget(port);

  const server = { url: second.url, sharedSecret: SECRET };
  // Re-written records can get the same versions as before (counters restart), so equal data alone
  // does not prove a resync: every stream must also be on the new server version.
  await until(() => cache.state.streams.every((s) => s.serverVersion === second.serverVersion && s.recordVersion !== undefined), "every stream on the new server version", 15_000);
  await awaitReplicaEqualsServer(cache, server, TYPES);
  printHealTime("restart", performance.now() - faultAt);
  assert.equal(cache.get(SESSION_TYPE, "s-only-old"), undefined);
  assert.ok(cache.state.streams.every((s) => s.serverVersion === second.serverVersion), "every stream follows the new server version");
  // changes$ delivers a turn after the replica shows the change: wait for the batch itself.
  await until(() => changes.some((c) => c.kind === "resync"), "a resync batch delivered");

  // It follows the new server incrementally afterwards.
  await db.put({ records: [tombstone(SESSION_TYPE, "s-only-new")] });
  await awaitReplicaEqualsServer(cache, server, TYPES);
  assert.deepEqual(probe.stop(), [], "no probed session vanished");
  assert.ok(probe.reads > 0);
}
