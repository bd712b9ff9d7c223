/**
 * How the loop recovers, against scripted streams: what keeps the position and what forgets it,
 * how long each kind of failure waits, and that nothing the loop schedules can throw into a timer.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { SyncLoop, type SyncLoopOptions } from "../../src/sync/sync-loop.js";
import { startRecording, withRecorder } from "./loop-recorder.js";
import { ScriptedProvider, SESSION_TYPE, change, latestRecord, latestVersions, record, until } from "./scripted-source.js";

const USER_TYPE = "type.googleapis.com/user.User";
const loops: SyncLoop[] = [];
afterEach(() => {
  for (const loop of loops.splice(0)) loop.close();
});

function startLoop(provider: ScriptedProvider, options: Partial<Omit<SyncLoopOptions, "replica">> = {}) {
  const retry = { initialDelayMs: 5, maxDelayMs: 40, authRetryDelayMs: 200, fastLoopMaxRetries: 100, fastLoopWindowMs: 1000, ...options.retry };
  const { options: withTarget, target } = withRecorder({ type: SESSION_TYPE, source: provider, idleTimeoutMs: 5000, ...options, retry });
  const loop = new SyncLoop(withTarget);
  loops.push(loop);
  return startRecording(loop, target);
}

/** Serves the next SyncLatest the provider sees (for `type`) and returns its index. */
async function serveNextSnapshot(provider: ScriptedProvider, type: string, serverVersion: bigint, recordVersion: bigint): Promise<number> {
  for (let n = 0; ; n++) {
    const call = await provider.call(n);
    if (call.kind !== "syncLatest" || call.type !== type || call.latest!.served) continue;
    call.latest!.served = true;
    call.latest!.push(latestVersions(serverVersion, recordVersion));
    call.latest!.end();
    return n;
  }
}

const callsOf = (provider: ScriptedProvider, type: string, kind: "sync" | "syncLatest") => provider.calls.filter((c) => c.type === type && c.kind === kind);

describe("what a failure does to the position", () => {
  it("keeps the other streams' positions when one stream's connection failure resets the shared connection", async () => {
    const provider = new ScriptedProvider();
    const sessions = startLoop(provider, { type: SESSION_TYPE });
    const users = startLoop(provider, { type: USER_TYPE });
    await serveNextSnapshot(provider, SESSION_TYPE, 7n, 3n);
    await serveNextSnapshot(provider, USER_TYPE, 7n, 3n);
    await until(() => sessions.loop.status.state === "live" && users.loop.status.state === "live", "both live");
    const sessionSync = callsOf(provider, SESSION_TYPE, "sync")[0]!;
    const userSync = callsOf(provider, USER_TYPE, "sync")[0]!;
    userSync.changes!.push(change(record("u", 4n)));
    await until(() => users.loop.status.recordVersion === 4n, "users at 4");

    // The session stream's connection fails (a reset socket): the URL set resets the connection,
    // which cuts the user stream too, with the CANCELLED an aborted connection reports.
    sessionSync.changes!.fail(Object.assign(new ConnectError("read ECONNRESET", Code.Unavailable), { cause: Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }) }));
    await until(() => provider.failures.length === 1, "the failover");
    userSync.changes!.fail(new ConnectError("connection aborted", Code.Canceled));

    await until(() => callsOf(provider, USER_TYPE, "sync").length === 2 && callsOf(provider, SESSION_TYPE, "sync").length === 2, "both resumed");
    expect(callsOf(provider, USER_TYPE, "sync")[1]).toMatchObject({ serverVersion: 7n, recordVersion: 4n });
    expect(callsOf(provider, SESSION_TYPE, "sync")[1]).toMatchObject({ serverVersion: 7n, recordVersion: 3n });
    // No type ran SyncLatest again, and the cut stream did not fail over a second time.
    expect(callsOf(provider, USER_TYPE, "syncLatest")).toHaveLength(1);
    expect(callsOf(provider, SESSION_TYPE, "syncLatest")).toHaveLength(1);
    expect(provider.failures).toHaveLength(1);
    expect(users.statuses.some((s) => s.lastError?.includes("reset by this client") === true)).toBe(true);
  });

  it("takes an ABORTED read after another stream's reset for what it is: the server's, a resync", async () => {
    const provider = new ScriptedProvider();
    const { loop } = startLoop(provider);
    await serveNextSnapshot(provider, SESSION_TYPE, 7n, 3n);
    const sync = await provider.call(1);
    sync.changes!.fail(new ConnectError("invalid record version", Code.Aborted));
    provider.reportConnectionFailure(provider.current()); // another loop's failure, before this one reads its ABORTED
    expect((await provider.call(2)).kind).toBe("syncLatest");
    expect(loop.status.lastError).toMatch(/sync aborted by the server/);
  });

  it("still forgets the position on the server's own CANCELLED (Clear) and on ABORTED", async () => {
    const provider = new ScriptedProvider();
    const { loop } = startLoop(provider);
    await serveNextSnapshot(provider, SESSION_TYPE, 7n, 3n);
    (await provider.call(1)).changes!.fail(new ConnectError("context canceled", Code.Canceled));
    expect((await provider.call(2)).kind).toBe("syncLatest");
    await serveNextSnapshot(provider, SESSION_TYPE, 8n, 0n);
    (await provider.call(3)).changes!.fail(new ConnectError("invalid server version", Code.Aborted));
    expect((await provider.call(4)).kind).toBe("syncLatest");
    expect(loop.status.state).toBe("snapshotting");
  });

  it("resyncs when the replica refuses a change, instead of advancing past it", async () => {
    const provider = new ScriptedProvider();
    const { loop, target, statuses } = startLoop(provider);
    await serveNextSnapshot(provider, SESSION_TYPE, 7n, 3n);
    let refusals = 0;
    target.refuse = (event) => (event.kind === "change" && refusals++ === 0 ? new ConnectError("does not fit", Code.FailedPrecondition) : undefined);
    (await provider.call(1)).changes!.push(change(record("a", 4n)));
    const resync = await provider.call(2);
    expect(resync.kind).toBe("syncLatest");
    expect(statuses.some((s) => s.lastError?.includes("refused a change (does not fit)") === true)).toBe(true);
    expect(target.events.filter((e) => e.kind === "change")).toEqual([]); // nothing of it was taken
    resync.latest!.push(latestRecord(record("a", 4n)), latestVersions(7n, 4n));
    resync.latest!.end();
    const sync = await provider.call(3);
    expect(sync).toMatchObject({ kind: "sync", serverVersion: 7n, recordVersion: 4n });
    expect(loop.status.recordVersion).toBe(4n);
  });

  it("routes an exception thrown while a deferred batch is flushed into the loop, not into a timer", async () => {
    const provider = new ScriptedProvider();
    const target = withRecorder({ type: SESSION_TYPE, source: provider }).target;
    let adds = 0;
    const begin = target.begin.bind(target);
    target.begin = (type) => {
      const sink = begin(type);
      return {
        ...sink,
        add: (chunk) => {
          // The replica's builder throws like this once a newer snapshot superseded it.
          if (adds++ === 0) throw new ConnectError("snapshot superseded by a newer one", Code.Aborted);
          sink.add(chunk);
        },
      };
    };
    const loop = new SyncLoop({ type: SESSION_TYPE, source: provider, replica: target, retry: { initialDelayMs: 5, maxDelayMs: 20 } });
    loops.push(loop);
    loop.start();
    const first = await provider.call(0);
    first.latest!.push(latestRecord(record("a", 1n))); // flushed from a setImmediate: the add throws there
    const again = await provider.call(1);
    expect(again.kind).toBe("syncLatest");
    expect(first.signal.aborted).toBe(true);
    again.latest!.push(latestRecord(record("a", 1n)), latestVersions(7n, 1n));
    again.latest!.end();
    await until(() => loop.status.state === "live", "live after the retry");
    expect(target.events.map((e) => e.kind)).toEqual(["snapshot"]);
  });
});

