/**
 * The periodic re-read of a live Sync stream, against scripted streams and a real replica: it
 * closes three gaps the databroker leaves (a commit that becomes visible after the stream passed
 * its version, options changed while a stream is open, a compaction under a slow stream).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { Replica } from "../../src/replica/replica.js";
import type { ReplicaEvent } from "../../src/replica/replica-events.js";
import { replicaTarget } from "../../src/sync/replica-target.js";
import { SyncLoop, type SyncLoopOptions } from "../../src/sync/sync-loop.js";
import { sessionRecord } from "../replica/replica-fixtures.js";
import { ScriptedProvider, SESSION_TYPE, change, changeOptions, latestRecord, latestVersions, until } from "./scripted-source.js";
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { RecordSchema, type Record as DatabrokerRecord } from "../../gen/databroker/databroker_pb.js";

const loops: SyncLoop[] = [];
afterEach(() => {
  for (const loop of loops.splice(0)) loop.close();
});

/** A session Record with real Session bytes (the replica keeps only well-formed data). */
function session(id: string, version: bigint, deleted = false): DatabrokerRecord {
  const raw = sessionRecord(id, version, `u${version}`);
  return create(RecordSchema, {
    type: SESSION_TYPE,
    id,
    version,
    data: create(AnySchema, { typeUrl: raw.typeUrl, value: raw.data }),
    deletedAt: deleted ? { seconds: 1n, nanos: 0 } : undefined,
  });
}

/** A loop over a real replica, with a hand-driven clock and a short refresh interval. */
function start(provider: ScriptedProvider, options: Partial<Omit<SyncLoopOptions, "replica">> = {}) {
  const replica = new Replica();
  const applied: ReplicaEvent[] = [];
  const inner = replicaTarget(replica);
  const clock = { now: 0 };
  const loop = new SyncLoop({
    type: SESSION_TYPE,
    source: provider,
    retry: { initialDelayMs: 5, maxDelayMs: 20 },
    now: () => clock.now,
    refresh: { intervalMs: 40, lateCommitGraceMs: 1000 },
    replica: { ...inner, apply: (event) => (inner.apply(event), applied.push(event)) },
    ...options,
  });
  loops.push(loop);
  loop.start();
  return { loop, replica, applied, clock };
}

async function snapshotThenSync(provider: ScriptedProvider, records: DatabrokerRecord[], serverVersion: bigint, recordVersion: bigint) {
  const latest = await provider.call(0);
  latest.latest!.push(...records.map(latestRecord), latestVersions(serverVersion, recordVersion));
  latest.latest!.end();
  return provider.call(1);
}

