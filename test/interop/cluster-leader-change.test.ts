/**
 * A cache given every node of Pomerium's clustered databroker rides leader changes: the leader
 * SIGKILLed (twice) and partitioned away (once), with a writer and a reader running throughout.
 * After each change the replica equals the new leader's SyncLatest; no seeded session ever
 * vanishes from the reader; subscribers hear only real differences (the new leader renumbers
 * every record, so a resync that reported by version would re-report them all); and a write the
 * old leader acknowledged is never "fresh" and absent.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { SESSION_TYPE, session, SECRET, cacheFor } from "../faults/fault-fixtures.js";
import type { DatabrokerVersion } from "../../src/cache/databroker-version.js";
import type { PomeriumCluster } from "../support/pomerium-cluster.js";
import { describeNodes, differencesFromLeader, leaderSnapshot, untilCaughtUp, untilNewLeader } from "../support/pomerium-cluster-waits.js";
import { until, untilAsync } from "../support/wait-until.js";
import { CLUSTER_RETRY, clusterForFile } from "./cluster-fixtures.js";

const SEEDED = Array.from({ length: 20 }, (_, i) => `s-seed-${i}`);

describe("a cache on a 3-node Pomerium cluster", () => {
  const file = clusterForFile({ nodes: 3, storage: "memory", name: "leader-change" });
  const cleanups = file.cleanups;
  let cluster: PomeriumCluster;
  beforeAll(() => {
    cluster = file.cluster;
  });

  it("keeps serving through leader kills and a partition; replica equals the new leader's SyncLatest", { timeout: 120_000 }, async () => {
    const leader0 = await cluster.leader();
    await cluster.client(leader0).put({ records: SEEDED.map((id) => session(id, "u-seed")) });

    const cache = cacheFor(cleanups, { urls: cluster.urls, types: [SESSION_TYPE], retry: CLUSTER_RETRY, connectTimeoutMs: 1000, cluster: { leaderCheckIntervalMs: 500 } });
    await cache.ready({ timeoutMs: 20_000 });

    // Subscribers: a seeded session never changes, so it must never be reported again.
    const reportedSeeds: string[] = [];
    let reportedRecords = 0;
    const sub = cache.changes$(SESSION_TYPE).subscribe((c) => {
      if (c.kind === "overflow") throw new Error("subscriber overflowed");
      for (const r of [...c.upserts, ...c.deletes]) {
        reportedRecords++;
        if (r.id.startsWith("s-seed-")) reportedSeeds.push(`${r.id} (${c.kind})`);
      }
    });
    cleanups.add(() => sub.unsubscribe());

    // Writer: through the cache's own client (default mode, follows the cache's URL).
    const acked: Array<{ id: string; version: DatabrokerVersion }> = [];
    let writes = 0;
    let running = true;
    const writer = (async () => {
      for (let i = 0; running; i++) {
        const id = `s-w-${i}`;
        writes++;
        try {
          // A write forwarded into a partition hangs: bounded by a deadline.
          const res = await cache.client.put({ records: [session(id, "u-writer")] }, { timeoutMs: 2000 });
          acked.push({ id, version: { serverVersion: res.serverVersion, recordVersion: res.records[0]!.version } });
        } catch {
          // an election, or the node we wrote through died: the next write tries again
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    // Reader: seeded sessions never vanish; an acknowledged write is never fresh and absent.
    const vanished = new Set<string>();
    let phase = "before any fault";
    const freshButAbsent: string[] = [];
    const reader = setInterval(() => {
      for (const id of SEEDED) if (cache.getSession(id) === undefined) vanished.add(`${id} (${phase}; stream ${cache.state.streams[0]?.state} at ${cache.state.streams[0]?.serverVersion}, size ${cache.size(SESSION_TYPE)})`);
      for (const w of acked.slice(-5)) {
        const l = cache.lookup(SESSION_TYPE, w.id, { minVersion: w.version });
        if (l.freshness === "fresh" && l.record === undefined) freshButAbsent.push(w.id);
      }
    }, 5);
    cleanups.add(() => clearInterval(reader));

    const lost: string[] = [];
    // Pomerium elects leaders by Raft alone, whatever a node has copied: a node that has not
    // caught up yet can win the election and the cluster then loses what it lacks. Each fault
    // waits until every node has copied the leader (the seeded sessions exist before and after).
    for (const fault of ["kill", "partition", "kill"] as const) {
      await untilCaughtUp(cluster);
      const old = await cluster.leader();
      const before = writes;
      phase = `${fault} of ${old}`;
      if (fault === "kill") await cluster.kill(old);
      else cluster.partition(old);
      await untilNewLeader(cluster, old);
      // The writer keeps going on the new leader.
      await until(() => writes > before + 5, "writes after the change", 20_000);
      let last: string[] = [];
      await untilAsync(async () => (last = await differencesFromLeader(cluster, cache, SECRET)).length === 0, `replica equals the new leader's SyncLatest after the ${fault} of ${old}`, 30_000).catch(async (err: Error) => {
        throw new Error(`${err.message}: ${last.slice(0, 5).join("; ")}; cache state: ${JSON.stringify(cache.state.streams, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}; nodes: ${await describeNodes(cluster)}`);
      });
      if (fault === "kill") await cluster.restart(old);
      else cluster.heal(old);
      await cluster.leader();
      const held = await leaderSnapshot(cluster, SECRET);
      for (const w of acked) if (!held.has(w.id) && !lost.includes(w.id)) lost.push(w.id);
    }
    running = false;
    await writer;
    clearInterval(reader);

    expect([...vanished].slice(0, 5)).toEqual([]);
    expect(freshButAbsent).toEqual([]);
    expect(reportedSeeds).toEqual([]);
    // Each written id is reported at most twice (its upsert; its removal if the new leader never got it).
    expect(reportedRecords).toBeLessThanOrEqual(2 * writes);
    await untilAsync(async () => (await differencesFromLeader(cluster, cache, SECRET)).length === 0, "replica equals the leader's SyncLatest at the end", 30_000);
    // Writes the old leader acknowledged but never passed on are lost by Pomerium: said, not asserted.
    console.log(`cluster leader change: ${writes} writes, ${acked.length} acknowledged, ${lost.length} acknowledged but lost in a leader change`);
  });
});