describe("how long each kind of failure waits", () => {
  it("resyncs at once after ABORTED, with no backoff delay", async () => {
    const provider = new ScriptedProvider();
    const { statuses } = startLoop(provider, { retry: { initialDelayMs: 10_000, maxDelayMs: 60_000 } });
    await serveNextSnapshot(provider, SESSION_TYPE, 7n, 3n);
    (await provider.call(1)).changes!.fail(new ConnectError("invalid server version", Code.Aborted));
    expect((await provider.call(2)).kind).toBe("syncLatest");
    expect(statuses.filter((s) => s.state === "backing-off").map((s) => s.retryInMs)).toEqual([0]);
  });

  it("caps the wait after connection failures at maxReconnectDelayMs, and never applies the fast-loop penalty to them", async () => {
    const provider = new ScriptedProvider();
    provider.onConnect = async () => {
      throw new ConnectError("connect ECONNREFUSED 127.0.0.1:1", Code.Unavailable);
    };
    const retry = { initialDelayMs: 2, maxDelayMs: 60_000, maxReconnectDelayMs: 16, fastLoopMaxRetries: 3, fastLoopWindowMs: 60_000 };
    const { statuses } = startLoop(provider, { retry, random: () => 0.999 });
    const waits = () => statuses.filter((s) => s.state === "backing-off").map((s) => s.retryInMs);
    await until(() => waits().length >= 8, "eight refused connections");
    // 2, 4, 8, 16 ms ceilings, then held at the 16 ms cap; never the 30-60 s fast-loop delay.
    expect(waits().slice(0, 8)).toEqual([1, 3, 7, 15, 15, 15, 15, 15]);
  });

  it("still forces the long delay when resyncs keep failing fast", async () => {
    const provider = new ScriptedProvider();
    const retry = { initialDelayMs: 1, maxDelayMs: 400, fastLoopMaxRetries: 3, fastLoopWindowMs: 10_000 };
    const { statuses } = startLoop(provider, { retry, random: () => 0.5 });
    const waits = () => statuses.filter((s) => s.state === "backing-off").map((s) => s.retryInMs);
    for (let round = 0; round < 3; round++) {
      await serveNextSnapshot(provider, SESSION_TYPE, 7n, 3n);
      (await provider.call(round * 2 + 1)).changes!.fail(new ConnectError("invalid server version", Code.Aborted));
      await until(() => waits().length === round + 1, `resync ${round}`);
    }
    expect(waits()).toEqual([0, 0, 300]);
  });
});
