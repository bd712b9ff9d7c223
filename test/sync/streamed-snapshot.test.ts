import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RecordSchema, type Record as DatabrokerRecord } from "../../gen/databroker/databroker_pb.js";
import { SessionSchema } from "../../gen/session/session_pb.js";
import type { ChangeBatch } from "../../src/replica/change-batch.js";
import { Replica } from "../../src/replica/replica.js";
import type { RawRecord } from "../../src/replica/replica-events.js";
import { replicaTarget, type ReplicaTarget } from "../../src/sync/replica-target.js";
import { SyncLoop } from "../../src/sync/sync-loop.js";
import { ScriptedProvider, SESSION_TYPE, latestRecord, latestVersions, until } from "./scripted-source.js";

const FAST_RETRY = { initialDelayMs: 5, maxDelayMs: 20, authRetryDelayMs: 200, fastLoopMaxRetries: 100, fastLoopWindowMs: 1000 };

/** A session Record with real Session bytes (the replica skips malformed data). */
function session(id: string, version: bigint, userId = "u1"): DatabrokerRecord {
  return create(RecordSchema, {
    type: SESSION_TYPE,
    id,
    version,
    data: { typeUrl: SESSION_TYPE, value: toBinary(SessionSchema, create(SessionSchema, { id, userId })) },
  });
}

const loops: SyncLoop[] = [];
afterEach(() => {
  for (const loop of loops.splice(0)) loop.close();
});

/** The replica as the loop's target, counting the snapshot records it has been handed. */
function start(provider: ScriptedProvider, target?: (replica: Replica) => ReplicaTarget, maxBatchSize?: number) {
  const replica = new Replica();
  const batches: ChangeBatch[] = [];
  replica.subscribe((b) => batches.push(b));
  const inner = target?.(replica) ?? replicaTarget(replica);
  const handed = { records: 0 };
  const loop = new SyncLoop({
    type: SESSION_TYPE,
    source: provider,
    retry: FAST_RETRY,
    idleTimeoutMs: 5000,
    replica: {
      ...inner,
      begin: (type) => {
        const sink = inner.begin(type);
        return { ...sink, add: (records: readonly RawRecord[]) => ((handed.records += records.length), sink.add(records)) };
      },
    },
    ...(maxBatchSize !== undefined ? { maxBatchSize } : {}),
  });
  loops.push(loop);
  loop.start();
  return { loop, replica, batches, handed };
}

/** Runs a minute of fake time: whatever a closed loop left scheduled would happen now. */
async function runLeftoverTimers(): Promise<void> {
  vi.useFakeTimers();
  try {
    await vi.advanceTimersByTimeAsync(60_000);
  } finally {
    vi.useRealTimers();
  }
}

/** Serves call n as a complete SyncLatest. */
async function serve(provider: ScriptedProvider, n: number, serverVersion: bigint, records: DatabrokerRecord[], recordVersion: bigint) {
  const call = await provider.call(n);
  expect(call.kind).toBe("syncLatest");
  call.latest!.push(...records.map(latestRecord), latestVersions(serverVersion, recordVersion));
  call.latest!.end();
  return call;
}

