/**
 * The cache against Pomerium's own databroker (memory and Postgres storage) over loopback h2c:
 * initial sync, reads, live upserts and deletes, sessions by user. The same behaviours as
 * test/cache/cache-reads.test.ts, on the real server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CacheChange, ChangeBatch, DatabrokerCache } from "../../src/index.js";
import { createDatabrokerCache, SESSION_TYPE, USER_TYPE } from "../../src/index.js";
import { Cleanups, FAST_RETRY, deleted, session, until, user } from "../cache/cache-fixtures.js";
import { STORAGES, startCacheInteropTarget, type CacheInteropTarget } from "./pomerium-cache-target.js";

// Postgres delivers changes through LISTEN/NOTIFY and polling: leave room on a busy machine.
const WAIT_MS = 10_000;

describe.each(STORAGES)("the cache against Pomerium's databroker on %s", (storage) => {
  const cleanups = new Cleanups();
  let target: CacheInteropTarget;

  beforeAll(async () => {
    target = await startCacheInteropTarget(storage, `cache_reads_${storage}`);
    cleanups.add(() => target.close());
  }, 180_000);
  afterAll(() => cleanups.run());

  function cacheFor(): DatabrokerCache {
    const cache = createDatabrokerCache({ url: target.url, sharedSecret: target.sharedSecret, retry: FAST_RETRY });
    cleanups.add(() => cache.close());
    return cache;
  }

  it("becomes ready after the initial sync and reads back the sessions and users that were put", async () => {
    await target.writer.put({
      records: [session("r-s1", "r-u1"), session("r-s2", "r-u1"), user("r-u1", "ada@example.com", "Ada"), user("r-u2", "bob@example.com", "Bob")],
    });
    const cache = cacheFor();
    await cache.ready({ timeoutMs: WAIT_MS });

    expect(cache.isReady).toBe(true);
    expect(cache.getSession("r-s1")?.userId).toBe("r-u1");
    expect(cache.getSession("r-s2")?.id).toBe("r-s2");
    expect(cache.getUser("r-u1")?.name).toBe("Ada");
    expect(cache.userByEmail("bob@example.com")?.id).toBe("r-u2");
    const info = await target.writer.serverInfo({});
    expect(cache.state.streams.every((s) => s.serverVersion === info.serverVersion)).toBe(true);
    // Everything the server holds, nothing more: compare with its own Query.
    for (const type of [SESSION_TYPE, USER_TYPE]) {
      const remote = await target.writer.query({ type, limit: 1000n });
      const local = cache.query(type, { limit: 1000 });
      expect(local.records.map((r) => [r.id, r.version])).toEqual(remote.records.map((r) => [r.id, r.version]));
      expect(cache.size(type)).toBe(Number(remote.totalCount));
    }
  });

  it("shows live upserts and deletes in getSession and on changes$", async () => {
    await target.writer.put({ records: [session("l-s1", "l-u1")] });
    const cache = cacheFor();
    const batches: CacheChange[] = [];
    cache.changes$(SESSION_TYPE).subscribe((b) => batches.push(b));
    await cache.ready({ timeoutMs: WAIT_MS });
    await until(() => batches.some((b) => b.kind === "snapshot"), "snapshot batch", WAIT_MS);
    expect((batches.find((b) => b.kind === "snapshot") as ChangeBatch).upserts.map((r) => r.id)).toContain("l-s1");

    const put = await target.writer.put({ records: [session("l-s2", "l-u1")] });
    await until(() => cache.getSession("l-s2") !== undefined, "l-s2 visible", WAIT_MS);
    const upsertedIn = () => batches.filter((b): b is ChangeBatch => b.kind === "change").flatMap((b) => b.upserts);
    await until(() => upsertedIn().some((r) => r.id === "l-s2"), "change batch with l-s2", WAIT_MS);
    expect(upsertedIn().find((r) => r.id === "l-s2")?.version).toBe(put.records[0]!.version);

    await target.writer.put({ records: [deleted(session("l-s1", "l-u1"))] });
    await until(() => cache.getSession("l-s1") === undefined, "l-s1 gone", WAIT_MS);
    const deletedIn = () => batches.filter((b): b is ChangeBatch => b.kind === "change").flatMap((b) => b.deletes);
    await until(() => deletedIn().some((r) => r.id === "l-s1"), "change batch deleting l-s1", WAIT_MS);
    expect(cache.getSession("l-s2")?.userId).toBe("l-u1");
    // No resync or overflow was needed to get there.
    expect(batches.filter((b) => b.kind !== "snapshot" && b.kind !== "change")).toEqual([]);
  });

  it("finds a user's sessions, following live upserts and deletes", async () => {
    await target.writer.put({ records: [session("u-s1", "u-u1"), session("u-s2", "u-u1"), session("u-s3", "u-u2")] });
    const cache = cacheFor();
    await cache.ready({ timeoutMs: WAIT_MS });
    expect([...cache.sessionsByUser("u-u1")].sort()).toEqual(["u-s1", "u-s2"]);
    expect([...cache.sessionsByUser("u-u2")]).toEqual(["u-s3"]);
    expect([...cache.sessionsByUser("u-nobody")]).toEqual([]);

    // A session moving to another user leaves the first user's set.
    await target.writer.put({ records: [deleted(session("u-s1", "u-u1")), session("u-s4", "u-u1"), session("u-s3", "u-u1")] });
    // The Put's three changes can arrive in separate batches: wait for the last one too.
    await until(
      () => cache.getSession("u-s4") !== undefined && cache.getSession("u-s1") === undefined && cache.getSession("u-s3")?.userId === "u-u1",
      "u-s4 in, u-s1 out, u-s3 moved",
      WAIT_MS,
    );
    expect([...cache.sessionsByUser("u-u1")].sort()).toEqual(["u-s2", "u-s3", "u-s4"]);
    expect([...cache.sessionsByUser("u-u2")]).toEqual([]);
  });
});
