/**
 * The sync loop against our in-memory databroker over real HTTP/2 sockets on loopback.
 */
import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import { RecordSchema } from "../../gen/databroker/databroker_pb.js";
import type { ReplicaEvent } from "../../src/replica/replica-events.js";
import { startInMemoryDatabroker, type RunningInMemoryDatabroker } from "../../src/server/index.js";
import { createDatabrokerSync, type DatabrokerSyncOptions } from "../../src/sync/databroker-sync.js";
import type { SyncLoop, SyncStatus } from "../../src/sync/sync-loop.js";
import { syncSourcesFromUrlSet } from "../../src/sync/sync-stream-source.js";
import { SyncLoop as SyncLoopClass } from "../../src/sync/sync-loop.js";
import { createDatabrokerUrlSet, type DatabrokerUrlSet } from "../../src/transport/databroker-url-set.js";
import { gateFirstSync } from "./gated-source.js";
import { SESSION_TYPE, sleep, until } from "./scripted-source.js";

const SECRET = randomBytes(32).toString("base64");
const FAST_RETRY = { initialDelayMs: 20, maxDelayMs: 200, authRetryDelayMs: 200, fastLoopMaxRetries: 50, fastLoopWindowMs: 1000 };

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(options: { port?: number; sharedSecret?: string } = {}): Promise<RunningInMemoryDatabroker> {
  const server = await startInMemoryDatabroker({ sharedSecret: options.sharedSecret ?? SECRET, port: options.port ?? 0 });
  cleanups.push(() => server.close());
  return server;
}

/** A writer with its own transport, like another Pomerium service. */
function writerFor(url: string): DatabrokerUrlSet {
  const set = createDatabrokerUrlSet([url], { sharedSecret: SECRET });
  cleanups.push(() => set.close());
  return set;
}

async function put(writer: DatabrokerUrlSet, ...ids: string[]): Promise<bigint[]> {
  const records = ids.map((id) =>
    create(RecordSchema, { type: SESSION_TYPE, id, data: create(AnySchema, { typeUrl: SESSION_TYPE, value: new TextEncoder().encode(id) }) }),
  );
  const res = await writer.current().dataBroker.put({ records });
  return res.records.map((r) => r.version);
}

function observe(loop: SyncLoop) {
  const events: ReplicaEvent[] = [];
  const statuses: SyncStatus[] = [];
  loop.events$.subscribe((e) => events.push(e));
  loop.status$.subscribe((s) => statuses.push(s));
  return { events, statuses };
}

function startSync(options: Partial<DatabrokerSyncOptions> & { urls: string[] }) {
  const { loop } = createDatabrokerSync({ sharedSecret: SECRET, type: SESSION_TYPE, retry: FAST_RETRY, ...options });
  cleanups.push(() => loop.close());
  const seen = observe(loop);
  loop.start();
  return { loop, ...seen };
}

const snapshots = (events: ReplicaEvent[]) => events.filter((e) => e.kind === "snapshot");
const changedIds = (events: ReplicaEvent[]) => events.flatMap((e) => (e.kind === "change" ? e.records.map((r) => r.id) : []));
const snapshotIds = (e: ReplicaEvent | undefined) => (e?.kind === "snapshot" ? e.records.map((r) => r.id).sort() : []);

