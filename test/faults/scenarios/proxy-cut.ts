/** Scenario 5a: repeated connection resets while writes continue -> converges. */
import assert from "node:assert/strict";
import { startTcpFaultProxy } from "../../support/tcp-fault-proxy.js";
import { SECRET, SESSION_TYPE, TYPES, cacheFor, population, printHealTime, sleep, startServer, startWriting, writer, type Cleanups } from "../fault-fixtures.js";
import { awaitReplicaEqualsServer } from "../replica-equals-server.js";
import { startVanishProbe } from "../session-vanish-probe.js";

export default async function proxyCut(cleanups: Cleanups): Promise<void> {
  const server = await startServer(cleanups);
  const ref = { url: server.url, sharedSecret: SECRET };
  const db = writer(server.url);
  const records = population("cut", 50);
  await db.put({ records });
  const proxy = await startTcpFaultProxy(server.port);
  cleanups.add(() => proxy.close());
  const cache = cacheFor(cleanups, { url: proxy.url });
  await cache.ready({ timeoutMs: 5000 });
  const probe = startVanishProbe(cache, records.filter((r) => r.type === SESSION_TYPE).map((r) => r.id));
  cleanups.add(() => probe.stop());

  const writes = startWriting(db, "cut-w", 5);
  for (let i = 0; i < 3; i++) {
    await sleep(100);
    proxy.cut();
  }
  const faultAt = performance.now();
  const written = await writes.stop();
  await awaitReplicaEqualsServer(cache, ref, TYPES);
  printHealTime("cut", performance.now() - faultAt);
  assert.ok(written.length > 10, `writes went on (${written.length})`);
  assert.ok(proxy.connectionsAccepted >= 4, "the cache reconnected after each cut");
  assert.deepEqual(probe.stop(), [], "no probed session vanished");
}
