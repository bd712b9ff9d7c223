import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { clusterRefusalOf } from "../../src/sync/cluster-refusal.js";
import { resolveClusterOptions } from "../../src/sync/cluster-options.js";
import { streamErrorEvent } from "../../src/sync/stream-error-events.js";
import { transition, INITIAL_SYNC_STATE } from "../../src/sync/sync-state-machine.js";

describe("a cluster node's refusal", () => {
  it("is read from the reason Pomerium puts before its message, with the matching code only", () => {
    expect(clusterRefusalOf(new ConnectError("CLUSTER_HAS_NO_LEADER: cluster has no leader", Code.Unavailable))).toBe("CLUSTER_HAS_NO_LEADER");
    expect(clusterRefusalOf(new ConnectError("NODE_IS_NOT_LEADER: request cannot be handled because the node is not the leader", Code.FailedPrecondition))).toBe("NODE_IS_NOT_LEADER");
    expect(clusterRefusalOf(new ConnectError("CLUSTER_HAS_NO_LEADER: cluster has no leader", Code.Internal))).toBeUndefined();
    expect(clusterRefusalOf(new ConnectError("CLUSTER_HAS_NO_LEADERSHIP", Code.Unavailable))).toBeUndefined();
    expect(clusterRefusalOf(new ConnectError("connection refused", Code.Unavailable))).toBeUndefined();
  });

  it("is the node's answer, not a connection failure: it says what the cluster reported and backs off like a reconnect", () => {
    // Any other UNAVAILABLE reads as a connection failure (the next URL, with the connection reset).
    const event = streamErrorEvent(new ConnectError("CLUSTER_HAS_NO_LEADER: cluster has no leader", Code.Unavailable));
    expect(event).toMatchObject({ type: "error", connectionFailure: false, clusterRefusal: "CLUSTER_HAS_NO_LEADER" });
    if (event.type !== "error") throw new Error("unreachable");
    expect(event.message).toMatch(/cluster reported it has no leader.*CLUSTER_HAS_NO_LEADER/);
    const live = { ...INITIAL_SYNC_STATE, name: "live" as const, serverVersion: 1n };
    const next = transition(live, event);
    expect(next).toMatchObject({ name: "backing-off", retryKind: "reconnect", serverVersion: 1n, attempt: 1 });
    // NODE_IS_NOT_LEADER is not transient in the same way: the ordinary backoff.
    const notLeader = transition(live, streamErrorEvent(new ConnectError("NODE_IS_NOT_LEADER: not the leader", Code.FailedPrecondition)));
    expect(notLeader).toMatchObject({ name: "backing-off", retryKind: "backoff" });
  });
});

describe("cluster options", () => {
  it("default to forwarding and a 2 s node check, and refuse what cannot work", () => {
    expect(resolveClusterOptions({})).toEqual({ syncMode: "default", leaderCheckIntervalMs: 2000 });
    expect(resolveClusterOptions({ syncMode: "local", leaderCheckIntervalMs: 50 })).toEqual({ syncMode: "local", leaderCheckIntervalMs: 50 });
    expect(() => resolveClusterOptions({ syncMode: "leader" as "local" })).toThrow(expect.objectContaining({ code: Code.InvalidArgument }));
    expect(() => resolveClusterOptions({ leaderCheckIntervalMs: 0 })).toThrow(expect.objectContaining({ code: Code.InvalidArgument }));
    expect(() => resolveClusterOptions({ leaderCheckIntervalMs: 2 ** 31 })).toThrow(expect.objectContaining({ code: Code.InvalidArgument }));
  });
});
