/**
 * The sync loop against Pomerium's own databroker (the Go peer, memory storage) over h2c:
 * the behaviours the loop relies on, seen on the real server.
 */
import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RecordSchema } from "../../gen/databroker/databroker_pb.js";
import type { ReplicaEvent } from "../../src/replica/replica-events.js";
import { createDatabrokerSync } from "../../src/sync/databroker-sync.js";
import { SyncLoop } from "../../src/sync/sync-loop.js";
import { syncSourcesFromUrlSet } from "../../src/sync/sync-stream-source.js";
import { createDatabrokerUrlSet, type DatabrokerUrlSet } from "../../src/transport/databroker-url-set.js";
import { startPomerium, type PomeriumInstance } from "../support/pomerium-harness.js";
import { requirePomeriumOrExplain } from "../interop/interop-availability.js";
import { gateFirstSync } from "./gated-source.js";
import { SESSION_TYPE, sleep, until } from "./scripted-source.js";
import { startRecording } from "./loop-recorder.js";

const SECRET = randomBytes(32).toString("base64");
const FAST_RETRY = { initialDelayMs: 20, maxDelayMs: 300, authRetryDelayMs: 300, fastLoopMaxRetries: 50, fastLoopWindowMs: 1000 };

let pomerium: PomeriumInstance;
let writer: DatabrokerUrlSet;
const loops: SyncLoop[] = [];

beforeAll(async () => {
  await requirePomeriumOrExplain();
  pomerium = await startPomerium({ storage: "memory", sharedSecret: SECRET, name: "sync-loop" });
  writer = createDatabrokerUrlSet([pomerium.url], { sharedSecret: SECRET });
}, 10 * 60_000);
afterAll(async () => {
  writer?.close();
  await pomerium?.stop();
});
afterEach(async () => {
  for (const loop of loops.splice(0)) loop.close();
  await writer.current().dataBroker.clear({});
});

async function put(...ids: string[]): Promise<bigint[]> {
  const records = ids.map((id) =>
    create(RecordSchema, { type: SESSION_TYPE, id, data: create(AnySchema, { typeUrl: SESSION_TYPE, value: new TextEncoder().encode(id) }) }),
  );
  return (await writer.current().dataBroker.put({ records })).records.map((r) => r.version);
}

function startSync(sharedSecret = SECRET) {
  const { loop } = createDatabrokerSync({ urls: [pomerium.url], sharedSecret, type: SESSION_TYPE, retry: FAST_RETRY });
  loops.push(loop);
  return startRecording(loop);
}

const snapshots = (events: ReplicaEvent[]) => events.filter((e) => e.kind === "snapshot");
const changedIds = (events: ReplicaEvent[]) => events.flatMap((e) => (e.kind === "change" ? e.records.map((r) => r.id) : []));

