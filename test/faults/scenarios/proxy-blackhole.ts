/**
 * Scenario 5b: a silent partition longer than the idle timeout. Sync has no heartbeats, so only
 * the idle timeout (and the connect timeout for a connection that never answers) can notice;
 * after the partition ends the cache reconnects and converges.
 */
import assert from "node:assert/strict";
import { startTcpFaultProxy } from "../../support/tcp-fault-proxy.js";
import { SECRET, SESSION_TYPE, TYPES, cacheFor, population, printHealTime, session, sleep, startServer, writer, type Cleanups } from "../fault-fixtures.js";
import { awaitReplicaEqualsServer } from "../replica-equals-server.js";
import { startVanishProbe } from "../session-vanish-probe.js";

export default async function proxyBlackhole(cleanups: Cleanups): Promise<void> {
  const server = await startServer(cleanups);
  const ref = { url: server.url, sharedSecret: SECRET };
  const db = writer(server.url);
  const records = population("hole", 50);
  await db.put({ records });
  const proxy = await startTcpFaultProxy(server.port);
  cleanups.add(() => proxy.close());
  const cache = cacheFor(cleanups, { url: proxy.url, idleTimeoutMs: 300, connectTimeoutMs: 500 });
  await cache.ready({ timeoutMs: 5000 });
  const probe = startVanishProbe(cache, records.filter((r) => r.type === SESSION_TYPE).map((r) => r.id));
  cleanups.add(() => probe.stop());
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
