/**
 * A host index function that throws must not make the cache fall behind the server: before,
 * the exception stopped the replica in the middle of a change while the stream's position moved
 * on, so the rest of that change was never applied (and only a log line said so).
 */
import { afterEach, describe, expect, it } from "vitest";
import { SESSION_TYPE, versionOfWrite, type CachedRecord } from "../../src/index.js";
import { Cleanups, cacheFor, deleted, session, startServer, writer } from "./cache-fixtures.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe("a host index function that throws", () => {
  it("indexes that record under no key, logs it, and still applies the whole change and every later one", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("before", "u1")] });
    const errors: string[] = [];
    const byUser = (record: CachedRecord) => {
      if (record.id.startsWith("boom")) throw new Error("the host's index function failed");
      return (record.message as { userId?: string } | undefined)?.userId;
    };
    const cache = cacheFor(cleanups, server.url, {
      types: [SESSION_TYPE],
      indexes: { [SESSION_TYPE]: { "by-user": byUser } },
      logger: { error: (message, attributes) => errors.push(`${message} ${String(attributes?.["error"] ?? "")}`) },
    });
    await cache.ready({ timeoutMs: 5000 });

    // One change carrying the failing record between two good ones, then a later change.
    const change = versionOfWrite(await db.put({ records: [session("s1", "u1"), session("boom-1", "u1"), session("s2", "u2")] }));
    await cache.waitForVersion(change, { timeoutMs: 5000 });
    const later = versionOfWrite(await db.put({ records: [session("s3", "u2")] }));
    await cache.waitForVersion(later, { timeoutMs: 5000 });

    for (const id of ["before", "s1", "boom-1", "s2", "s3"]) expect(cache.getSession(id)?.id, id).toBe(id);
    expect([...cache.byIndex(SESSION_TYPE, "by-user", "u1")].sort()).toEqual(["before", "s1"]);
    expect([...cache.byIndex(SESSION_TYPE, "by-user", "u2")].sort()).toEqual(["s2", "s3"]);
    expect(errors.some((e) => e.includes("the host's index function failed"))).toBe(true);
    // Deleting the record the function fails on works too.
    await db.put({ records: [deleted(session("boom-1", "u1"))] });
    const info = await db.serverInfo({});
    await cache.waitForVersion({ serverVersion: info.serverVersion, recordVersion: info.latestRecordVersion }, { timeoutMs: 5000 });
    expect(cache.getSession("boom-1")).toBeUndefined();
  });
});