describe("sync loop against Pomerium's databroker", () => {
  it("delivers the snapshot, then live changes including tombstones", async () => {
    await put("p1", "p2");
    const { loop, events } = startSync();
    await until(() => loop.status.state === "live", "live", 15_000);
    const first = events[0];
    expect(first?.kind === "snapshot" && first.records.map((r) => r.id).sort()).toEqual(["p1", "p2"]);
    const [v3] = await put("p3");
    await until(() => changedIds(events).includes("p3"), "change p3", 15_000);
    expect(loop.status.recordVersion).toBe(v3);
    await writer.current().dataBroker.put({
      records: [create(RecordSchema, { type: SESSION_TYPE, id: "p1", deletedAt: { seconds: 1n, nanos: 0 } })],
    });
    await until(() => events.some((e) => e.kind === "change" && e.records.some((r) => r.id === "p1" && r.deletedAt !== undefined)), "tombstone", 15_000);
  });

  it("resyncs when Clear cancels the stream (CANCELLED from the real server), and keeps going", async () => {
    const { loop, events, statuses } = startSync();
    await until(() => loop.status.state === "live", "live", 15_000);
    // A change seen proves the Sync is running on the server (a Clear before that would show up
    // as ABORTED on the Sync's version check instead).
    await put("warm-up");
    await until(() => changedIds(events).includes("warm-up"), "warm-up change", 15_000);
    const cleared = await writer.current().dataBroker.clear({});
    await until(() => loop.status.state === "live" && loop.status.serverVersion === cleared.newServerVersion, "resynced", 15_000);
    expect(snapshots(events).length).toBeGreaterThanOrEqual(2);
    // The real server ends the open Sync with CANCELLED "context canceled" (spec 5); Pomerium's
    // SyncQuerier stops for good there, we resync.
    const healedBy = statuses.map((s) => s.lastError).filter((m): m is string => m !== undefined);
    expect(healedBy).toContain("stream cancelled by the server (context canceled): resyncing");
    await put("after-clear");
    await until(() => changedIds(events).includes("after-clear"), "change after clear", 15_000);
  });

  it("resyncs when history was compacted past its position (ABORTED from the real server)", async () => {
    await put("c1");
    const urlSet = createDatabrokerUrlSet([pomerium.url], { sharedSecret: SECRET });
    const gated = gateFirstSync(syncSourcesFromUrlSet(urlSet));
    const loop = new SyncLoop({ type: SESSION_TYPE, source: gated, retry: FAST_RETRY, onClose: () => urlSet.close() });
    loops.push(loop);
    const events: ReplicaEvent[] = [];
    loop.events$.subscribe((e) => events.push(e));
    loop.start();
    await until(() => loop.status.state === "live" && gated.syncCalls() === 1, "live, first Sync held", 15_000);
    await put("c2", "c3", "c4");
    await pomerium.compact();
    gated.release();
    await until(() => snapshots(events).length === 2 && loop.status.state === "live", "resync", 15_000);
    expect(gated.syncErrors.join()).toMatch(/invalid record version/);
    const last = snapshots(events).at(-1);
    expect(last?.kind === "snapshot" && last.records.map((r) => r.id).sort()).toEqual(["c1", "c2", "c3", "c4"]);
  });

  it("reports a wrong secret with a message naming sharedSecret, retrying slowly", async () => {
    const { loop, statuses } = startSync(randomBytes(32).toString("base64"));
    await sleep(1000);
    expect(loop.status.lastError).toMatch(/sharedSecret.*shared_secret/);
    const attempts = statuses.filter((s, i) => s.state === "connecting" && statuses[i - 1]?.state !== "connecting").length;
    expect(attempts).toBeLessThanOrEqual(5);
    expect(statuses.some((s) => s.state === "live")).toBe(false);
  });

  it("resyncs after Pomerium restarts on the same port with a new server version, and fails over between instances", async () => {
    const first = await startPomerium({ storage: "memory", sharedSecret: SECRET, name: "sync-restart" });
    const other = await startPomerium({ storage: "memory", sharedSecret: SECRET, name: "sync-other" });
    let second: PomeriumInstance | undefined;
    try {
      const { loop } = createDatabrokerSync({ urls: [first.url, other.url], sharedSecret: SECRET, type: SESSION_TYPE, retry: FAST_RETRY });
      loops.push(loop);
      const events: ReplicaEvent[] = [];
      loop.events$.subscribe((e) => events.push(e));
      loop.start();
      await until(() => loop.status.state === "live" && loop.status.serverVersion === first.serverVersion, "live on the first", 15_000);
      await first.stop();
      // The first URL is gone: the loop moves to the other instance, whose server version differs.
      await until(() => loop.status.state === "live" && loop.status.serverVersion === other.serverVersion, "live on the other", 30_000);
      expect(loop.status.url).toBe(other.url);
      await other.stop();
      second = await startPomerium({ storage: "memory", sharedSecret: SECRET, name: "sync-restarted", port: first.port });
      expect(second.serverVersion).not.toBe(first.serverVersion);
      await until(() => loop.status.state === "live" && loop.status.serverVersion === second!.serverVersion, "live on the restarted first", 30_000);
      expect(snapshots(events).length).toBeGreaterThanOrEqual(3);
    } finally {
      await first.stop();
      await other.stop();
      await second?.stop();
    }
  }, 120_000);
});
