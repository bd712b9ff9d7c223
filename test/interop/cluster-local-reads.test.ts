/**
 * A cache reading from the nearest node of Pomerium's clustered databroker (request mode
 * "local"), and a cluster without a leader. One 3-node cluster for the file; the tests run in
 * order and leave every node running.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { DatabrokerCache } from "../../src/cache/databroker-cache.js";
import { SECRET, SESSION_TYPE, cacheFor, session } from "../faults/fault-fixtures.js";
import type { PomeriumCluster } from "../support/pomerium-cluster.js";
import { leaderSnapshot } from "../support/pomerium-cluster-waits.js";
import { until, untilAsync } from "../support/wait-until.js";
import { CLUSTER_RETRY, clusterForFile } from "./cluster-fixtures.js";


/** The ids the cache holds, and the leader's (content compared by id: versions differ by node in local mode). */
async function leaderIds(cluster: PomeriumCluster): Promise<string[]> {
  return [...(await leaderSnapshot(cluster, SECRET)).keys()].sort();
}
const cacheIds = (cache: DatabrokerCache) => cache.query(SESSION_TYPE).records.map((r) => r.id).sort();

describe("a cache in local mode on a 3-node Pomerium cluster", () => {
  const file = clusterForFile({ nodes: 3, storage: "memory", name: "local-reads" });
  const cleanups = file.cleanups;
  let cluster: PomeriumCluster;
  beforeAll(() => {
    cluster = file.cluster;
  });

  it("reads from a follower's own copy, catches up when the follower does, moves on when it dies", { timeout: 60_000 }, async () => {
    const leader = await cluster.leader();
    const [follower, other] = cluster.nodes.filter((n) => n.id !== leader).map((n) => n.id) as [string, string];
    await cluster.client(leader).put({ records: [session("s-l-0", "u"), session("s-l-1", "u")] });

    // The follower first: "the nearest node".
    const urls = [follower, other, leader].map((id) => cluster.node(id).url);
    const cache = cacheFor(cleanups, { urls, types: [SESSION_TYPE], retry: CLUSTER_RETRY, connectTimeoutMs: 1000, cluster: { syncMode: "local", leaderCheckIntervalMs: 200 } });
    await cache.ready({ timeoutMs: 20_000 });
    await until(() => cacheIds(cache).length === 2, "cache has the first records", 10_000);
    const stream = () => cache.state.streams[0]!;
    expect(stream().requestMode).toBe("local");
    expect(stream().url).toBe(cluster.node(follower).url);
    // Streams in the follower's own server version, not the leader's.
    const followerOwn = await cluster.client(follower, "local").serverInfo({});
    expect(stream().serverVersion).toBe(followerOwn.serverVersion);
    await until(() => stream().behindLeader === 0n, "caught-up follower reported 0 behind", 10_000);

    // Stall the follower's copy of the leader: it falls behind, and so does the cache.
    const copy = cluster.link(follower, leader).grpc;
    copy.blackhole();
    copy.cut();
    // Writes through cache.client stay in default mode: forwarded to the leader by the follower
    // it talks to... which cannot reach the leader now; write through the leader itself.
    await cluster.client(leader).put({ records: [session("s-l-2", "u"), session("s-l-3", "u")] });
    const expected = await leaderIds(cluster);
    expect(expected).toContain("s-l-3");
    await untilAsync(async () => (await cluster.checkpoint(leader)).recordVersion > (await cluster.checkpoint(follower)).recordVersion, "follower behind", 5000);
    expect(cacheIds(cache)).not.toContain("s-l-3");
    // The node's lag is not knowable while it cannot reach the leader: never a stale 0.
    await until(() => stream().behindLeader !== 0n, "lag no longer reported as 0", 5000);

    // Healed; the connections held while blackholed lost their bytes: drop them.
    copy.heal();
    copy.cut();
    await until(() => cacheIds(cache).includes("s-l-3"), "cache catches up with the follower", 20_000);
    expect(cacheIds(cache)).toEqual(expected);
    expect(stream().url).toBe(cluster.node(follower).url);
    await until(() => stream().behindLeader === 0n, "follower reported caught up", 10_000);

    // Writes through cache.client go to the leader (default mode), even though the streams read locally.
    await cache.client.put({ records: [session("s-l-4", "u")] });
    await until(() => cacheIds(cache).includes("s-l-4"), "own write arrives through the follower", 20_000);

    // Kill the follower: the cache moves to the next URL and stays equal to the leader.
    await cluster.kill(follower);
    await until(() => stream().url === cluster.node(other).url && stream().state === "live", "cache moved to the next node", 20_000);
    await untilAsync(async () => JSON.stringify(cacheIds(cache)) === JSON.stringify(await leaderIds(cluster)), "cache equals the leader on the next node", 20_000);
    expect(stream().requestMode).toBe("local");
    await cluster.restart(follower);
  });

  it("without a leader: says what the cluster reported, retries at a bounded rate, recovers when a leader is back", { timeout: 60_000 }, async () => {
    const leader = await cluster.leader();
    const survivor = cluster.nodes.find((n) => n.id !== leader)!.id;
    const cache = cacheFor(cleanups, { urls: [cluster.node(survivor).url], types: [SESSION_TYPE], retry: CLUSTER_RETRY, connectTimeoutMs: 1000, cluster: { leaderCheckIntervalMs: 200 } });
    await cache.ready({ timeoutMs: 20_000 });

    // Count failed attempts: each entry into backing-off is one.
    let attempts = 0;
    let reported: string | undefined;
    let previous = cache.state.streams[0]!.state;
    const sub = cache.state$.subscribe((s) => {
      const st = s.streams[0]!;
      if (st.state === "backing-off" && previous !== "backing-off") {
        attempts++;
        if (st.lastError?.includes("CLUSTER_HAS_NO_LEADER")) reported = st.lastError;
      }
      previous = st.state;
    });
    cleanups.add(() => sub.unsubscribe());

    // Two of three nodes down: the survivor has no quorum, so no leader.
    const down = cluster.nodes.map((n) => n.id).filter((id) => id !== survivor);
    await Promise.all(down.map((id) => cluster.kill(id)));
    await until(() => reported !== undefined, "cache reports CLUSTER_HAS_NO_LEADER", 20_000);
    expect(reported).toMatch(/no leader/);
    const from = attempts;
    const startedAt = Date.now();
    await untilAsync(async () => Date.now() - startedAt >= 3000, "a 3 s leaderless window", 10_000);
    const perSecond = ((attempts - from) * 1000) / (Date.now() - startedAt);
    // Full-jitter backoff capped at 400 ms averages one attempt per 200 ms: at most 5 a second,
    // 20 allows for the jitter's short draws. A loop without backoff makes hundreds.
    expect(perSecond).toBeLessThanOrEqual(20);
    expect(cache.state.streams[0]!.url).toBe(cluster.node(survivor).url);

    await cluster.restart(down[0]!);
    await cluster.leader();
    await until(() => cache.state.streams[0]!.state === "live", "cache live again", 20_000);
    await untilAsync(async () => JSON.stringify(cacheIds(cache)) === JSON.stringify(await leaderIds(cluster)), "cache equals the new leader", 20_000);
    console.log(`cluster without a leader: ${perSecond.toFixed(1)} attempts/s per stream while leaderless`);
    await cluster.restart(down[1]!);
  });
});
