/** lookup freshness, waitForVersion and getConsistent (spec 9) against a real databroker. */
import { afterEach, describe, expect, it } from "vitest";
import { Code, ConnectError, SESSION_TYPE, USER_TYPE } from "../../src/index.js";
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
    expect(cache.lookup(SESSION_TYPE, "s0", { minRecordVersion: 1n })).toEqual({ freshness: "unknown", record: undefined });
    await cache.ready({ timeoutMs: 5000 });
    expect(cache.lookup(USER_TYPE, "u1").freshness).toBe("unknown"); // not mirrored

    const position = cache.state.streams[0]!.recordVersion!;
    expect(cache.lookup(SESSION_TYPE, "s1", { minRecordVersion: position + 1n })).toEqual({ freshness: "stale", record: undefined });
    expect(cache.freshness(SESSION_TYPE, position + 1n)).toBe("stale");
    expect(cache.freshness(SESSION_TYPE, position)).toBe("fresh");
    const written = (await db.put({ records: [session("s1", "u1")] })).records[0]!.version;
    await cache.waitForVersion(written, { type: SESSION_TYPE, timeoutMs: 5000 });
    const found = cache.lookup(SESSION_TYPE, "s1", { minRecordVersion: written });
    expect(found.freshness).toBe("fresh");
    expect(found.record?.version).toBe(written);
    // Absent but fresh: the stream has passed the version, so "not there" is the truth.
    expect(cache.lookup(SESSION_TYPE, "missing", { minRecordVersion: written })).toEqual({ freshness: "fresh", record: undefined });
  });

  it("waitForVersion rejects with DeadlineExceeded past its timeout, and needs a type when several are mirrored", async () => {
    const server = await startServer(cleanups);
    const cache = cacheFor(cleanups, server.url);
    await cache.ready({ timeoutMs: 5000 });
    await expect(cache.waitForVersion(1_000_000n, { type: SESSION_TYPE, timeoutMs: 50 })).rejects.toMatchObject({ code: Code.DeadlineExceeded });
    await expect(cache.waitForVersion(1n)).rejects.toMatchObject({ code: Code.InvalidArgument });
    const controller = new AbortController();
    const waiting = cache.waitForVersion(1_000_000n, { type: SESSION_TYPE, signal: controller.signal });
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
    const waiting = cache.waitForVersion(2n, { timeoutMs: 5000 }); // one type mirrored: no type needed
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
    const v = (await db.put({ records: [session("s1", "u1")] })).records[0]!.version;
    const read = await cache.getConsistent(SESSION_TYPE, "s1", { minRecordVersion: v, waitMs: 5000 });
    expect(read.source).toBe("cache");
    expect(read.record?.version).toBe(v);
  });

  it("getConsistent falls back to the server's Query when the stream is stuck behind the version", async () => {
    const server = await startServer(cleanups);
    const proxy = await startTcpFaultProxy(server.port);
    cleanups.add(() => proxy.close());
    const db = writer(server.url);
    await db.put({ records: [session("before", "u1")] });
    // Every retry counts as a fast loop: the stream waits at least 30 s before reconnecting.
    const cache = cacheFor(cleanups, proxy.url, {
      types: [SESSION_TYPE],
      retry: { initialDelayMs: 60_000, maxDelayMs: 60_000, fastLoopMaxRetries: 1, fastLoopWindowMs: 60_000 },
    });
    await cache.ready({ timeoutMs: 5000 });
    // A change seen through the stream proves the Sync stream is open on the proxied connection.
    const seen = (await db.put({ records: [session("seen", "u1")] })).records[0]!.version;
    await cache.waitForVersion(seen, { timeoutMs: 5000 });
    proxy.cut();
    await until(() => cache.state.streams[0]!.state === "backing-off", "stream backing off");

    const v = (await db.put({ records: [session("after", "u1")] })).records[0]!.version;
    expect(cache.lookup(SESSION_TYPE, "after", { minRecordVersion: v }).freshness).toBe("stale");
    const read = await cache.getConsistent(SESSION_TYPE, "after", { minRecordVersion: v, waitMs: 100 });
    expect(read.source).toBe("server");
    expect(read.record?.id).toBe("after");
    expect(read.record?.version).toBe(v);
    expect((read.record?.message as { userId?: string } | undefined)?.userId).toBe("u1");
    // The cache itself still does not hold it: the answer can only have come from the server.
    expect(cache.get(SESSION_TYPE, "after")).toBeUndefined();
    expect(cache.state.streams[0]!.latestKnownRecordVersion).toBe(v);
    expect(cache.state.streams[0]!.lag).toBeGreaterThan(0n);

    await db.put({ records: [deleted(session("after", "u1"))] });
    const gone = await cache.getConsistent(SESSION_TYPE, "after", { minRecordVersion: v + 1n });
    expect(gone).toEqual({ source: "server", record: undefined });
  });
});
