/** Scenario 5c: a slow link (every chunk delayed 50 ms) while writes continue -> converges. */
import assert from "node:assert/strict";
import { TYPES, cacheFor, printHealTime, startWriting, type Cleanups } from "../fault-fixtures.js";
import { until } from "../../support/wait-until.js";
import { seededServer, faultProxy, probeSeededSessions } from "../scenario-setup.js";
import { awaitReplicaEqualsServer } from "../replica-equals-server.js";

export default async function proxySlow(cleanups: Cleanups): Promise<void> {
  const { server, ref, db, records } = await seededServer(cleanups, "slow", 50);
  const proxy = await faultProxy(cleanups, server.port);
  const cache = cacheFor(cleanups, { url: proxy.url });
  await cache.ready({ timeoutMs: 5000 });
  const probe = probeSeededSessions(cleanups, cache, records);

  // Left slow to the end: healing with chunks in flight could reorder them.
  proxy.slow(50);
  const faultAt = performance.now();
  const writes = startWriting(db, "slow-w", 5);
  // Writes go on while the link is slow: the first chunks already crawl through it.
  await until(() => writes.written >= 25, "25 writes over the slow link", 15_000);
  const written = await writes.stop();
  await awaitReplicaEqualsServer(cache, ref, TYPES, { timeoutMs: 15_000 });
  printHealTime("slow", performance.now() - faultAt);
  assert.ok(written.length > 20, `writes went on (${written.length})`);
  assert.deepEqual(probe.stop(), [], "no probed session vanished");
}