describe("sync loop against the in-memory databroker", () => {
  it("delivers the initial snapshot, then live changes as they are written", async () => {
    const server = await startServer();
    const writer = writerFor(server.url);
    await put(writer, "s1", "s2");
    const { loop, events } = startSync({ urls: [server.url] });
    await until(() => loop.status.state === "live", "live");
    expect(snapshots(events)).toHaveLength(1);
    expect(snapshotIds(events[0])).toEqual(["s1", "s2"]);
    expect(events[0]).toMatchObject({ serverVersion: server.serverVersion, recordVersion: 2n });
    const [v3] = await put(writer, "s3");
    await until(() => changedIds(events).includes("s3"), "change s3");
    expect(loop.status.recordVersion).toBe(v3);
    expect(loop.status.serverVersion).toBe(server.serverVersion);
    expect(typeof loop.status.serverVersion).toBe("bigint");
  });

  it("resyncs after the server's Clear cancels its stream, and keeps receiving changes", async () => {
    const server = await startServer();
    const writer = writerFor(server.url);
    await put(writer, "before");
    const { loop, events, statuses } = startSync({ urls: [server.url] });
    await until(() => loop.status.state === "live", "live");
    // A change seen proves the Sync runs on the server, so the Clear must cancel it (not ABORT a late one).
    await put(writer, "warm-up");
    await until(() => changedIds(events).includes("warm-up"), "warm-up change");
    const oldVersion = server.serverVersion;
    const cleared = await writer.current().dataBroker.clear({});
    expect(cleared.newServerVersion).not.toBe(oldVersion);
    await until(() => snapshots(events).length === 2 && loop.status.state === "live", "a second snapshot");
    expect(snapshots(events)[1]).toMatchObject({ serverVersion: cleared.newServerVersion, records: [] });
    expect(statuses.some((s) => s.lastError?.includes("cancelled by the server") === true)).toBe(true);
    await put(writer, "after");
    await until(() => changedIds(events).includes("after"), "change after the clear");
  });

  it("resyncs when history was compacted past its position (ABORTED invalid record version)", async () => {
    const server = await startServer();
    const writer = writerFor(server.url);
    await put(writer, "a");
    const urlSet = createDatabrokerUrlSet([server.url], { sharedSecret: SECRET });
    const gated = gateFirstSync(syncSourcesFromUrlSet(urlSet));
    const loop = new SyncLoopClass({ type: SESSION_TYPE, source: gated, retry: FAST_RETRY, onClose: () => urlSet.close() });
    cleanups.push(() => loop.close());
    const { events } = observe(loop);
    loop.start();
    await until(() => loop.status.state === "live" && gated.syncCalls() === 1, "live, first Sync held");
    expect(loop.status.recordVersion).toBe(1n);
    await put(writer, "b", "c", "d");
    server.compactNow();
    gated.release();
    await until(() => snapshots(events).length === 2 && loop.status.state === "live", "resync");
    expect(gated.syncErrors.join()).toMatch(/invalid record version/);
    expect(snapshotIds(snapshots(events)[1])).toEqual(["a", "b", "c", "d"]);
    expect(snapshots(events)[1]).toMatchObject({ recordVersion: 4n });
  });

  it("resyncs after the server restarts on the same port with a new server version", async () => {
    const first = await startServer();
    await put(writerFor(first.url), "old");
    const { loop, events } = startSync({ urls: [first.url] });
    await until(() => loop.status.state === "live", "live");
    const port = first.port;
    await first.close();
    const second = await startServer({ port });
    expect(second.serverVersion).not.toBe(events[0]!.kind === "snapshot" ? events[0]!.serverVersion : 0n);
    await put(writerFor(second.url), "new");
    // While the old server shuts down, the loop may resync once more against it (its streams end
    // with CANCELLED before its socket closes); what matters is where it ends up.
    await until(
      () => loop.status.state === "live" && loop.status.serverVersion === second.serverVersion,
      "live against the new server",
      10_000,
    );
    const last = snapshots(events).at(-1);
    expect(last).toMatchObject({ serverVersion: second.serverVersion });
    expect(snapshotIds(last)).toEqual(["new"]);
  });

  it("reconnects a silent Sync after the idle limit and still receives later changes", async () => {
    const server = await startServer();
    const writer = writerFor(server.url);
    const { loop, events, statuses } = startSync({ urls: [server.url], idleTimeoutMs: 150 });
    await until(() => loop.status.state === "live", "live");
    await until(() => statuses.some((s) => s.lastError?.includes("no message for 150 ms") === true), "an idle reconnect");
    await until(() => loop.status.state === "live", "live again");
    expect(snapshots(events)).toHaveLength(1); // resumed, not resynced
    await put(writer, "late");
    await until(() => changedIds(events).includes("late"), "change after reconnect");
  });

  it("fails over to the next URL when the first cannot be reached", async () => {
    const dead = await startInMemoryDatabroker({ sharedSecret: SECRET });
    const deadUrl = dead.url;
    await dead.close();
    const server = await startServer();
    await put(writerFor(server.url), "x");
    const { loop, events } = startSync({ urls: [deadUrl, server.url] });
    await until(() => loop.status.state === "live", "live on the second URL");
    expect(loop.status.url).toBe(server.url);
    expect(snapshotIds(events[0])).toEqual(["x"]);
  });

  it("reports a wrong shared secret clearly, without the secret, and retries at a bounded rate", async () => {
    const server = await startServer();
    const wrongSecret = randomBytes(32).toString("base64");
    const { loop, statuses } = startSync({ urls: [server.url], sharedSecret: wrongSecret, retry: { ...FAST_RETRY, authRetryDelayMs: 250 } });
    await sleep(1100);
    const message = loop.status.lastError ?? "";
    expect(message).toContain("sharedSecret");
    expect(message).toContain("shared_secret");
    expect(message).not.toContain(wrongSecret);
    expect(message).not.toContain(SECRET);
    expect(statuses.some((s) => s.state === "live")).toBe(false);
    const attempts = statuses.filter((s, i) => s.state === "connecting" && statuses[i - 1]?.state !== "connecting").length;
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(6); // 1.1 s / 250 ms, never a hot loop
  });

  it("close() ends the stream on the server side too", async () => {
    const server = await startServer();
    const { loop } = startSync({ urls: [server.url] });
    await until(() => loop.status.state === "live", "live");
    loop.close();
    // The server can shut down promptly only if no client stream or session is left open.
    const t0 = Date.now();
    await server.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(loop.status.state).toBe("closed");
  });
});
