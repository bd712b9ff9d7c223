/**
 * Scenario 9: a change subscriber that never consumes. Sync and reads go on; the subscriber's
 * buffer stays bounded (overflow marker policy: its buffered batches are replaced by one
 * `overflow` marker), which is what it finds when it finally reads.
 */
import assert from "node:assert/strict";
import type { CacheChange } from "../../../src/cache/change-buffer.js";
import { CountingMeter, LogCapture, SESSION_TYPE, TYPES, cacheFor, printHealTime, session, type Cleanups } from "../fault-fixtures.js";
import { seededServer, probeSeededSessions } from "../scenario-setup.js";
import { awaitReplicaEqualsServer } from "../replica-equals-server.js";

const BUFFER = 16;
const WRITES = 300;

/** Everything already buffered, without waiting for more. */
async function drainBuffered(iterator: AsyncIterator<CacheChange>): Promise<CacheChange[]> {
  const items: CacheChange[] = [];
  for (;;) {
    const next = await Promise.race([iterator.next(), new Promise<"empty">((r) => setImmediate(() => r("empty")))]);
    if (next === "empty" || next.done === true) return items;
    items.push(next.value);
  }
}

export default async function stalledSubscriber(cleanups: Cleanups): Promise<void> {
  const { server, ref, db, records } = await seededServer(cleanups, "stall", 50);
  const log = new LogCapture();
  const metrics = new CountingMeter();
  const cache = cacheFor(cleanups, { url: server.url, subscriberBufferSize: BUFFER, logger: log, meter: metrics.meter });
  const stalled = cache.changes(SESSION_TYPE)[Symbol.asyncIterator]();
  cleanups.add(() => stalled.return?.());
  let observed = 0;
  const sub = cache.changes$(SESSION_TYPE).subscribe(() => observed++); // a live one beside it
  cleanups.add(() => sub.unsubscribe());
  await cache.ready({ timeoutMs: 5000 });
  const probe = probeSeededSessions(cleanups, cache, records);
  const heapBefore = process.memoryUsage().heapUsed;

  const faultAt = performance.now();
  for (let i = 0; i < WRITES; i++) await db.put({ records: [session(`s-stall-${i}`, "u-stall-1")] });
  await awaitReplicaEqualsServer(cache, ref, TYPES);
  printHealTime("stalled-subscriber", performance.now() - faultAt);
  assert.ok(observed >= 50, `the live subscriber kept receiving (${observed} batches)`);

  const buffered = await drainBuffered(stalled);
  console.log(`measure stalled-subscriber buffered=${buffered.length} heapDeltaKB=${Math.round((process.memoryUsage().heapUsed - heapBefore) / 1024)}`);
  assert.ok(buffered.length <= BUFFER + 1, `bounded: ${buffered.length} items held for the stalled subscriber`);
  const first = buffered[0];
  assert.equal(first?.kind, "overflow", "it finds an overflow marker first");
  if (first?.kind === "overflow") assert.ok(first.droppedBatches > 0);
  assert.ok(metrics.total("databroker.cache.subscriber_overflows") >= 1, "the overflow is counted");
  assert.ok(log.lines.some((l) => l.level === "warn" && /fell behind|overflow/i.test(l.message)), "and logged");
  // After the marker it reads the cache, which is current.
  assert.equal(cache.getSession(`s-stall-${WRITES - 1}`)?.userId, "u-stall-1");
  assert.deepEqual(probe.stop(), [], "no probed session vanished");
}
