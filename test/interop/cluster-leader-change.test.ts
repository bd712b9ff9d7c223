/**
 * A cache given every node of Pomerium's clustered databroker rides leader changes: the leader
 * SIGKILLed (twice) and partitioned away (once), with a writer and a reader running throughout.
 * After each change the replica equals the new leader's SyncLatest; no seeded session ever
 * vanishes from the reader; subscribers hear only real differences (the new leader renumbers
 * every record, so a resync that reported by version would re-report them all); and a write the
 * old leader acknowledged is never "fresh" and absent.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SESSION_TYPE, session, SECRET, Cleanups, cacheFor } from "../faults/fault-fixtures.js";
import { differences, serverSnapshot } from "../faults/replica-equals-server.js";
import type { DatabrokerCache } from "../../src/cache/databroker-cache.js";
import type { DatabrokerVersion } from "../../src/cache/databroker-version.js";
import { startPomeriumCluster, type PomeriumCluster } from "../support/pomerium-cluster.js";
import { until, untilAsync } from "../support/wait-until.js";
import { requirePomeriumOrExplain } from "./interop-availability.js";

const SEEDED = Array.from({ length: 20 }, (_, i) => `s-seed-${i}`);
const RETRY = { initialDelayMs: 50, maxDelayMs: 1000, maxReconnectDelayMs: 300, fastLoopMaxRetries: 50, fastLoopWindowMs: 2000 };

describe("a cache on a 3-node Pomerium cluster", () => {
  let cluster: PomeriumCluster;
  const cleanups = new Cleanups();

  beforeAll(async () => {
    await requirePomeriumOrExplain();
    cluster = await startPomeriumCluster({ nodes: 3, storage: "memory", sharedSecret: SECRET, name: "leader-change" });
    await cluster.leader();
  }, 120_000);
  afterAll(async () => {
    await cleanups.run();
    await cluster?.close();
  }, 30_000);

  it("keeps serving through leader kills and a partition; replica equals the new leader's SyncLatest", { timeout: 120_000 }, async () => {
    const leader0 = await cluster.leader();
    await cluster.client(leader0).put({ records: SEEDED.map((id) => session(id, "u-seed")) });

    const cache = cacheFor(cleanups, { urls: cluster.urls, types: [SESSION_TYPE], retry: RETRY, connectTimeoutMs: 1000, cluster: { leaderCheckIntervalMs: 500 } });
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
      await untilAsync(async () => (last = await differencesFromLeader(cluster, cache)).length === 0, `replica equals the new leader's SyncLatest after the ${fault} of ${old}`, 30_000).catch(async (err: Error) => {
        throw new Error(`${err.message}: ${last.slice(0, 5).join("; ")}; cache state: ${JSON.stringify(cache.state.streams, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}; nodes: ${await describeNodes(cluster)}`);
      });
      if (fault === "kill") await cluster.restart(old);
      else cluster.heal(old);
      await cluster.leader();
      const held = await leaderSnapshot(cluster);
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
    await untilAsync(async () => (await differencesFromLeader(cluster, cache)).length === 0, "replica equals the leader's SyncLatest at the end", 30_000);
    // Writes the old leader acknowledged but never passed on are lost by Pomerium: said, not asserted.
    console.log(`cluster leader change: ${writes} writes, ${acked.length} acknowledged, ${lost.length} acknowledged but lost in a leader change`);
  });
});

/** Until every node's checkpoint has reached the leader's newest record version (as it was when asked). */
async function untilCaughtUp(cluster: PomeriumCluster): Promise<void> {
  const leader = await cluster.leader();
  const target = await cluster.checkpoint(leader);
  await untilAsync(
    async () => {
      const views = await Promise.all(cluster.nodes.map((n) => cluster.checkpoint(n.id).catch(() => undefined)));
      return views.every((v) => v !== undefined && v.serverVersion === target.serverVersion && v.recordVersion >= target.recordVersion);
    },
    "every node copied the leader",
    30_000,
  );
}

/** Each node's own view, for a failure message. */
async function describeNodes(cluster: PomeriumCluster): Promise<string> {
  const views = await Promise.all(
    cluster.nodes.map(async (n) => {
      const cp = await cluster.checkpoint(n.id).then((c) => `leader=${c.isLeader} cp=${c.serverVersion}/${c.recordVersion}`, (e: Error) => e.message);
      const info = await cluster.client(n.id).serverInfo({}, { timeoutMs: 2000 }).then((i) => `sv=${i.serverVersion}/${i.latestRecordVersion}`, (e: Error) => e.message);
      const local = await cluster.client(n.id, "local").serverInfo({}, { timeoutMs: 2000 }).then((i) => `local sv=${i.serverVersion}/${i.latestRecordVersion}`, (e: Error) => e.message);
      return `${n.id} ${n.url} ${cp} ${info} ${local}`;
    }),
  );
  return views.join(" | ");
}

/** The leader's SyncLatest (over its own connection), retried while leadership moves. */
async function leaderSnapshot(cluster: PomeriumCluster): Promise<Awaited<ReturnType<typeof serverSnapshot>>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await serverSnapshot({ url: cluster.node(await cluster.leader()).url, sharedSecret: SECRET }, SESSION_TYPE);
    } catch (err) {
      if (attempt >= 50) throw err;
    }
  }
}

async function differencesFromLeader(cluster: PomeriumCluster, cache: DatabrokerCache): Promise<string[]> {
  return differences(cache, SESSION_TYPE, await leaderSnapshot(cluster));
}

/** A partitioned leader may still say it leads for a moment: wait for another node to lead. */
async function untilNewLeader(cluster: PomeriumCluster, old: string): Promise<string> {
  let found = old;
  await untilAsync(async () => (found = await cluster.leader()) !== old, "a new leader", 30_000);
  return found;
}
