/**
 * Waits and views on a running Pomerium cluster, for the cluster tests and the cluster bench:
 * every node caught up with the leader, the leader's SyncLatest while leadership may move, a new
 * leader, and each node's own view (for failure messages).
 */
import type { DatabrokerCache } from "../../src/cache/databroker-cache.js";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { differences, serverSnapshot } from "../faults/replica-equals-server.js";
import type { PomeriumCluster } from "./pomerium-cluster.js";
import { untilAsync } from "./wait-until.js";

/** Until every node's checkpoint has reached the leader's newest record version (as it was when asked). */
export async function untilCaughtUp(cluster: PomeriumCluster, timeoutMs = 30_000): Promise<void> {
  const leader = await cluster.leader(timeoutMs);
  const target = await cluster.checkpoint(leader);
  await untilAsync(
    async () => {
      const views = await Promise.all(cluster.nodes.map((n) => cluster.checkpoint(n.id).catch(() => undefined)));
      return views.every((v) => v !== undefined && v.serverVersion === target.serverVersion && v.recordVersion >= target.recordVersion);
    },
    "every node copied the leader",
    timeoutMs,
  );
}

/** Each node's own view, for a failure message. */
export async function describeNodes(cluster: PomeriumCluster): Promise<string> {
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
export async function leaderSnapshot(cluster: PomeriumCluster, sharedSecret: string): Promise<Awaited<ReturnType<typeof serverSnapshot>>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await serverSnapshot({ url: cluster.node(await cluster.leader(60_000)).url, sharedSecret }, SESSION_TYPE);
    } catch (err) {
      if (attempt >= 50) throw err;
    }
  }
}

export async function differencesFromLeader(cluster: PomeriumCluster, cache: DatabrokerCache, sharedSecret: string): Promise<string[]> {
  return differences(cache, SESSION_TYPE, await leaderSnapshot(cluster, sharedSecret));
}

/** A partitioned leader may still say it leads for a moment: wait for another node to lead. */
export async function untilNewLeader(cluster: PomeriumCluster, old: string): Promise<string> {
  let found = old;
  await untilAsync(async () => (found = await cluster.leader()) !== old, "a new leader", 30_000);
  return found;
}
