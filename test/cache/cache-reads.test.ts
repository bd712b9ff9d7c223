/** The facade against a real in-memory databroker over loopback HTTP/2: sync, reads, changes. */
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import type { CacheChange, ChangeBatch, User } from "../../src/index.js";
import { SERVICE_ACCOUNT_TYPE, SESSION_TYPE, USER_TYPE } from "../../src/index.js";
import { Cleanups, cacheFor, deleted, serviceAccount, session, startServer, until, user, writer } from "./cache-fixtures.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe("createDatabrokerCache: reads", () => {
  it("becomes ready after the initial sync and serves the records synchronously", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("s1", "u1"), user("u1", "ada@example.com", "Ada"), serviceAccount("sa1", "u1")] });

    const cache = cacheFor(cleanups, server.url);
    expect(cache.isReady).toBe(false);
    expect(cache.getSession("s1")).toBeUndefined();
    await cache.ready({ timeoutMs: 5000 });

    expect(cache.isReady).toBe(true);
    expect(cache.getSession("s1")?.userId).toBe("u1");
    expect(cache.getUser("u1")?.name).toBe("Ada");
    expect(cache.getServiceAccount("sa1")?.userId).toBe("u1");
    expect(cache.get(SESSION_TYPE, "s1")?.version).toBeTypeOf("bigint");
    expect(cache.size(USER_TYPE)).toBe(1);
    expect(cache.state.ready).toBe(true);
    expect(cache.state.streams.map((s) => s.type)).toEqual([SESSION_TYPE, USER_TYPE, SERVICE_ACCOUNT_TYPE]);
    expect(cache.state.streams.every((s) => s.serverVersion === server.serverVersion)).toBe(true);
    // Reads hand out the replica's own objects: no wrapper is allocated per read.
    expect(cache.getSession("s1")).toBe(cache.getSession("s1"));
    expect(cache.get(SESSION_TYPE, "s1")).toBe(cache.get(SESSION_TYPE, "s1"));
    expect(cache.sessionsByUser("u1")).toBe(cache.sessionsByUser("u1"));
  });

  it("shows live upserts and deletes in reads and on changes$", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("s1", "u1")] });
    const cache = cacheFor(cleanups, server.url);
    const batches: CacheChange[] = [];
    cache.changes$(SESSION_TYPE).subscribe((b) => batches.push(b));
    await cache.ready({ timeoutMs: 5000 });
    await until(() => batches.length > 0, "snapshot batch");
    expect(batches[0]).toMatchObject({ kind: "snapshot", type: SESSION_TYPE });
    expect((batches[0] as ChangeBatch).upserts.map((r) => r.id)).toEqual(["s1"]);

    const put = await db.put({ records: [session("s2", "u1")] });
    await until(() => cache.getSession("s2") !== undefined, "s2 visible");
    await until(() => batches.length >= 2, "change batch");
    const change = batches[1] as ChangeBatch;
    expect(change.kind).toBe("change");
    expect(change.upserts.map((r) => [r.id, r.version])).toEqual([["s2", put.records[0]!.version]]);

    await db.put({ records: [deleted(session("s1", "u1"))] });
    await until(() => cache.getSession("s1") === undefined, "s1 gone");
    await until(() => batches.length >= 3, "delete batch");
    expect((batches[2] as ChangeBatch).deletes.map((r) => r.id)).toEqual(["s1"]);
    expect(cache.getSession("s2")?.id).toBe("s2");
  });

  it("changes$() without a type delivers every mirrored type", async () => {
    const server = await startServer(cleanups);
    const cache = cacheFor(cleanups, server.url);
    const types = new Set<string>();
    cache.changes$().subscribe((b) => b.kind !== "overflow" && b.kind !== "snapshot" && types.add(b.type));
    await cache.ready({ timeoutMs: 5000 });
    await writer(server.url).put({ records: [session("s1", "u1"), user("u1", "a@b.c")] });
    await until(() => types.size === 2, "both types");
    expect([...types].sort()).toEqual([SESSION_TYPE, USER_TYPE]);
  });

  it("finds a user's sessions and a user by email through the built-in indexes", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("s1", "u1"), session("s2", "u1"), session("s3", "u2"), user("u1", "ada@example.com")] });
    const cache = cacheFor(cleanups, server.url);
    await cache.ready({ timeoutMs: 5000 });
    expect([...cache.sessionsByUser("u1")].sort()).toEqual(["s1", "s2"]);
    expect([...cache.sessionsByUser("nobody")]).toEqual([]);
    expect(cache.userByEmail("ada@example.com")?.id).toBe("u1");
    expect(cache.userByEmail("bob@example.com")).toBeUndefined();

    await db.put({ records: [deleted(session("s1", "u1")), session("s4", "u1")] });
    await until(() => cache.getSession("s4") !== undefined, "s4");
    expect([...cache.sessionsByUser("u1")].sort()).toEqual(["s2", "s4"]);
  });

  it("hides expired sessions and service accounts unless includeInvalid is set", async () => {
    const server = await startServer(cleanups);
    const past = timestampFromMs(Date.now() - 60_000);
    const future = timestampFromMs(Date.now() + 3_600_000);
    await writer(server.url).put({
      records: [
        session("expired", "u1", { expiresAt: past }),
        session("valid", "u1", { expiresAt: future }),
        session("token-dead", "u1", { oauthToken: { expiresAt: past, refreshToken: "" } }),
        session("token-refreshable", "u1", { oauthToken: { expiresAt: past, refreshToken: "r" } }),
        serviceAccount("sa-expired", "u1", { expiresAt: past }),
      ],
    });
    const cache = cacheFor(cleanups, server.url);
    await cache.ready({ timeoutMs: 5000 });
    expect(cache.getSession("expired")).toBeUndefined();
    expect(cache.getSession("expired", { includeInvalid: true })?.id).toBe("expired");
    expect(cache.getSession("valid")?.id).toBe("valid");
    expect(cache.getSession("token-dead")).toBeUndefined();
    expect(cache.getSession("token-refreshable")?.id).toBe("token-refreshable");
    expect(cache.getServiceAccount("sa-expired")).toBeUndefined();
    expect(cache.getServiceAccount("sa-expired", { includeInvalid: true })?.id).toBe("sa-expired");
  });

  it("watch$ emits the current message, each new version and undefined on delete, then completes on close", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [user("u1", "a@example.com", "A")] });
    const cache = cacheFor(cleanups, server.url);
    await cache.ready({ timeoutMs: 5000 });
    const names: Array<string | undefined> = [];
    let completed = false;
    cache.watch$(USER_TYPE, "u1").subscribe({
      next: (m) => names.push((m as User | undefined)?.name),
      complete: () => (completed = true),
    });
    expect(names).toEqual(["A"]);
    await db.put({ records: [user("u2", "other@example.com", "other")] }); // same type, other id: no emission
    await db.put({ records: [user("u1", "a@example.com", "B")] });
    await until(() => names.length === 2, "second version");
    await db.put({ records: [deleted(user("u1", "a@example.com"))] });
    await until(() => names.length === 3, "delete");
    expect(names).toEqual(["A", "B", undefined]);
    await cache.close();
    expect(completed).toBe(true);
  });

  it("rejects ready() with DeadlineExceeded naming the problem when the secret is wrong, and with Canceled on close", async () => {
    const server = await startServer(cleanups);
    const other = Buffer.alloc(32, 7).toString("base64");
    const cache = cacheFor(cleanups, server.url, { sharedSecret: other });
    const err = await cache.ready({ timeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 4 /* DeadlineExceeded */ });
    expect(String((err as Error).message)).toMatch(/shared.?secret/i);
    expect(String((err as Error).message)).not.toContain(other);

    const pending = cache.ready().catch((e: unknown) => e);
    await cache.close();
    expect(await pending).toMatchObject({ code: 1 /* Canceled */ });
    await expect(cache.ready()).rejects.toMatchObject({ code: 1 });
  });

  it("rejects ready() with Canceled when its signal aborts, and closes when the cache's own signal aborts", async () => {
    const controller = new AbortController();
    // Nothing listens on port 1: the cache never becomes ready.
    const cache = cacheFor(cleanups, "http://127.0.0.1:1", { signal: controller.signal });
    const readyAbort = new AbortController();
    const waiting = cache.ready({ signal: readyAbort.signal });
    readyAbort.abort();
    await expect(waiting).rejects.toMatchObject({ code: 1 });
    controller.abort();
    expect(cache.state.closed).toBe(true);
    expect(cache.state.streams.every((s) => s.state === "closed")).toBe(true);
  });
});
