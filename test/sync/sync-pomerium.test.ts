/**
 * The cache's sync as production wires it (createDatabrokerCache, public API only), on each
 * transport, against Pomerium's own databroker (the Go peer, memory storage) over h2c: the
 * behaviours the sync relies on, seen on the real server. Where a test needs the server's view
 * (which calls arrived, how each ended) it goes through our HTTP/2 stream proxy, which forwards
 * each stream as is and records it.
 */
import { randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_CACHE_TYPES, SESSION_TYPE, USER_TYPE, type CacheChange, type ChangeBatch } from "../../src/index.js";
import { requirePomeriumOrExplain } from "../interop/interop-availability.js";
import { databrokerClients } from "../server/databroker-client.js";
import { allLive } from "../support/cache-recorder.js";
import { startHttp2StreamProxy, type Http2StreamProxy } from "../support/http2-stream-proxy.js";
import { startPomerium, type PomeriumInstance } from "../support/pomerium-harness.js";
import { startTcpFaultProxy } from "../support/tcp-fault-proxy.js";
import { until } from "../support/wait-until.js";
import { Cleanups, SECRET, TRANSPORTS, deleted, idsOf, recordedCache, session, synced, user } from "./cache-sync-fixtures.js";

const WAIT_MS = 15_000;
let pomerium: PomeriumInstance;
let db: ReturnType<typeof databrokerClients>["databroker"];
const cleanups = new Cleanups();

beforeAll(async () => {
  await requirePomeriumOrExplain();
  pomerium = await startPomerium({ storage: "memory", sharedSecret: SECRET, name: "sync-cache" });
  db = databrokerClients(pomerium.url, SECRET).databroker;
}, 10 * 60_000);
afterAll(async () => {
  await pomerium?.stop();
});
afterEach(async () => {
  await cleanups.run();
  await db.clear({});
});

async function proxyTo(url: string): Promise<Http2StreamProxy> {
  const proxy = await startHttp2StreamProxy(url);
  cleanups.add(() => proxy.close());
  return proxy;
}

const sessionBatch = (kind: ChangeBatch["kind"], id?: string) => (c: CacheChange): c is ChangeBatch =>
  c.kind === kind && c.type === SESSION_TYPE && (id === undefined || c.upserts.some((r) => r.id === id) || c.deletes.some((r) => r.id === id));

