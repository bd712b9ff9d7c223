import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SyncLoop, type SyncLoopOptions } from "../../src/sync/sync-loop.js";
import {
  ScriptedProvider,
  SESSION_TYPE,
  change,
  changeOptions,
  latestOptions,
  latestRecord,
  latestVersions,
  record,
  until,
} from "./scripted-source.js";
import { startRecording, withRecorder } from "./loop-recorder.js";

const BIG_SERVER_VERSION = 2n ** 64n - 3n; // above 2^53: must survive as bigint
const FAST_RETRY = { initialDelayMs: 5, maxDelayMs: 40, authRetryDelayMs: 200, fastLoopMaxRetries: 100, fastLoopWindowMs: 1000 };

const loops: SyncLoop[] = [];
afterEach(() => {
  for (const loop of loops.splice(0)) loop.close();
});

function startLoop(provider: ScriptedProvider, options: Partial<Omit<SyncLoopOptions, "replica">> = {}) {
  const { options: withTarget, target } = withRecorder({ type: SESSION_TYPE, source: provider, retry: FAST_RETRY, idleTimeoutMs: 5000, ...options });
  const loop = new SyncLoop(withTarget);
  loops.push(loop);
  return startRecording(loop, target);
}

/** Completes the n-th call as a SyncLatest with the given records and versions. */
async function serveSnapshot(provider: ScriptedProvider, n: number, serverVersion: bigint, recordVersion: bigint, ids: string[] = []) {
  const call = await provider.call(n);
  expect(call.kind).toBe("syncLatest");
  call.latest!.push(...ids.map((id, i) => latestRecord(record(id, BigInt(i + 1)))), latestVersions(serverVersion, recordVersion));
  call.latest!.end();
  return call;
}

/**
 * Runs every timer the loop could have left (fake time, a minute of it) and checks that no
 * further stream was opened: what a closed loop must guarantee, without waiting in real time.
 */
async function expectNothingScheduled(provider: ScriptedProvider, calls: number): Promise<void> {
  vi.useFakeTimers();
  try {
    await vi.advanceTimersByTimeAsync(60_000);
  } finally {
    vi.useRealTimers();
  }
  expect(provider.calls).toHaveLength(calls);
}

