/**
 * Scenario 6: two Pomerium databrokers on one PostgreSQL database (an HA pair: one server
 * version, one change log). The cache has urls [A, B]; A is killed; the cache goes on with B by
 * an incremental Sync from its position, WITHOUT a new SyncLatest: no snapshot or resync batch
 * after the failover, and the SyncLatest counter stays where it was.
 *
 * Needs the Pomerium peer (.interop-cache) and PostgreSQL: when this machine has neither, one
 * loud line says so, and with REQUIRE_INTEROP=1 it is a failure (test/interop's convention).
 */
import assert from "node:assert/strict";
import { PomeriumUnavailableError, startPomerium, startPomeriumInstances, type PomeriumInstance } from "../../support/pomerium-harness.js";
import { PostgresUnavailableError, startPostgresCluster, type PostgresCluster } from "../../support/postgres-cluster.js";
import { CountingMeter, LogCapture, SECRET, SESSION_TYPE, TYPES, cacheFor, population, printHealTime, recordChanges, session, tombstone, writer, type Cleanups } from "../fault-fixtures.js";
import { awaitReplicaEqualsServer } from "../replica-equals-server.js";
import { startVanishProbe } from "../session-vanish-probe.js";

const SYNC_LATEST_CALLS = "databroker.syncer.sync_latest.total";

async function startPair(cleanups: Cleanups): Promise<PomeriumInstance[] | undefined> {
  let cluster: PostgresCluster;
  try {
    cluster = await startPostgresCluster();
  } catch (err) {
    return unavailable(err);
  }
  cleanups.add(() => cluster.stop());
  await cluster.createDatabase("faults_failover");
  const dsn = cluster.dsn("faults_failover");
  try {
    // One instance creates the schema first, as in a deployment that has run before (see
    // test/interop/ha-pair.test.ts for why a fresh database is not a fair start).
    const migrator = await startPomerium({ storage: "postgres", dsn, sharedSecret: SECRET, name: "faults-migrator" });
    await migrator.stop();
    const pair = await startPomeriumInstances(2, { storage: "postgres", dsn, sharedSecret: SECRET, name: "faults-ha" });
    for (const p of pair) cleanups.add(() => p.stop());
    return pair;
  } catch (err) {
    return unavailable(err);
  }
}

function unavailable(err: unknown): undefined {
  if (!(err instanceof PomeriumUnavailableError || err instanceof PostgresUnavailableError)) throw err;
  if (process.env["REQUIRE_INTEROP"] === "1") throw new Error(`REQUIRE_INTEROP=1 but the Pomerium HA pair is unavailable: ${err.message}`);
  console.log(`!!! FAULT SCENARIO SKIPPED: pomerium-failover: ${err.message.split("\n")[0]}`);
  return undefined;
}

export default async function pomeriumFailover(cleanups: Cleanups): Promise<void> {
  const pair = await startPair(cleanups);
  if (pair === undefined) return;
  const [a, b] = pair as [PomeriumInstance, PomeriumInstance];
  assert.equal(a.serverVersion, b.serverVersion, "the pair shares one server version");
  const records = population("ha", 30);
  await writer(a.url).put({ records: [...records, session("s-ha-doomed", "u-ha-0")] });

  const metrics = new CountingMeter();
  const log = new LogCapture();
  const cache = cacheFor(cleanups, { urls: [a.url, b.url], meter: metrics.meter, logger: log });
  const changes = recordChanges(cache, cleanups);
  await cache.ready({ timeoutMs: 10_000 });
  await awaitReplicaEqualsServer(cache, { url: a.url, sharedSecret: SECRET }, TYPES);
  assert.ok(cache.state.streams.every((s) => s.url === a.url), "the cache starts on A");
  const probe = startVanishProbe(cache, records.filter((r) => r.type === SESSION_TYPE).map((r) => r.id));
  cleanups.add(() => probe.stop());
  const syncLatestBefore = metrics.total(SYNC_LATEST_CALLS);
  const batchesBefore = changes.length;

  const logFrom = log.lines.length;
  const faultAt = performance.now();
  await a.stop();
  const db = writer(b.url);
  await db.put({ records: [session("s-ha-after-failover", "u-ha-1")] });
  await db.put({ records: [tombstone(SESSION_TYPE, "s-ha-doomed")] });

  await awaitReplicaEqualsServer(cache, { url: b.url, sharedSecret: SECRET }, TYPES, { timeoutMs: 20_000 });
  printHealTime("failover", performance.now() - faultAt);
  assert.ok(cache.state.streams.every((s) => s.url === b.url), `the cache moved to B: ${cache.state.streams.map((s) => s.url).join(",")}`);
  const after = changes.slice(batchesBefore).map((c) => c.kind);
  const story = log.lines.slice(logFrom).map((l) => `${l.level} ${l.message} ${String(l.attributes?.["record-type"] ?? "")} ${String(l.attributes?.["url"] ?? "")}`).join("\n  ");
  assert.deepEqual(after.filter((k) => k !== "change"), [], `only change batches after the failover: ${after.join(",")}; the cache said:\n  ${story}`);
  assert.equal(metrics.total(SYNC_LATEST_CALLS), syncLatestBefore, "no new SyncLatest after the failover");
  assert.deepEqual(probe.stop(), [], "no probed session vanished");
}
