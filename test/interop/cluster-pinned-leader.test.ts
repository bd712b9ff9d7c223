/**
 * A cluster whose leader is pinned (databroker_cluster_leader_id: no election, no failover),
 * on file storage: while the leader is down the follower forwards nothing, the cache says so,
 * retries at a bounded rate, and recovers when the leader returns with its data.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { SECRET, SESSION_TYPE, cacheFor, session } from "../faults/fault-fixtures.js";
import { differences, serverSnapshot } from "../faults/replica-equals-server.js";
import type { PomeriumCluster } from "../support/pomerium-cluster.js";
import { until, untilAsync } from "../support/wait-until.js";
import { CLUSTER_RETRY, clusterForFile } from "./cluster-fixtures.js";


describe("a cache on a cluster with a pinned leader (file storage)", () => {
  const file = clusterForFile({ nodes: 2, storage: "file", pinnedLeader: "node-a", name: "pinned" });
  const cleanups = file.cleanups;
  let cluster: PomeriumCluster;
  beforeAll(() => {
    cluster = file.cluster;
  });

  it("reports the leader down, retries at a bounded rate, recovers when it returns", { timeout: 60_000 }, async () => {
    expect(await cluster.leader()).toBe("node-a");
    await cluster.client("node-a").put({ records: [session("s-p-0", "u"), session("s-p-1", "u")] });
    // Through the follower only: every call is forwarded to the pinned leader.
    const cache = cacheFor(cleanups, { url: cluster.node("node-b").url, types: [SESSION_TYPE], retry: CLUSTER_RETRY, connectTimeoutMs: 1000, cluster: { leaderCheckIntervalMs: 200 } });
    await cache.ready({ timeoutMs: 20_000 });
    expect(cache.size(SESSION_TYPE)).toBe(2);

    let attempts = 0;
    let previous = cache.state.streams[0]!.state;
    const sub = cache.state$.subscribe((s) => {
      const st = s.streams[0]!;
      if (st.state === "backing-off" && previous !== "backing-off") attempts++;
      previous = st.state;
    });
    cleanups.add(() => sub.unsubscribe());

    await cluster.kill("node-a");
    await until(() => cache.state.streams[0]!.state === "backing-off", "cache reports the leader down", 20_000);
    const reported = cache.state.streams[0]!.lastError;
    // The follower answers UNAVAILABLE with its own failure to reach the leader.
    expect(reported).toMatch(/^Unavailable: /);
    const from = attempts;
    const startedAt = Date.now();
    await untilAsync(async () => Date.now() - startedAt >= 3000, "a 3 s window with the leader down", 10_000);
    const perSecond = ((attempts - from) * 1000) / (Date.now() - startedAt);
    // Capped at 400 ms with full jitter: about 5 a second; a loop without backoff makes hundreds.
    expect(perSecond).toBeLessThanOrEqual(20);
    // Reads keep being served from the replica meanwhile.
    expect(cache.size(SESSION_TYPE)).toBe(2);

    await cluster.restart("node-a");
    await cluster.client("node-a").put({ records: [session("s-p-2", "u")] });
    const url = cluster.node("node-a").url;
    await untilAsync(async () => differences(cache, SESSION_TYPE, await serverSnapshot({ url, sharedSecret: SECRET }, SESSION_TYPE)).length === 0, "cache equals the returned leader", 20_000);
    expect(cache.get(SESSION_TYPE, "s-p-2")).toBeDefined();
    console.log(`pinned leader down: ${perSecond.toFixed(1)} attempts/s per stream; last error while down: ${reported}`);
  });
});