/** Resolves in the timers phase of a later iteration of the event loop, where a new turn begins. */
function nextLoopIteration(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

describe("sync loop against a scripted stream source", () => {
  it("reads SyncLatest in full, emits one snapshot, then resumes Sync from its versions with the same type", async () => {
    const provider = new ScriptedProvider();
    const { loop, events, statuses } = startLoop(provider);
    const first = await provider.call(0);
    expect(first).toMatchObject({ kind: "syncLatest", type: SESSION_TYPE });
    first.latest!.push(latestRecord(record("a", 1n)), latestRecord(record("b", 2n)));
    await until(() => loop.status.state === "snapshotting", "snapshotting");
    expect(events).toEqual([]); // buffered on the side until the versions arrive
    first.latest!.push(latestOptions(SESSION_TYPE, 10n), latestVersions(BIG_SERVER_VERSION, 2n));
    first.latest!.end();

    const sync = await provider.call(1);
    expect(sync).toMatchObject({ kind: "sync", type: SESSION_TYPE, serverVersion: BIG_SERVER_VERSION, recordVersion: 2n });
    expect(events).toHaveLength(1);
    const snapshot = events[0]!;
    expect(snapshot.kind).toBe("snapshot");
    if (snapshot.kind !== "snapshot") throw new Error("unreachable");
    expect(snapshot.type).toBe(SESSION_TYPE);
    expect(snapshot.serverVersion).toBe(BIG_SERVER_VERSION);
    expect(snapshot.recordVersion).toBe(2n);
    expect(snapshot.records.map((r) => r.id)).toEqual(["a", "b"]);
    expect(snapshot.options.get(SESSION_TYPE)?.capacity).toBe(10n);
    expect(loop.status).toMatchObject({ state: "live", serverVersion: BIG_SERVER_VERSION, recordVersion: 2n, attempt: 0, url: "http://fake-a" });
    const states = statuses.map((s) => s.state).filter((s, i, all) => s !== all[i - 1]);
    expect(states).toEqual(["idle", "connecting", "snapshotting", "live"]);
  });

  it("emits messages that arrive together as one change batch in stream order, and advances the record version", async () => {
    const provider = new ScriptedProvider();
    const { loop, events } = startLoop(provider);
    await serveSnapshot(provider, 0, 7n, 0n);
    const sync = await provider.call(1);
    // Messages that arrive together are one batch while the turn has budget left (turn-budget.ts):
    // start them in a new iteration of the event loop, not at the end of the long chain of
    // promises that read the snapshot.
    await nextLoopIteration();
    sync.changes!.push(change(record("x", 1n)), change(record("y", 2n)), change(record("x", 3n, true)));
    await until(() => events.length === 2, "a change batch");
    expect(events[1]).toMatchObject({ kind: "change", serverVersion: 7n });
    const batch = events[1]!;
    if (batch.kind !== "change") throw new Error("expected a change event");
    expect(batch.records.map((r) => [r.id, r.version, r.deletedAt !== undefined])).toEqual([
      ["x", 1n, false],
      ["y", 2n, false],
      ["x", 3n, true],
    ]);
    expect(loop.status.recordVersion).toBe(3n);
    sync.changes!.push(change(record("z", 4n)));
    await until(() => events.length === 3, "a second change batch");
    expect(loop.status.recordVersion).toBe(4n);
  });

  it("splits a burst larger than the batch limit into several change events without losing order", async () => {
    const provider = new ScriptedProvider();
    const { events } = startLoop(provider, { maxBatchSize: 3 });
    await serveSnapshot(provider, 0, 7n, 0n);
    const sync = await provider.call(1);
    sync.changes!.push(...Array.from({ length: 8 }, (_, i) => change(record(`r${i}`, BigInt(i + 1)))));
    await until(() => events.slice(1).reduce((n, e) => n + (e.kind === "change" ? e.records.length : 0), 0) === 8, "all 8 changes");
    const changes = events.slice(1);
    expect(changes.length).toBeGreaterThanOrEqual(3);
    expect(changes.flatMap((e) => (e.kind === "change" ? e.records.map((r) => r.version) : []))).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
  });

  it("passes the options a Sync stream sends at its start on as an options event before later changes", async () => {
    const provider = new ScriptedProvider();
    const { events } = startLoop(provider);
    await serveSnapshot(provider, 0, 7n, 0n);
    const sync = await provider.call(1);
    sync.changes!.push(changeOptions(SESSION_TYPE, 5n), change(record("x", 1n)));
    await until(() => events.length === 3, "options and change");
    expect(events[1]).toMatchObject({ kind: "options", type: SESSION_TYPE });
    expect(events[2]).toMatchObject({ kind: "change" });
  });

  it("resyncs from a fresh SyncLatest when Sync is ABORTED (server version changed)", async () => {
    const provider = new ScriptedProvider();
    const { loop, events } = startLoop(provider);
    await serveSnapshot(provider, 0, 7n, 3n, ["a"]);
    const sync = await provider.call(1);
    sync.changes!.fail(new ConnectError("invalid server version", Code.Aborted));
    await until(() => loop.status.state === "backing-off" || provider.calls.length > 2, "backing off");
    const again = await serveSnapshot(provider, 2, 8n, 1n, ["b"]);
    expect(again.kind).toBe("syncLatest");
    const resumed = await provider.call(3);
    expect(resumed).toMatchObject({ kind: "sync", serverVersion: 8n, recordVersion: 1n });
    expect(events.map((e) => e.kind)).toEqual(["snapshot", "snapshot"]);
    expect(events[1]).toMatchObject({ serverVersion: 8n });
  });

  it("resyncs after a CANCELLED it did not cause (the server's Clear), instead of stopping", async () => {
    const provider = new ScriptedProvider();
    const { loop } = startLoop(provider);
    await serveSnapshot(provider, 0, 7n, 3n);
    (await provider.call(1)).changes!.fail(new ConnectError("context canceled", Code.Canceled));
    await until(() => loop.status.lastError?.includes("cancelled by the server") === true, "cancel reported");
    const next = await provider.call(2);
    expect(next.kind).toBe("syncLatest");
  });

  it("resumes Sync from the last record version when the stream ends OK", async () => {
    const provider = new ScriptedProvider();
    startLoop(provider);
    await serveSnapshot(provider, 0, 7n, 3n);
    const sync = await provider.call(1);
    sync.changes!.push(change(record("x", 4n)), change(record("y", 5n)));
    sync.changes!.end();
    const next = await provider.call(2);
    expect(next).toMatchObject({ kind: "sync", serverVersion: 7n, recordVersion: 5n });
  });

  it("reconnects a Sync stream that stays silent past the idle limit, from the same position", async () => {
    const provider = new ScriptedProvider();
    const { loop } = startLoop(provider, { idleTimeoutMs: 60 });
    await serveSnapshot(provider, 0, 7n, 3n);
    const sync = await provider.call(1);
    const next = await provider.call(2);
    expect(sync.signal.aborted).toBe(true);
    expect(next).toMatchObject({ kind: "sync", serverVersion: 7n, recordVersion: 3n });
    expect(loop.status.lastError).toMatch(/no message for 60 ms/);
  });

  it("moves to the next URL after a connection failure, and heals with ABORTED if that server differs", async () => {
    const provider = new ScriptedProvider(["http://fake-a", "http://fake-b"]);
    const { loop, events } = startLoop(provider);
    await serveSnapshot(provider, 0, 7n, 3n);
    const refused = new ConnectError("connect ECONNREFUSED", Code.Unavailable);
    (await provider.call(1)).changes!.fail(refused);
    const onB = await provider.call(2);
    expect(provider.failures).toEqual(["http://fake-a"]);
    expect(onB).toMatchObject({ kind: "sync", url: "http://fake-b", serverVersion: 7n, recordVersion: 3n });
    onB.changes!.fail(new ConnectError("invalid server version", Code.Aborted));
    const resync = await serveSnapshot(provider, 3, 9n, 1n);
    expect(resync.url).toBe("http://fake-b");
    await provider.call(4);
    expect(loop.status).toMatchObject({ state: "live", url: "http://fake-b", serverVersion: 9n });
    expect(events.map((e) => e.kind)).toEqual(["snapshot", "snapshot"]);
  });

  it("stays connecting, not live, while the connection to resume on is not up", async () => {
    const provider = new ScriptedProvider();
    const { loop } = startLoop(provider);
    await serveSnapshot(provider, 0, 7n, 3n);
    await provider.call(1);
    let letConnect!: () => void;
    provider.onConnect = () => new Promise<void>((resolve) => (letConnect = resolve));
    provider.calls[1]!.changes!.fail(new ConnectError("boom", Code.Internal));
    await until(() => loop.status.state === "connecting", "connecting");
    expect(provider.calls).toHaveLength(2); // no stream before the connection is up
    letConnect();
    const resumed = await provider.call(2);
    expect(resumed).toMatchObject({ kind: "sync", serverVersion: 7n, recordVersion: 3n });
    expect(loop.status.state).toBe("live");
  });

  it("moves to the next URL when connecting fails, before opening any stream", async () => {
    const provider = new ScriptedProvider(["http://fake-a", "http://fake-b"]);
    provider.onConnect = async (url) => {
      if (url === "http://fake-a") throw new ConnectError("connect ECONNREFUSED 127.0.0.1:1", Code.Unavailable);
    };
    const { loop } = startLoop(provider);
    const first = await provider.call(0);
    expect(first).toMatchObject({ kind: "syncLatest", url: "http://fake-b" });
    expect(provider.connects).toEqual(["http://fake-a", "http://fake-b"]);
    expect(provider.failures).toEqual(["http://fake-a"]);
    expect(loop.status.url).toBe("http://fake-b");
  });

  it("gives up on a connection attempt after the connect timeout and tries the next URL", async () => {
    const provider = new ScriptedProvider(["http://blackhole", "http://fake-b"]);
    provider.onConnect = (url) => (url === "http://blackhole" ? new Promise<void>(() => undefined) : Promise.resolve());
    const { statuses } = startLoop(provider, { connectTimeoutMs: 80 });
    const first = await provider.call(0);
    expect(first.url).toBe("http://fake-b");
    expect(provider.failures).toEqual(["http://blackhole"]);
    expect(statuses.some((s) => s.lastError === "no connection within 80 ms")).toBe(true);
  });

  it("does not take a reset socket (reported by connect-node as Aborted) for a version change", async () => {
    const provider = new ScriptedProvider(["http://fake-a", "http://fake-b"]);
    startLoop(provider);
    await serveSnapshot(provider, 0, 7n, 3n);
    const reset = new ConnectError("read ECONNRESET", Code.Aborted, undefined, undefined, Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
    (await provider.call(1)).changes!.fail(reset);
    const next = await provider.call(2);
    expect(next).toMatchObject({ kind: "sync", url: "http://fake-b", serverVersion: 7n });
  });

  it("reports a rejected token with a message that names the shared secret and retries only after the long delay", async () => {
    const provider = new ScriptedProvider();
    const { loop } = startLoop(provider, { retry: { ...FAST_RETRY, authRetryDelayMs: 300 } });
    const first = await provider.call(0);
    const t0 = Date.now();
    first.latest!.fail(new ConnectError("invalid JWT", Code.Unauthenticated));
    await until(() => loop.status.state === "backing-off", "backing-off");
    expect(loop.status.lastError).toContain("sharedSecret");
    expect(loop.status.lastError).toContain("invalid JWT");
    expect(loop.status.retryInMs).toBe(300);
    await provider.call(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(provider.failures).toEqual([]); // a wrong secret is not the URL's fault
  });

  it("treats PERMISSION_DENIED like a rejected token", async () => {
    const provider = new ScriptedProvider();
    const { loop } = startLoop(provider);
    (await provider.call(0)).latest!.fail(new ConnectError("denied", Code.PermissionDenied));
    await until(() => loop.status.state === "backing-off", "backing-off");
    expect(loop.status.lastError).toContain("sharedSecret");
    expect(loop.status.retryInMs).toBe(FAST_RETRY.authRetryDelayMs);
  });

  it("grows the backoff while attempts fail and resets it after a change arrives", async () => {
    const provider = new ScriptedProvider();
    const { statuses } = startLoop(provider, { random: () => 0.999, retry: { ...FAST_RETRY, initialDelayMs: 4, maxDelayMs: 1000 } });
    const backoffs = () => statuses.filter((s) => s.state === "backing-off").map((s) => [s.attempt, s.retryInMs]);
    await serveSnapshot(provider, 0, 7n, 3n);
    for (let n = 1; n <= 4; n++) {
      (await provider.call(n)).changes!.fail(new ConnectError("boom", Code.Internal));
      await until(() => backoffs().length === n, `attempt ${n}`);
    }
    // 4, 8, 16, 32 ms ceilings, full jitter at 0.999
    expect(backoffs()).toEqual([[1, 3], [2, 7], [3, 15], [4, 31]]);
    const healthy = await provider.call(5);
    healthy.changes!.push(change(record("x", 4n)));
    await until(() => statuses.at(-1)?.attempt === 0, "attempt reset by progress");
    healthy.changes!.fail(new ConnectError("boom", Code.Internal));
    await until(() => backoffs().length === 5, "backing-off again");
    expect(backoffs()[4]).toEqual([1, 3]);
  });

  it("does not reset the backoff just because a stream opened without delivering changes", async () => {
    const provider = new ScriptedProvider();
    // The loop's clock stands still: every stream ends the moment it opened (not a healthy stream).
    const { loop, statuses } = startLoop(provider, { now: () => 1_000, random: () => 0.999, retry: { ...FAST_RETRY, initialDelayMs: 4, maxDelayMs: 1000 } });
    const backoffs = () => statuses.filter((s) => s.state === "backing-off").map((s) => [s.attempt, s.retryInMs]);
    await serveSnapshot(provider, 0, 7n, 3n);
    for (let n = 1; n <= 3; n++) {
      const call = await provider.call(n);
      call.changes!.push(changeOptions(SESSION_TYPE, 1n)); // a message, but no change
      await until(() => loop.status.lastMessageAt !== undefined && statuses.filter((s) => s.state === "live").length >= n + 1, `options of stream ${n}`);
      call.changes!.end();
      await until(() => backoffs().length === n, `attempt ${n}`);
    }
    expect(backoffs()).toEqual([[1, 3], [2, 7], [3, 15]]);
  });

  it("resumes promptly, without counting a failure, after a healthy stream ends cleanly (a proxy's idle timeout)", async () => {
    const provider = new ScriptedProvider();
    let clock = 0;
    const retry = { ...FAST_RETRY, initialDelayMs: 4, maxDelayMs: 1000, fastLoopMaxRetries: 3, fastLoopWindowMs: 300 };
    const { loop, statuses } = startLoop(provider, { now: () => clock, random: () => 0.999, retry });
    const backoffs = () => statuses.filter((s) => s.state === "backing-off").map((s) => [s.attempt, s.retryInMs]);
    await serveSnapshot(provider, 0, 7n, 3n);
    for (let n = 1; n <= 10; n++) {
      const call = await provider.call(n);
      expect(call).toMatchObject({ kind: "sync", serverVersion: 7n, recordVersion: 3n });
      clock += 100; // open for fastLoopWindowMs / fastLoopMaxRetries: healthy
      call.changes!.end();
      await until(() => backoffs().length === n, `clean end ${n}`);
    }
    // Never a growing backoff, never the fast-loop penalty: each wait is under the initial delay.
    expect(backoffs()).toEqual(Array.from({ length: 10 }, () => [0, 3]));
    expect(loop.status.lastError).toBe("stream ended: resuming");
  });

  it("forces the capped delay when retries bunch up (fast-loop detector)", async () => {
    const provider = new ScriptedProvider();
    const retry = { initialDelayMs: 1, maxDelayMs: 400, authRetryDelayMs: 1000, fastLoopMaxRetries: 3, fastLoopWindowMs: 10_000 };
    const { statuses } = startLoop(provider, { retry, random: () => 0.5 });
    const backoffs = () => statuses.filter((s) => s.state === "backing-off").map((s) => s.retryInMs);
    // A resync loop: every snapshot is real progress (resets the backoff), yet Sync is ABORTED each time.
    for (let round = 0; round < 3; round++) {
      await serveSnapshot(provider, round * 2, 7n, 3n);
      (await provider.call(round * 2 + 1)).changes!.fail(new ConnectError("invalid server version", Code.Aborted));
      await until(() => backoffs().length === round + 1, `backing-off ${round}`);
    }
    expect(backoffs()).toEqual([0, 0, 300]); // the third retry in the window: half jitter at the 400 ms cap
  });

  it("retries when SyncLatest ends without its versions message", async () => {
    const provider = new ScriptedProvider();
    const { loop, events } = startLoop(provider);
    const first = await provider.call(0);
    first.latest!.push(latestRecord(record("a", 1n)));
    first.latest!.end();
    const again = await provider.call(1);
    expect(again.kind).toBe("syncLatest");
    expect(events).toEqual([]);
    expect(loop.status.attempt).toBe(1);
  });

  it("discards a half-read snapshot on failure: the next snapshot does not contain stale buffered records", async () => {
    const provider = new ScriptedProvider();
    const { loop, events } = startLoop(provider);
    const first = await provider.call(0);
    first.latest!.push(latestRecord(record("stale", 1n)));
    await until(() => loop.status.lastMessageAt !== undefined, "the first batch read");
    first.latest!.fail(new ConnectError("boom", Code.Internal));
    await serveSnapshot(provider, 1, 7n, 1n, ["fresh"]);
    await until(() => events.length === 1, "snapshot");
    expect(events[0]!.kind === "snapshot" && events[0]!.records.map((r) => r.id)).toEqual(["fresh"]);
  });

  it("close() aborts the open stream, completes the status stream and opens nothing more", async () => {
    const provider = new ScriptedProvider();
    const { loop } = startLoop(provider);
    let statusDone = false;
    loop.status$.subscribe({ complete: () => (statusDone = true) });
    await serveSnapshot(provider, 0, 7n, 3n);
    const sync = await provider.call(1);
    loop.close();
    expect(sync.signal.aborted).toBe(true);
    expect(loop.status.state).toBe("closed");
    expect(statusDone).toBe(true);
    await expectNothingScheduled(provider, 2);
  });

  it("close() during backing-off cancels the timer: no further attempt is made", async () => {
    const provider = new ScriptedProvider();
    const { loop } = startLoop(provider, { retry: { ...FAST_RETRY, initialDelayMs: 60, maxDelayMs: 60 }, random: () => 0.99 });
    (await provider.call(0)).latest!.fail(new ConnectError("boom", Code.Internal));
    await until(() => loop.status.state === "backing-off", "backing-off");
    loop.close();
    await expectNothingScheduled(provider, 1);
  });

  it("closes when its AbortSignal aborts, and calls onClose once", async () => {
    const provider = new ScriptedProvider();
    const controller = new AbortController();
    let closes = 0;
    const { loop } = startLoop(provider, { signal: controller.signal, onClose: () => closes++ });
    const first = await provider.call(0);
    controller.abort();
    expect(first.signal.aborted).toBe(true);
    expect(loop.status.state).toBe("closed");
    loop.close();
    expect(closes).toBe(1);
  });

  it("never starts when its AbortSignal is already aborted", async () => {
    const provider = new ScriptedProvider();
    const { loop } = startLoop(provider, { signal: AbortSignal.abort() });
    expect(loop.status.state).toBe("closed");
    await expectNothingScheduled(provider, 0);
    expect(provider.connects).toEqual([]);
  });
});
