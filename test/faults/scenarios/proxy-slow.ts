/** Scenario 5c: a slow link (every chunk delayed 50 ms) while writes continue -> converges. */
import assert from "node:assert/strict";
import { startTcpFaultProxy } from "../../support/tcp-fault-proxy.js";
import { SECRET, SESSION_TYPE, TYPES, cacheFor, population, printHealTime, sleep, startServer, startWriting, writer, type Cleanups } from "../fault-fixtures.js";
import { awaitReplicaEqualsServer } from "../replica-equals-server.js";
import { startVanishProbe } from "../session-vanish-probe.js";

export default async function proxySlow(cleanups: Cleanups): Promise<void> {
  const server = await startServer(cleanups);
  const ref = { url: server.url, sharedSecret: SECRET };
  const db = writer(server.url);
  const records = population("slow", 50);
  await db.put({ records });
  const proxy = await startTcpFaultProxy(server.port);
  cleanups.add(() => proxy.close());
  const cache = cacheFor(cleanups, { url: proxy.url });
  await cache.ready({ timeoutMs: 5000 });
  const probe = startVanishProbe(cache, records.filter((r) => r.type === SESSION_TYPE).map((r) => r.id));
  cleanups.add(() => probe.stop());

  // Left slow to the end: healing with chunks in flight could reorder them.
  proxy.slow(50);
  const faultAt = performance.now();
  const writes = startWriting(db, "slow-w", 5);
  await sleep(1000);
  const written = await writes.stop();
  await awaitReplicaEqualsServer(cache, ref, TYPES, { timeoutMs: 15_000 });
  printHealTime("slow", performance.now() - faultAt);
  assert.ok(written.length > 20, `writes went on (${written.length})`);
  assert.deepEqual(probe.stop(), [], "no probed session vanished");
}
