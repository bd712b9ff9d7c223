/** lookup freshness, waitForVersion and getConsistent (spec 9) against a real databroker. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { Code, ConnectError, SESSION_TYPE, USER_TYPE, versionOfWrite, type DatabrokerVersion } from "../../src/index.js";
import { startTcpFaultProxy } from "../support/tcp-fault-proxy.js";
import { Cleanups, cacheFor, deleted, session, startServer, until, user, writer } from "./cache-fixtures.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe("read-your-writes", () => {
  it("lookup is unknown before the type's snapshot, stale until the stream delivers the version, then fresh", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("s0", "u1")] });
    const cache = cacheFor(cleanups, server.url, { types: [SESSION_TYPE] });
    const sv = server.serverVersion;
    expect(cache.lookup(SESSION_TYPE, "s0", { minVersion: { serverVersion: sv, recordVersion: 1n } })).toEqual({ freshness: "unknown", record: undefined });
    await cache.ready({ timeoutMs: 5000 });
    expect(cache.lookup(USER_TYPE, "u1").freshness).toBe("unknown"); // not mirrored

    const position = cache.state.streams[0]!.recordVersion!;
    const ahead = { serverVersion: sv, recordVersion: position + 1n };
    expect(cache.lookup(SESSION_TYPE, "s1", { minVersion: ahead })).toEqual({ freshness: "stale", record: undefined });
    expect(cache.freshness(SESSION_TYPE, ahead)).toBe("stale");
    expect(cache.freshness(SESSION_TYPE, { serverVersion: sv, recordVersion: position })).toBe("fresh");
    const written = versionOfWrite(await db.put({ records: [session("s1", "u1")] }));
    expect(written.serverVersion).toBe(sv);
    await cache.waitForVersion(written, { type: SESSION_TYPE, timeoutMs: 5000 });
    const found = cache.lookup(SESSION_TYPE, "s1", { minVersion: written });
    expect(found.freshness).toBe("fresh");
    expect(found.record?.version).toBe(written.recordVersion);
    // Absent but fresh: the stream has passed the version, so "not there" is the truth.
    expect(cache.lookup(SESSION_TYPE, "missing", { minVersion: written })).toEqual({ freshness: "fresh", record: undefined });
    // The same record version of another server version says nothing about this one.
    expect(cache.freshness(SESSION_TYPE, { serverVersion: sv + 1n, recordVersion: 1n })).toBe("unknown");
    expect(cache.lookup(SESSION_TYPE, "s1", { minVersion: { serverVersion: sv + 1n, recordVersion: 1n } }).freshness).toBe("unknown");
  });

  it("never calls a write on a new server version fresh against the old position, and restarts lag from the new server", async () => {
    const server = await startServer(cleanups);
    const proxy = await startTcpFaultProxy(server.port);
    cleanups.add(() => proxy.close());
    const db = writer(server.url);
    for (let i = 0; i < 20; i++) await db.put({ records: [session(`old-${i}`, "u1")] });
    const cache = cacheFor(cleanups, proxy.url, { types: [SESSION_TYPE] });
    await cache.ready({ timeoutMs: 5000 });
    const old = versionOfWrite(await db.put({ records: [session("old-last", "u1")] }));
    await cache.waitForVersion(old, { timeoutMs: 5000 });

    // The cache cannot hear of the Clear yet: it still holds the old server version at its old position.
    proxy.blackhole();
    const cleared = await db.clear({});
    const fresh = versionOfWrite(await db.put({ records: [session("new-1", "u2")] }));
    expect(fresh.serverVersion).toBe(cleared.newServerVersion);
    expect(fresh.recordVersion).toBeLessThan(old.recordVersion); // record versions start over
    expect(cache.state.streams[0]!.serverVersion).toBe(old.serverVersion);
    // A version of the new server is never "fresh" against the old one's position.
    expect(cache.freshness(SESSION_TYPE, fresh)).toBe("unknown");
    expect(cache.lookup(SESSION_TYPE, "new-1", { minVersion: fresh })).toEqual({ freshness: "unknown", record: undefined });

    // Reconnected, the cache resyncs to the new server; then the write is fresh there.
    proxy.heal();
    proxy.cut();
    await cache.waitForVersion(fresh, { timeoutMs: 10_000 });
    expect(cache.getSession("new-1")?.userId).toBe("u2");
    expect(cache.lookup(SESSION_TYPE, "new-1", { minVersion: fresh }).freshness).toBe("fresh");
    expect(cache.freshness(SESSION_TYPE, old)).toBe("unknown"); // the old server's version means nothing now
    // Lag is measured on the new server version: 0 once caught up, not the old position minus the new one.
    const stream = cache.state.streams[0]!;
    expect(stream.serverVersion).toBe(fresh.serverVersion);
    expect(stream.latestKnownRecordVersion).toBe(stream.recordVersion);
    expect(stream.lag).toBe(0n);
  });

  it("waitForVersion rejects with DeadlineExceeded past its timeout, and needs a type when several are mirrored", async () => {
    const server = await startServer(cleanups);
    const cache = cacheFor(cleanups, server.url);
    await cache.ready({ timeoutMs: 5000 });
    const far = { serverVersion: server.serverVersion, recordVersion: 1_000_000n };
    await expect(cache.waitForVersion(far, { type: SESSION_TYPE, timeoutMs: 50 })).rejects.toMatchObject({ code: Code.DeadlineExceeded });
    await expect(cache.waitForVersion({ serverVersion: server.serverVersion, recordVersion: 1n })).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(cache.waitForVersion(1n as unknown as DatabrokerVersion, { type: SESSION_TYPE })).rejects.toMatchObject({ code: Code.InvalidArgument });
    const controller = new AbortController();
    const waiting = cache.waitForVersion(far, { type: SESSION_TYPE, signal: controller.signal });
    controller.abort(new Error("caller gave up"));
    const err = await waiting.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect(err).toMatchObject({ code: Code.Canceled });
  });

  it("waitForVersion resolves when the type's stream reaches the version", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    const cache = cacheFor(cleanups, server.url, { types: [USER_TYPE] });
    await cache.ready({ timeoutMs: 5000 });
    // One type mirrored: no type needed.
    const waiting = cache.waitForVersion({ serverVersion: server.serverVersion, recordVersion: 2n }, { timeoutMs: 5000 });
    await db.put({ records: [user("u1", "a@example.com")] });
    await db.put({ records: [user("u2", "b@example.com")] });
    await waiting;
    expect(cache.getUser("u2")?.email).toBe("b@example.com");
  });

  it("getConsistent answers from the cache when it is fresh", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    const cache = cacheFor(cleanups, server.url, { types: [SESSION_TYPE] });
    await cache.ready({ timeoutMs: 5000 });
    const v = versionOfWrite(await db.put({ records: [session("s1", "u1")] }));
    const read = await cache.getConsistent(SESSION_TYPE, "s1", { minVersion: v, waitMs: 5000 });
    expect(read.source).toBe("cache");
    expect(read.record?.version).toBe(v.recordVersion);
  });

  it("getConsistent falls back to the server's Query when the stream is stuck behind the version", async () => {
    const server = await startServer(cleanups);
    const proxy = await startTcpFaultProxy(server.port);
    cleanups.add(() => proxy.close());
    const db = writer(server.url);
    await db.put({ records: [session("before", "u1")] });
    // The cut is a connection failure: the stream reconnects after a full-jitter delay under
    // maxReconnectDelayMs. With Math.random that delay fell under the read's 100 ms wait in a few
    // runs in a hundred, and the stream then delivered the write first. Pinned near the top of
    // the range (the loop takes Math.random when it is built), the stream stays away ~59 s.
    const random = vi.spyOn(Math, "random").mockReturnValue(0.99);
    cleanups.add(() => random.mockRestore());
    const cache = cacheFor(cleanups, proxy.url, {
      types: [SESSION_TYPE],
      retry: { initialDelayMs: 60_000, maxDelayMs: 60_000, maxReconnectDelayMs: 60_000, fastLoopMaxRetries: 1, fastLoopWindowMs: 60_000 },
    });
    await cache.ready({ timeoutMs: 5000 });
    // A change seen through the stream proves the Sync stream is open on the proxied connection.
    const seen = versionOfWrite(await db.put({ records: [session("seen", "u1")] }));
    await cache.waitForVersion(seen, { timeoutMs: 5000 });
    proxy.cut();
    await until(() => cache.state.streams[0]!.state === "backing-off", "stream backing off");

    const v = versionOfWrite(await db.put({ records: [session("after", "u1")] }));
    expect(cache.lookup(SESSION_TYPE, "after", { minVersion: v }).freshness).toBe("stale");
    const read = await cache.getConsistent(SESSION_TYPE, "after", { minVersion: v, waitMs: 100 });
    expect(read.source).toBe("server");
    expect(read.record?.id).toBe("after");
    expect(read.record?.version).toBe(v.recordVersion);
    expect((read.record?.message as { userId?: string } | undefined)?.userId).toBe("u1");
    // The cache itself still does not hold it: the answer can only have come from the server.
    expect(cache.get(SESSION_TYPE, "after")).toBeUndefined();
    expect(cache.state.streams[0]!.latestKnownRecordVersion).toBe(v.recordVersion);
    expect(cache.state.streams[0]!.lag).toBeGreaterThan(0n);

    await db.put({ records: [deleted(session("after", "u1"))] });
    const gone = await cache.getConsistent(SESSION_TYPE, "after", { minVersion: { ...v, recordVersion: v.recordVersion + 1n } });
    expect(gone).toEqual({ source: "server", record: undefined });
  });
});