describe("the periodic re-read of a live stream", () => {
  it("restarts Sync from the position held a refresh interval plus the grace ago, after telling the replica its floor", async () => {
    const provider = new ScriptedProvider();
    const { loop, applied, clock } = start(provider);
    const sync = await snapshotThenSync(provider, [], 7n, 3n);
    clock.now = 500;
    sync.changes!.push(change(session("a", 4n)));
    await until(() => loop.status.recordVersion === 4n, "at 4");
    clock.now = 2000; // the position was 3 until t=500, 4 since: the cutoff 2000 - 40 - 1000 = 960 picks 4
    sync.changes!.push(change(session("b", 5n)));
    await until(() => loop.status.recordVersion === 5n, "at 5");
    const refreshed = await provider.call(2);
    expect(refreshed).toMatchObject({ kind: "sync", serverVersion: 7n, recordVersion: 4n });
    expect(sync.signal.aborted).toBe(true);
    expect(applied.filter((e) => e.kind === "floor")).toEqual([{ kind: "floor", type: SESSION_TYPE, serverVersion: 7n, recordVersion: 4n }]);
    expect(loop.status.state).toBe("live");
    expect(loop.status.attempt).toBe(0);
  });

  it("re-reads right after a snapshot from the snapshot's own position", async () => {
    const provider = new ScriptedProvider();
    const { applied } = start(provider);
    await snapshotThenSync(provider, [], 7n, 3n);
    expect(await provider.call(2)).toMatchObject({ kind: "sync", recordVersion: 3n });
    expect(applied.filter((e) => e.kind === "floor").map((e) => (e.kind === "floor" ? e.recordVersion : -1n))).toEqual([3n]);
  });

  it("reads a commit that became visible after the stream had passed its version", async () => {
    const provider = new ScriptedProvider();
    const { loop, replica } = start(provider);
    const sync = await snapshotThenSync(provider, [], 7n, 3n);
    // Version 4 commits late: the live stream sends 5 and never goes back for 4.
    sync.changes!.push(change(session("late-neighbour", 5n)));
    await until(() => loop.status.recordVersion === 5n, "at 5");
    expect(replica.get(SESSION_TYPE, "late")).toBeUndefined();
    const reread = await provider.call(2);
    expect(reread.recordVersion).toBe(3n);
    reread.changes!.push(change(session("late", 4n)), change(session("late-neighbour", 5n)));
    await until(() => replica.get(SESSION_TYPE, "late") !== undefined, "the late commit");
    expect(replica.get(SESSION_TYPE, "late")?.version).toBe(4n);
    expect(replica.versions(SESSION_TYPE)).toEqual({ serverVersion: 7n, recordVersion: 5n }); // never moved back
  });

  it("never brings back a record the stream deleted when the re-read replays its older versions", async () => {
    const provider = new ScriptedProvider();
    const { loop, replica } = start(provider);
    const sync = await snapshotThenSync(provider, [session("gone", 2n)], 7n, 3n);
    sync.changes!.push(change(session("gone", 4n)), change(session("gone", 5n, true)));
    await until(() => loop.status.recordVersion === 5n, "at 5");
    expect(replica.get(SESSION_TYPE, "gone")).toBeUndefined();
    const reread = await provider.call(2);
    reread.changes!.push(change(session("gone", 4n)));
    await until(() => loop.status.recordVersion === 4n, "the replay of 4 read");
    expect(replica.get(SESSION_TYPE, "gone")).toBeUndefined();
    reread.changes!.push(change(session("gone", 5n, true)), change(session("next", 6n)));
    await until(() => replica.get(SESSION_TYPE, "next") !== undefined, "past the replay");
    expect(replica.get(SESSION_TYPE, "gone")).toBeUndefined();
  });

  it("takes the options the new stream sends at its start (a SetOptions made while the old stream was open)", async () => {
    const provider = new ScriptedProvider();
    const { replica } = start(provider);
    const sync = await snapshotThenSync(provider, [], 7n, 3n);
    sync.changes!.push(changeOptions(SESSION_TYPE, 10n));
    await until(() => replica.options(SESSION_TYPE)?.capacity === 10n, "first options");
    const reread = await provider.call(2);
    reread.changes!.push(changeOptions(SESSION_TYPE, 20n));
    await until(() => replica.options(SESSION_TYPE)?.capacity === 20n, "options from the new stream");
  });

  it("resyncs when the re-read finds its history compacted (a stream that fell behind a compaction)", async () => {
    const provider = new ScriptedProvider();
    const { loop, replica } = start(provider);
    const sync = await snapshotThenSync(provider, [session("a", 1n)], 7n, 3n);
    // The server compacted 4..9 under the live stream, which skips straight to 10.
    sync.changes!.push(change(session("ten", 10n)));
    await until(() => loop.status.recordVersion === 10n, "at 10");
    const reread = await provider.call(2);
    expect(reread.recordVersion).toBe(3n);
    reread.changes!.fail(new ConnectError("invalid record version", Code.Aborted));
    const resync = await provider.call(3);
    expect(resync.kind).toBe("syncLatest");
    resync.latest!.push(latestRecord(session("a", 1n)), latestRecord(session("missed", 6n)), latestRecord(session("ten", 10n)), latestVersions(7n, 10n));
    resync.latest!.end();
    await until(() => replica.get(SESSION_TYPE, "missed") !== undefined, "the skipped change after the resync");
    expect([...replica.values(SESSION_TYPE)].map((r) => r.id).sort()).toEqual(["a", "missed", "ten"]);
  });

  it("rejects refresh settings that can never work", () => {
    const provider = new ScriptedProvider();
    expect(() => start(provider, { refresh: { intervalMs: 0 } })).toThrow(/refresh.intervalMs must be a positive number/);
    expect(() => start(provider, { refresh: { lateCommitGraceMs: -1 } })).toThrow(/refresh.lateCommitGraceMs must be a non-negative number/);
    // A Node timer fires a longer delay at once: the refresh would restart the stream in a hot loop.
    expect(() => start(provider, { refresh: { intervalMs: 2 ** 31 } })).toThrow(/refresh.intervalMs must be a positive number of milliseconds, at most 2147483647/);
    expect(() => start(provider, { retry: { maxDelayMs: 2 ** 31 } })).toThrow(/retry.maxDelayMs must be at most 2147483647/);
    expect(() => start(provider, { retry: { authRetryDelayMs: 2 ** 31 } })).toThrow(/retry.authRetryDelayMs must be at most 2147483647/);
    expect(() => start(provider, { idleTimeoutMs: Number.NaN })).toThrow(ConnectError);
  });
});
