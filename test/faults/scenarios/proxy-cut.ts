/** Scenario 5a: repeated connection resets while writes continue -> converges. */
import assert from "node:assert/strict";
import { TYPES, cacheFor, printHealTime, startWriting, type Cleanups } from "../fault-fixtures.js";
import { until } from "../../support/wait-until.js";
import { seededServer, faultProxy, probeSeededSessions } from "../scenario-setup.js";
import { awaitReplicaEqualsServer } from "../replica-equals-server.js";

export default async function proxyCut(cleanups: Cleanups): Promise<void> {
  const { server, ref, db, records } = await seededServer(cleanups, "cut", 50);
  const proxy = await faultProxy(cleanups, server.port);
  const cache = cacheFor(cleanups, { url: proxy.url });
  await cache.ready({ timeoutMs: 5000 });
  const probe = probeSeededSessions(cleanups, cache, records);

  const writes = startWriting(db, "cut-w", 5);
  // Each cut lands while writes go on: after the writer's next few acknowledged Puts.
  for (let i = 0; i < 3; i++) {
    const target = writes.written + 4;
    await until(() => writes.written >= target, `write ${target} before cut ${i + 1}`, 10_000);
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
