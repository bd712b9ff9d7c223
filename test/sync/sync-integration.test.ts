/**
 * The cache's sync as production wires it (createDatabrokerCache: one stream per default type over
 * one shared connection, into the replica), on each transport, against our in-memory databroker
 * over real HTTP/2 sockets on loopback. Every wait is on the cache's state$ / changes$ or on the
 * server's own call records (test/faults/counting-databroker.ts), never on time passing.
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_CACHE_TYPES, SERVICE_ACCOUNT_TYPE, SESSION_TYPE, USER_TYPE, type CacheChange, type ChangeBatch } from "../../src/index.js";
import { startCountingDatabroker, type CountingDatabroker } from "../faults/counting-databroker.js";
import { databrokerClients } from "../server/databroker-client.js";
import { allLive } from "../support/cache-recorder.js";
import { startTcpFaultProxy } from "../support/tcp-fault-proxy.js";
import { until } from "../support/wait-until.js";
import { Cleanups, SECRET, TRANSPORTS, deleted, idsOf, recordedCache, serviceAccount, session, synced, user } from "./cache-sync-fixtures.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

async function startServer(port?: number): Promise<CountingDatabroker> {
  const server = await startCountingDatabroker(SECRET, { port });
  cleanups.add(() => server.close());
  return server;
}

const writerFor = (url: string) => databrokerClients(url, SECRET).databroker;
const isBatch = (kind: ChangeBatch["kind"], type: string, id?: string) => (c: CacheChange): c is ChangeBatch =>
  c.kind === kind && c.type === type && (id === undefined || c.upserts.some((r) => r.id === id) || c.deletes.some((r) => r.id === id));

describe.each(TRANSPORTS)("the cache's sync over %s against the in-memory databroker", (transport) => {
  const startCache = (urls: string[], options: { sharedSecret?: string; idleTimeoutMs?: number; retry?: object } = {}) =>
    recordedCache(cleanups, { urls, sharedSecret: SECRET, transport, ...options });

  it("delivers the initial snapshot of each type, then live changes and deletions as they are written", async () => {
    const server = await startServer();
    const db = writerFor(server.url);
    await db.put({ records: [session("s1", "u1"), session("s2", "u1"), user("u1", "u1@example.com")] });
    const { cache, seen } = startCache([server.url]);
    await synced(seen);
    const ready = cache.state;
    expect(ready.streams.map((s) => s.type).sort()).toEqual([...DEFAULT_CACHE_TYPES].sort());
    for (const s of ready.streams) {
      expect(s.serverVersion).toBe(server.serverVersion);
      expect(s.recordVersion).toBe(3n);
    }
    const snapshots = seen.changes.filter((c): c is ChangeBatch => c.kind === "snapshot");
    expect(idsOf(snapshots.find((c) => c.type === SESSION_TYPE)!.upserts)).toEqual(["s1", "s2"]);
    expect(idsOf(snapshots.find((c) => c.type === USER_TYPE)!.upserts)).toEqual(["u1"]);
    expect(cache.getSession("s1")?.userId).toBe("u1");

    const from = seen.changes.length;
    const v4 = (await db.put({ records: [session("s3", "u1")] })).records[0]!.version;
    const change = await seen.change(isBatch("change", SESSION_TYPE, "s3"), "the change s3", 5000, from);
    expect(change.recordVersion).toBe(v4);
    expect(cache.state.streams.find((s) => s.type === SESSION_TYPE)!.recordVersion).toBe(v4);
    const v5 = (await db.put({ records: [serviceAccount("sa1", "u1")] })).records[0]!.version;
    await seen.change(isBatch("change", SERVICE_ACCOUNT_TYPE, "sa1"), "the change sa1", 5000, from);
    expect(cache.get(SERVICE_ACCOUNT_TYPE, "sa1")?.version).toBe(v5);
    await db.put({ records: [deleted(session("s1", "u1"))] });
    const deletion = await seen.change((c): c is ChangeBatch => c.kind === "change" && c.type === SESSION_TYPE && c.deletes.some((r) => r.id === "s1"), "the deletion of s1", 5000, from);
    expect(deletion.upserts).toEqual([]);
    expect(cache.getSession("s1")).toBeUndefined();
    // Everything came over one SyncLatest and one Sync per type.
    for (const type of DEFAULT_CACHE_TYPES) {
      expect(server.count("SyncLatest", type)).toBe(1);
      expect(server.count("Sync", type)).toBe(1);
    }
  });

  it("resyncs every type after the server's Clear cancels its streams, and keeps receiving changes", async () => {
    const server = await startServer();
    const db = writerFor(server.url);
    await db.put({ records: [session("before", "u1")] });
    const { cache, seen } = startCache([server.url]);
    await synced(seen);
    // The Clear must cancel running Sync streams (not ABORT late ones): wait until the server runs all three.
    await until(() => server.openStreams === DEFAULT_CACHE_TYPES.length, "a Sync per type running on the server");
    const from = seen.changes.length;
    const cleared = await db.clear({});
    expect(cleared.newServerVersion).not.toBe(cleared.oldServerVersion);
    await seen.state((s) => allLive(s, cleared.newServerVersion), "every stream live on the new server version");
    const resync = await seen.change(isBatch("resync", SESSION_TYPE), "the sessions' resync", 5000, from);
    expect(idsOf(resync.deletes)).toEqual(["before"]);
    expect(resync.serverVersion).toBe(cleared.newServerVersion);
    expect(cache.getSession("before")).toBeUndefined();
    for (const type of DEFAULT_CACHE_TYPES) {
      expect(server.calls.find((c) => c.method === "Sync" && c.type === type)?.outcome).toBe("Canceled");
      expect(server.count("SyncLatest", type)).toBe(2);
    }
    await db.put({ records: [session("after", "u1")] });
    await seen.change(isBatch("change", SESSION_TYPE, "after"), "a change after the Clear", 5000, from);
  });

  it("resyncs when the change history was compacted past its position (Sync ABORTED: invalid record version)", async () => {
    const server = await startServer();
    const db = writerFor(server.url);
    const [a] = (await db.put({ records: [session("a", "u1")] })).records;
    const proxy = await startTcpFaultProxy(server.port);
    cleanups.add(() => proxy.close());
    const { cache, seen } = startCache([proxy.url]);
    await synced(seen);
    await until(() => server.openStreams === DEFAULT_CACHE_TYPES.length, "a Sync per type running on the server");

    // A silent partition holds the streams back while the server moves on and forgets its history.
    proxy.blackhole();
    await db.put({ records: [session("b", "u1"), session("c", "u1"), session("d", "u1")] });
    server.compactNow();
    const from = seen.changes.length;
    proxy.cut();
    proxy.heal();

    const resync = await seen.change(isBatch("resync", SESSION_TYPE), "the sessions' resync", 10_000, from);
    expect(idsOf(resync.upserts)).toEqual(["b", "c", "d"]);
    await seen.state((s) => allLive(s) && s.streams.every((t) => t.recordVersion === 4n), "every stream live at version 4", 10_000);
    expect(seen.since(from, SESSION_TYPE).filter((c) => c.kind !== "resync")).toEqual([]);
    expect(["a", "b", "c", "d"].map((id) => cache.get(SESSION_TYPE, id)?.version)).toEqual([a!.version, 2n, 3n, 4n]);
    const refused = server.calls.find((c) => c.method === "Sync" && c.type === SESSION_TYPE && c.recordVersion === a!.version && c.outcome === "Aborted");
    expect(refused?.message).toBe("invalid record version");
    expect(server.count("SyncLatest", SESSION_TYPE)).toBe(2);
  });

  it("resyncs after the server restarts on the same port with a new server version", async () => {
    const first = await startServer();
    await writerFor(first.url).put({ records: [session("old", "u1")] });
    const { cache, seen } = startCache([first.url]);
    await synced(seen, first.serverVersion);
    const from = seen.changes.length;
    await first.close();
    const second = await startServer(first.port);
    expect(second.serverVersion).not.toBe(first.serverVersion);
    await writerFor(second.url).put({ records: [session("new", "u1")] });
    // While the old server shuts down its streams end UNAVAILABLE; wherever the cache retries
    // in between, it must end up synced to the new server.
    await seen.state((s) => allLive(s, second.serverVersion), "every stream live on the new server", 10_000);
    await seen.change((c) => c.kind !== "overflow" && c.type === SESSION_TYPE && c.upserts.some((r) => r.id === "new"), "the new server's session", 10_000, from);
    expect(cache.getSession("old")).toBeUndefined();
    expect(cache.size(SESSION_TYPE)).toBe(1);
    expect(seen.since(from, SESSION_TYPE).some((c) => c.kind === "resync")).toBe(true);
    for (const type of DEFAULT_CACHE_TYPES) expect(second.count("SyncLatest", type)).toBeGreaterThanOrEqual(1);
  });

  it("reopens a silent Sync after the idle limit (resuming, not resyncing) and still receives later changes", async () => {
    const server = await startServer();
    const db = writerFor(server.url);
    const { seen } = startCache([server.url], { idleTimeoutMs: 150 });
    await synced(seen);
    const from = seen.changes.length;
    await until(() => DEFAULT_CACHE_TYPES.every((t) => server.count("Sync", t) >= 3), "each type's Sync reopened twice after the idle limit");
    for (const type of DEFAULT_CACHE_TYPES) {
      expect(server.count("SyncLatest", type)).toBe(1);
      // Reopened by the client, from the position it had.
      const syncs = server.calls.filter((c) => c.method === "Sync" && c.type === type);
      expect(syncs.slice(0, 2).map((c) => c.outcome)).toEqual(["Canceled", "Canceled"]);
      expect(new Set(syncs.map((c) => c.recordVersion))).toEqual(new Set([0n]));
    }
    await db.put({ records: [session("late", "u1")] });
    await seen.change(isBatch("change", SESSION_TYPE, "late"), "a change after the reconnects", 5000, from);
    expect(seen.since(from).filter((c) => c.kind !== "change")).toEqual([]);
  });

  it("fails over to the next URL when the first cannot be reached", async () => {
    const dead = await startCountingDatabroker(SECRET);
    await dead.close();
    const server = await startServer();
    await writerFor(server.url).put({ records: [session("x", "u1")] });
    const { cache, seen } = startCache([dead.url, server.url]);
    const live = await seen.state((s) => s.ready && allLive(s), "ready on the second URL", 10_000);
    expect(live.streams.map((s) => s.url)).toEqual(DEFAULT_CACHE_TYPES.map(() => server.url));
    expect(cache.getSession("x")?.userId).toBe("u1");
  });

  it("reports a wrong shared secret clearly, without the secret, and retries at a bounded rate", async () => {
    const AUTH_RETRY_MS = 250;
    const ATTEMPTS = 3;
    const server = await startServer();
    const wrongSecret = randomBytes(32).toString("base64");
    const { cache, seen } = startCache([server.url], { sharedSecret: wrongSecret, retry: { authRetryDelayMs: AUTH_RETRY_MS } });
    const answered = (type: string) => server.calls.filter((c) => c.type === type && c.outcome !== undefined);
    await until(() => DEFAULT_CACHE_TYPES.every((t) => answered(t).length >= ATTEMPTS), `${ATTEMPTS} attempts per type answered by the server`);
    for (const type of DEFAULT_CACHE_TYPES) {
      const attempts = answered(type).slice(0, ATTEMPTS);
      expect(attempts.map((c) => c.outcome)).toEqual(attempts.map(() => "Unauthenticated"));
      // Each retry waits the auth delay (a little less at the server, where the first attempt also
      // paid for opening the connection): never a hot loop.
      for (let i = 1; i < attempts.length; i++) expect(attempts[i]!.at - attempts[i - 1]!.at).toBeGreaterThan(AUTH_RETRY_MS * 0.8);
    }
    const state = await seen.state((s) => s.streams.every((t) => t.lastError !== undefined), "every stream reporting its error");
    for (const s of state.streams) {
      expect(s.lastError).toContain("sharedSecret");
      expect(s.lastError).toContain("shared_secret");
    }
    const everything = JSON.stringify(seen.states, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
    expect(everything).not.toContain(wrongSecret);
    expect(everything).not.toContain(SECRET);
    expect(seen.states.some((s) => s.ready || s.streams.some((t) => t.state === "live"))).toBe(false);
    expect(cache.isReady).toBe(false);
  });

  it("close() ends every stream on the server side too", async () => {
    const server = await startServer();
    const { cache, seen } = startCache([server.url]);
    await synced(seen);
    await until(() => server.openStreams === DEFAULT_CACHE_TYPES.length, "a Sync per type running on the server");
    await cache.close();
    await until(() => server.openStreams === 0, "no stream left running on the server", 2000);
    expect(server.calls.filter((c) => c.method === "Sync").map((c) => c.outcome)).toEqual(DEFAULT_CACHE_TYPES.map(() => "Canceled"));
    expect(cache.state.closed).toBe(true);
    expect(cache.state.streams.map((s) => s.state)).toEqual(DEFAULT_CACHE_TYPES.map(() => "closed"));
  });
});
