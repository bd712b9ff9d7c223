/**
 * Scenario 3: the cache's stream stops advancing (a silent partition), the server moves on and
 * compacts its change log past the cache's position, the partition ends (the dead connection is
 * reset). Resuming Sync from the old position is ABORTED; the cache resyncs from SyncLatest, and
 * a delete whose tombstone was compacted away is still applied.
 */
import assert from "node:assert/strict";
import { SESSION_TYPE, TYPES, cacheFor, printHealTime, recordChanges, session, sleep, tombstone, until, type Cleanups } from "../fault-fixtures.js";
import { seededServer, faultProxy, probeSeededSessions } from "../scenario-setup.js";
import { awaitReplicaEqualsServer } from "../replica-equals-server.js";

export default async function compactionPastClient(cleanups: Cleanups): Promise<void> {
  const { server, ref, db, records } = await seededServer(cleanups, "compact", 50, [session("s-deleted-in-partition", "u-compact-0")]);
  const proxy = await faultProxy(cleanups, server.port);
  const cache = cacheFor(cleanups, { url: proxy.url });
  const changes = recordChanges(cache, cleanups);
  await cache.ready({ timeoutMs: 5000 });
  await awaitReplicaEqualsServer(cache, ref, TYPES);
  const probe = probeSeededSessions(cleanups, cache, records);
  const position = cache.state.streams.find((s) => s.type === SESSION_TYPE)!.recordVersion!;

  proxy.blackhole();
  const faultAt = performance.now();
  for (let i = 0; i < 20; i++) await db.put({ records: [session(`s-compact-new-${i}`, "u-compact-1")] });
  await db.put({ records: [tombstone(SESSION_TYPE, "s-deleted-in-partition")] });
  server.compactNow();
  await sleep(50);
  assert.equal(cache.state.streams.find((s) => s.type === SESSION_TYPE)!.recordVersion, position, "the partition held the stream back");
  const resyncsBefore = changes.filter((c) => c.kind === "resync").length;
  proxy.cut();
  proxy.heal();

  await awaitReplicaEqualsServer(cache, ref, TYPES);
  printHealTime("compaction", performance.now() - faultAt);
  assert.equal(cache.get(SESSION_TYPE, "s-deleted-in-partition"), undefined);
  // changes$ delivers a turn after the replica shows the change: wait for the batch itself.
  await until(() => changes.filter((c) => c.kind === "resync").length > resyncsBefore, "healed through a resync (Sync was ABORTED)");
  assert.deepEqual(probe.stop(), [], "no probed session vanished");
}
