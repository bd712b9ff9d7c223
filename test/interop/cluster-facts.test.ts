/**
 * What Pomerium's clustered databroker (v0.32.9, three nodes of the Go peer) does on the wire,
 * checked fact by fact: the cache's cluster handling relies on each of these (interop/pomerium/
 * README.md lists them with the places they differ from what one might expect).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import type { SyncLatestResponse, SyncResponse } from "../../gen/databroker/databroker_pb.js";
import { session } from "../faults/fault-fixtures.js";
import type { PomeriumCluster } from "../support/pomerium-cluster.js";
import { untilCaughtUp } from "../support/pomerium-cluster-waits.js";
import { untilAsync } from "../support/wait-until.js";
import { clusterForFile } from "./cluster-fixtures.js";

const SESSION = "type.googleapis.com/session.Session";

async function latest(stream: AsyncIterable<SyncLatestResponse>): Promise<{ serverVersion: bigint; recordVersion: bigint; records: Map<string, { version: bigint; data: string }> }> {
  const records = new Map<string, { version: bigint; data: string }>();
  let serverVersion = 0n;
  let recordVersion = 0n;
  for await (const m of stream) {
    if (m.response.case === "record") records.set(m.response.value.id, { version: m.response.value.version, data: Buffer.from(m.response.value.data?.value ?? []).toString("base64") });
    if (m.response.case === "versions") ({ serverVersion, latestRecordVersion: recordVersion } = m.response.value);
  }
  return { serverVersion, recordVersion, records };
}

async function firstSyncError(stream: AsyncIterable<SyncResponse>): Promise<ConnectError | undefined> {
  try {
    for await (const _ of stream) {
      // drain
    }
    return undefined;
  } catch (err) {
    return ConnectError.from(err);
  }
}

async function errorOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("call succeeded");
}

const content = (records: Map<string, { data: string }>) => new Map([...records].map(([id, r]) => [id, r.data]));

describe("Pomerium's clustered databroker (3 nodes, memory storage)", () => {
  const file = clusterForFile({ nodes: 3, storage: "memory", name: "facts" });
  let cluster: PomeriumCluster;
  let leader: string;
  let follower: string;

  beforeAll(async () => {
    cluster = file.cluster;
    leader = await cluster.leader();
    follower = cluster.nodes.find((n) => n.id !== leader)!.id;
  });

  it("forwards every call from a follower to the leader in the default mode, Sync and SyncLatest included", async () => {
    await cluster.client(follower).put({ records: [session("s-1", "u-1"), session("s-2", "u-2")] });
    const viaFollower = await latest(cluster.client(follower).syncLatest({ type: SESSION }));
    const atLeader = await latest(cluster.client(leader).syncLatest({ type: SESSION }));
    expect(viaFollower).toEqual(atLeader);
    expect([...viaFollower.records.keys()].sort()).toEqual(["s-1", "s-2"]);
  });

  it("answers reads from a follower's own copy in local mode, under its own server and record versions", async () => {
    const atLeader = await latest(cluster.client(leader).syncLatest({ type: SESSION }));
    // The follower copies the leader through Sync in batches: wait for its checkpoint.
    await untilAsync(async () => (await cluster.checkpoint(follower)).recordVersion >= atLeader.recordVersion, "follower caught up", 10_000);
    const local = await latest(cluster.client(follower, "local").syncLatest({ type: SESSION }));
    expect(content(local.records)).toEqual(content(atLeader.records));
    expect(local.serverVersion).not.toBe(atLeader.serverVersion);
    // The checkpoint is in the leader's terms, not the follower's own.
    const cp = await cluster.checkpoint(follower);
    expect(cp).toEqual({ isLeader: false, serverVersion: atLeader.serverVersion, recordVersion: atLeader.recordVersion });
    expect((await cluster.checkpoint(leader)).isLeader).toBe(true);
  });

  it("refuses writes in local mode and everything in leader mode on a follower with NODE_IS_NOT_LEADER (FAILED_PRECONDITION)", async () => {
    const write = await errorOf(cluster.client(follower, "local").put({ records: [session("s-x", "u")] }));
    expect(write.code).toBe(Code.FailedPrecondition);
    expect(write.rawMessage).toMatch(/^NODE_IS_NOT_LEADER/);
    const read = await errorOf(cluster.client(follower, "leader").get({ type: SESSION, id: "s-1" }));
    expect(read.code).toBe(Code.FailedPrecondition);
    expect(read.rawMessage).toMatch(/^NODE_IS_NOT_LEADER/);
    const stream = await firstSyncError(cluster.client(follower, "leader").syncLatest({ type: SESSION }) as unknown as AsyncIterable<SyncResponse>);
    expect(stream?.code).toBe(Code.FailedPrecondition);
    await expect(cluster.client(leader, "leader").get({ type: SESSION, id: "s-1" })).resolves.toBeDefined();
  });

  it("after the leader dies, a cursor of the old leader is ABORTED and the new leader holds the same content", async () => {
    const before = await latest(cluster.client(leader).syncLatest({ type: SESSION }));
    const old = leader;
    // Followers copy the leader through Sync on their own schedule, and whichever wins the next
    // election keeps only what it had copied: wait for every follower before the leader dies.
    await untilCaughtUp(cluster);
    await cluster.kill(old);
    try {
      leader = await cluster.leader();
      expect(leader).not.toBe(old);
      const after = await latest(cluster.client(leader).syncLatest({ type: SESSION }));
      expect(after.serverVersion).not.toBe(before.serverVersion);
      expect(content(after.records)).toEqual(content(before.records));
      const err = await firstSyncError(cluster.client(leader).sync({ serverVersion: before.serverVersion, recordVersion: before.recordVersion, type: SESSION, wait: false }));
      expect(err?.code).toBe(Code.Aborted);
    } finally {
      await cluster.restart(old);
    }
  });

  it("a node that has lost its quorum answers CLUSTER_HAS_NO_LEADER (UNAVAILABLE), in every mode", async () => {
    const others = cluster.nodes.map((n) => n.id).filter((id) => id !== leader);
    const alone = others[0]!;
    cluster.partition(alone);
    let err: ConnectError | undefined;
    await untilAsync(
      async () => {
        // A follower cut off first answers UNAVAILABLE with its own failure to reach the leader
        // (e.g. "connection error: ..."), then, once Raft notices, CLUSTER_HAS_NO_LEADER.
        // (A forwarded call into the partition hangs: bounded by a deadline.)
        err = await errorOf(cluster.client(alone).get({ type: SESSION, id: "s-1" }, { timeoutMs: 1000 })).catch(() => undefined);
        return err?.code === Code.Unavailable && err.rawMessage.startsWith("CLUSTER_HAS_NO_LEADER");
      },
      "partitioned node reports no leader",
      15_000,
    );
    expect(err?.rawMessage).toMatch(/^CLUSTER_HAS_NO_LEADER/);
    const local = await errorOf(cluster.client(alone, "local").get({ type: SESSION, id: "s-1" }));
    expect(local.code).toBe(Code.Unavailable);
    expect(local.rawMessage).toMatch(/^CLUSTER_HAS_NO_LEADER/);
    cluster.heal(alone);
    await cluster.leader();
  });
});