describe("SyncLatest streamed into the replica", () => {
  it("keeps reads on the held table while a resync streams in, then swaps once with one resync batch", async () => {
    const provider = new ScriptedProvider();
    const { loop, replica, batches, handed } = start(provider);
    await serve(provider, 0, 7n, [session("a", 1n), session("b", 2n)], 2n);
    const sync = await provider.call(1);
    expect(sync).toMatchObject({ kind: "sync", serverVersion: 7n, recordVersion: 2n });
    expect(batches.map((b) => b.kind)).toEqual(["snapshot"]);

    sync.changes!.fail(new ConnectError("server version changed", Code.Aborted)); // resync from scratch
    const latest = await provider.call(2);
    latest.latest!.push(latestRecord(session("c", 1n)), latestRecord(session("d", 2n)));
    await until(() => loop.status.state === "snapshotting" && handed.records === 4, "the new records in the builder");
    expect(replica.get(SESSION_TYPE, "a")?.id).toBe("a");
    expect(replica.get(SESSION_TYPE, "c")).toBeUndefined();
    expect(replica.versions(SESSION_TYPE)?.serverVersion).toBe(7n);
    latest.latest!.push(latestVersions(8n, 2n));
    latest.latest!.end();

    await until(() => loop.status.state === "live" && replica.versions(SESSION_TYPE)?.serverVersion === 8n, "live on the new server");
    expect(replica.get(SESSION_TYPE, "a")).toBeUndefined();
    expect(replica.get(SESSION_TYPE, "c")?.id).toBe("c");
    expect(batches).toHaveLength(2);
    expect(batches[1]).toMatchObject({ kind: "resync", serverVersion: 8n });
    expect(batches[1]!.upserts.map((r) => r.id).sort()).toEqual(["c", "d"]);
    expect(batches[1]!.deletes.map((r) => r.id).sort()).toEqual(["a", "b"]);
  });

  it("a SyncLatest that fails mid-way leaves the held table serving and no half state; the retry is complete", async () => {
    const provider = new ScriptedProvider();
    const { loop, replica, batches, handed } = start(provider);
    await serve(provider, 0, 7n, [session("a", 1n), session("b", 2n)], 2n);
    const sync = await provider.call(1);
    sync.changes!.fail(new ConnectError("server version changed", Code.Aborted));
    const broken = await provider.call(2);
    broken.latest!.push(latestRecord(session("half", 1n)));
    await until(() => handed.records === 3, "the half snapshot's record in its builder");
    broken.latest!.fail(new ConnectError("connection reset", Code.Unavailable));
    await until(() => loop.status.state === "backing-off" || provider.calls.length > 3, "failure seen");
    expect(replica.get(SESSION_TYPE, "a")?.id).toBe("a");
    expect(replica.get(SESSION_TYPE, "half")).toBeUndefined();
    expect(batches).toHaveLength(1);

    await serve(provider, 3, 8n, [session("fresh", 1n)], 1n);
    await until(() => replica.versions(SESSION_TYPE)?.serverVersion === 8n, "resynced");
    expect([...replica.values(SESSION_TYPE)].map((r) => r.id)).toEqual(["fresh"]);
    expect(batches).toHaveLength(2);
    expect(batches[1]!.upserts.map((r) => r.id)).toEqual(["fresh"]);
    expect(batches[1]!.deletes.map((r) => r.id).sort()).toEqual(["a", "b"]);
  });

  it("yields to the event loop between chunks of a large SyncLatest and adds it chunk by chunk", async () => {
    const provider = new ScriptedProvider();
    const chunks: number[] = [];
    const { loop, replica } = start(
      provider,
      (r) => {
        const inner = replicaTarget(r);
        return {
          ...inner,
          begin: (type) => {
            const sink = inner.begin(type);
            return { ...sink, add: (records: readonly RawRecord[]) => (chunks.push(records.length), sink.add(records)) };
          },
        };
      },
      100,
    );
    const call = await provider.call(0);
    const N = 2000;
    // Everything is buffered at once: without yields the whole stream would be read in one turn.
    call.latest!.push(...Array.from({ length: N }, (_, i) => latestRecord(session(`s${i}`, BigInt(i + 1)))), latestVersions(7n, BigInt(N)));
    call.latest!.end();
    let turns = 0;
    let turnsWhileSnapshotting = 0;
    const tick = () => {
      turns++;
      if (loop.status.state === "snapshotting" || loop.status.state === "connecting") turnsWhileSnapshotting++;
      if (loop.status.state !== "live" && turns < 100_000) setImmediate(tick);
    };
    setImmediate(tick);
    await until(() => loop.status.state === "live", "live");
    expect(replica.size(SESSION_TYPE)).toBe(N);
    expect(chunks.length).toBeGreaterThanOrEqual(N / 100);
    expect(Math.max(...chunks)).toBeLessThanOrEqual(100);
    expect(chunks.reduce((a, b) => a + b, 0)).toBe(N);
    expect(turnsWhileSnapshotting).toBeGreaterThanOrEqual(N / 100 - 1);
  });

  it("a snapshot superseded before its swap swaps nothing and the loop resyncs from SyncLatest", async () => {
    const provider = new ScriptedProvider();
    let supersede = true;
    const { loop, replica, batches } = start(provider, (r) => {
      const inner = replicaTarget(r);
      return {
        ...inner,
        begin: (type) => {
          const sink = inner.begin(type);
          return {
            ...sink,
            finishInSteps: (versions, options) => {
              const completion = sink.finishInSteps(versions, options);
              return {
                prepare: (budgetMs: number) => completion.prepare(budgetMs),
                swap: () => {
                  if (supersede) {
                    supersede = false;
                    r.beginSnapshot(type); // someone else's newer snapshot of the same scope
                  }
                  return completion.swap();
                },
              };
            },
          };
        },
      };
    });
    await serve(provider, 0, 7n, [session("a", 1n)], 1n);
    const retry = await provider.call(1);
    expect(retry.kind).toBe("syncLatest"); // not Sync: the position was never taken
    expect(replica.isReady()).toBe(false);
    expect(batches).toEqual([]);
    expect(loop.status.lastError).toMatch(/superseded/);
    retry.latest!.push(latestRecord(session("b", 2n)), latestVersions(7n, 2n));
    retry.latest!.end();
    await until(() => loop.status.state === "live", "live");
    expect([...replica.values(SESSION_TYPE)].map((x) => x.id)).toEqual(["b"]);
    expect(batches.map((b) => b.kind)).toEqual(["snapshot"]);
  });

  it("close() during a streamed snapshot discards it: nothing is swapped in later", async () => {
    const provider = new ScriptedProvider();
    const { loop, replica, batches, handed } = start(provider);
    const call = await provider.call(0);
    call.latest!.push(latestRecord(session("a", 1n)));
    await until(() => handed.records === 1, "the record in the builder");
    loop.close();
    call.latest!.push(latestVersions(7n, 1n));
    call.latest!.end();
    await runLeftoverTimers();
    expect(replica.isReady()).toBe(false);
    expect(replica.get(SESSION_TYPE, "a")).toBeUndefined();
    expect(batches).toEqual([]);
  });
});