describe.each(TRANSPORTS)("the cache's sync over %s against Pomerium's databroker", (transport) => {
  const startCache = (urls: string[], options: { sharedSecret?: string; retry?: object } = {}) =>
    recordedCache(cleanups, { urls, sharedSecret: SECRET, transport, ...options });

  it("delivers the snapshot, then live changes including deletions", async () => {
    await db.put({ records: [session("p1", "u1"), session("p2", "u1"), user("u1", "u1@example.com")] });
    const { cache, seen } = startCache([pomerium.url]);
    await synced(seen, undefined, WAIT_MS);
    const snapshot = seen.changes.find(sessionBatch("snapshot"))!;
    expect(idsOf(snapshot.upserts)).toEqual(["p1", "p2"]);
    expect(cache.getUser("u1")?.email).toBe("u1@example.com");
    const from = seen.changes.length;
    const v = (await db.put({ records: [session("p3", "u1")] })).records[0]!.version;
    await seen.change(sessionBatch("change", "p3"), "the change p3", WAIT_MS, from);
    expect(cache.state.streams.find((s) => s.type === SESSION_TYPE)!.recordVersion).toBe(v);
    await db.put({ records: [deleted(session("p1", "u1"))] });
    const deletion = await seen.change((c): c is ChangeBatch => sessionBatch("change")(c) && c.deletes.some((r) => r.id === "p1"), "the deletion of p1", WAIT_MS, from);
    expect(deletion.upserts).toEqual([]);
    expect(cache.getSession("p1")).toBeUndefined();
  });

  it("resyncs every type when Clear cancels the streams (CANCELLED from the real server), and keeps going", async () => {
    await db.put({ records: [session("before", "u1")] });
    const proxy = await proxyTo(pomerium.url);
    const { cache, seen } = startCache([proxy.url]);
    await synced(seen, undefined, WAIT_MS);
    // A change seen proves the Syncs run on the server (a Clear before that would show up as
    // ABORTED on the Sync's version check instead).
    await db.put({ records: [session("warm-up", "u1")] });
    await seen.change(sessionBatch("change", "warm-up"), "the warm-up change", WAIT_MS);
    await until(() => proxy.open("Sync").length === DEFAULT_CACHE_TYPES.length, "a Sync per type open");
    const from = seen.changes.length;
    const cleared = await db.clear({});
    await seen.state((s) => allLive(s, cleared.newServerVersion), "every stream live on the new server version", WAIT_MS);
    const resync = await seen.change(sessionBatch("resync"), "the sessions' resync", WAIT_MS, from);
    expect(idsOf(resync.deletes)).toEqual(["before", "warm-up"]);
    for (const type of DEFAULT_CACHE_TYPES) {
      // Pomerium ends the open Sync with CANCELLED "context canceled" (its own syncer stops for good there).
      expect(proxy.streams.find((s) => s.method === "Sync" && s.type === type)).toMatchObject({ grpcStatus: Code.Canceled, grpcMessage: "context canceled" });
      expect(proxy.count("SyncLatest", type)).toBe(2);
    }
    await db.put({ records: [session("after-clear", "u1")] });
    await seen.change(sessionBatch("change", "after-clear"), "a change after the Clear", WAIT_MS, from);
    expect(cache.getSession("after-clear")?.userId).toBe("u1");
  });

  it("resyncs when history was compacted past its position (ABORTED from the real server)", async () => {
    const c1 = (await db.put({ records: [session("c1", "u1")] })).records[0]!.version;
    // cache -> TCP fault proxy (to partition) -> stream proxy (to see each stream's answer) -> Pomerium.
    const streams = await proxyTo(pomerium.url);
    const tcp = await startTcpFaultProxy(streams.port);
    cleanups.add(() => tcp.close());
    const { cache, seen } = startCache([tcp.url]);
    await synced(seen, undefined, WAIT_MS);
    await until(() => streams.open("Sync").length === DEFAULT_CACHE_TYPES.length, "a Sync per type open");

    tcp.blackhole();
    await db.put({ records: [session("c2", "u1"), session("c3", "u1"), session("c4", "u1")] });
    await pomerium.compact();
    const from = seen.changes.length;
    tcp.cut();
    tcp.heal();

    const resync = await seen.change(sessionBatch("resync"), "the sessions' resync", WAIT_MS, from);
    expect(idsOf(resync.upserts)).toEqual(["c2", "c3", "c4"]);
    expect(cache.size(SESSION_TYPE)).toBe(4);
    const refused = streams.streams.find((s) => s.method === "Sync" && s.type === SESSION_TYPE && s.recordVersion === c1 && s.grpcStatus !== undefined);
    expect(refused).toMatchObject({ grpcStatus: Code.Aborted, grpcMessage: "invalid record version" });
    expect(streams.count("SyncLatest", SESSION_TYPE)).toBe(2);
  });

  it("reports a wrong secret with a message naming sharedSecret, retrying at a bounded rate", async () => {
    const AUTH_RETRY_MS = 300;
    const ATTEMPTS = 3;
    const proxy = await proxyTo(pomerium.url);
    const wrongSecret = randomBytes(32).toString("base64");
    const { cache, seen } = startCache([proxy.url], { sharedSecret: wrongSecret, retry: { authRetryDelayMs: AUTH_RETRY_MS } });
    const answered = (type: string) => proxy.streams.filter((s) => s.type === type && s.grpcStatus !== undefined);
    await until(() => DEFAULT_CACHE_TYPES.every((t) => answered(t).length >= ATTEMPTS), `${ATTEMPTS} attempts per type answered by Pomerium`, WAIT_MS);
    for (const type of DEFAULT_CACHE_TYPES) {
      const attempts = answered(type).slice(0, ATTEMPTS);
      expect(attempts.map((s) => s.grpcStatus)).toEqual(attempts.map(() => Code.Unauthenticated));
      for (let i = 1; i < attempts.length; i++) expect(attempts[i]!.openedAt - attempts[i - 1]!.openedAt).toBeGreaterThan(AUTH_RETRY_MS * 0.8);
    }
    for (const s of cache.state.streams) expect(s.lastError).toMatch(/sharedSecret.*shared_secret/);
    const everything = JSON.stringify(seen.states, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
    expect(everything).not.toContain(wrongSecret);
    expect(everything).not.toContain(SECRET);
    expect(seen.states.some((s) => s.ready || s.streams.some((t) => t.state === "live"))).toBe(false);
  });

  it("close() ends every stream it had open on the server", async () => {
    const proxy = await proxyTo(pomerium.url);
    const { cache, seen } = startCache([proxy.url]);
    await synced(seen, undefined, WAIT_MS);
    await until(() => proxy.open("Sync").length === DEFAULT_CACHE_TYPES.length, "a Sync per type open");
    await cache.close();
    await until(() => proxy.open("Sync").length === 0, "every Sync closed", 2000);
    expect(proxy.streams.filter((s) => s.method === "Sync").map((s) => s.outcome)).toEqual(DEFAULT_CACHE_TYPES.map(() => "client-gone"));
  });

  it("fails over between instances, and resyncs after Pomerium restarts on the same port with a new server version", { timeout: 120_000 }, async () => {
    const first = await startPomerium({ storage: "memory", sharedSecret: SECRET, name: "sync-restart" });
    cleanups.add(() => first.stop());
    const other = await startPomerium({ storage: "memory", sharedSecret: SECRET, name: "sync-other" });
    cleanups.add(() => other.stop());
    await databrokerClients(other.url, SECRET).databroker.put({ records: [session("on-other", "u1")] });
    const { cache, seen } = startCache([first.url, other.url]);
    await synced(seen, first.serverVersion, WAIT_MS);

    await first.stop();
    // The first URL is gone: the streams move to the other instance, whose server version differs.
    const onOther = await seen.state((s) => allLive(s, other.serverVersion), "every stream live on the other instance", 30_000);
    expect(onOther.streams.map((s) => s.url)).toEqual(DEFAULT_CACHE_TYPES.map(() => other.url));
    await seen.change((c) => c.kind !== "overflow" && c.type === SESSION_TYPE && c.upserts.some((r) => r.id === "on-other"), "the other instance's data", WAIT_MS);

    const from = seen.changes.length;
    await other.kill(); // a crash this time (a graceful stop waits 5 s for the open streams)
    const restarted = await startPomerium({ storage: "memory", sharedSecret: SECRET, name: "sync-restarted", port: first.port });
    cleanups.add(() => restarted.stop());
    expect(restarted.serverVersion).not.toBe(first.serverVersion);
    await databrokerClients(restarted.url, SECRET).databroker.put({ records: [session("on-restarted", "u1")] });
    await seen.state((s) => allLive(s, restarted.serverVersion), "every stream live on the restarted first instance", 30_000);
    await seen.change((c) => c.kind !== "overflow" && c.type === SESSION_TYPE && c.upserts.some((r) => r.id === "on-restarted"), "the restarted instance's data", WAIT_MS, from);
    expect(cache.getSession("on-other")).toBeUndefined();
    // Batches reach subscribers a turn after the swap that state$ already reported: wait for it.
    await seen.change((c) => c.kind === "resync" && c.type === USER_TYPE, "the users' resync", WAIT_MS, from);
    await cache.close(); // before the instances stop: a graceful stop waits for open streams
  });
});
