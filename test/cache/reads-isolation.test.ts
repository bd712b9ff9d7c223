/**
 * Through the facade, against a real in-memory databroker: no subscriber or reader can change
 * what another one sees (frozen batches and messages, index views that are not Sets), and no
 * answer lets a caller reach the replica's memory.
 */
import { create } from "@bufbuild/protobuf";
import { ListValueSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import type { CacheChange, CachedRecord, ChangeBatch, Session } from "../../src/index.js";
import { SESSION_TYPE, USER_TYPE } from "../../src/index.js";
import { Cleanups, cacheFor, session, startServer, until, user, writer } from "./cache-fixtures.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const groups = (...names: string[]) => create(ListValueSchema, { values: names.map((n) => create(ValueSchema, { kind: { case: "stringValue", value: n } })) });

/** Tries a write; true when it threw a TypeError (frozen), false when it went through. */
function refused(write: () => unknown): boolean {
  try {
    write();
    return false;
  } catch (error) {
    if (error instanceof TypeError) return true;
    throw error;
  }
}

describe("what the cache hands out", () => {
  it("changes$: every subscriber gets the same frozen batch; one subscriber's writes cannot empty or alter another's", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("s1", "u1")] });
    const cache = cacheFor(cleanups, server.url, { types: [SESSION_TYPE] });
    const attempts: boolean[] = [];
    // Subscribed first, so it handles each batch before the second subscriber does.
    cache.changes$(SESSION_TYPE).subscribe((change) => {
      if (change.kind === "overflow") return;
      attempts.push(refused(() => (change.upserts as CachedRecord[]).splice(0)));
      attempts.push(refused(() => (change.deletes as CachedRecord[]).push(change.upserts[0]!)));
      attempts.push(refused(() => ((change as { kind: string }).kind = "resync")));
    });
    const seen: CacheChange[] = [];
    cache.changes$(SESSION_TYPE).subscribe((change) => seen.push(change));
    await cache.ready({ timeoutMs: 5000 });
    await db.put({ records: [session("s2", "u1")] });
    await until(() => seen.length === 2, "snapshot and change batches");

    expect(attempts).toEqual([true, true, true, true, true, true]);
    const [snapshot, change] = seen as [ChangeBatch, ChangeBatch];
    expect([snapshot.kind, snapshot.upserts.map((r) => r.id), snapshot.deletes.length]).toEqual(["snapshot", ["s1"], 0]);
    expect([change.kind, change.upserts.map((r) => r.id), change.deletes.length]).toEqual(["change", ["s2"], 0]);
  });

  it("watch$ and getSession share one deep-frozen message: a watcher's write throws and getSession, indexes and queries are unchanged", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("s1", "u1", { claims: { groups: groups("admins") } })] });
    const cache = cacheFor(cleanups, server.url, { types: [SESSION_TYPE] });
    await cache.ready({ timeoutMs: 5000 });
    const messages: (Readonly<Session> | undefined)[] = [];
    const subscription = cache.watch$(SESSION_TYPE, "s1").subscribe((m) => messages.push(m as Readonly<Session> | undefined));
    cleanups.add(() => subscription.unsubscribe());
    await until(() => messages.length === 1, "the current message");
    const watched = messages[0]!;
    expect(watched).toBe(cache.getSession("s1"));
    expect(refused(() => ((watched as Session).userId = "mallory"))).toBe(true);
    expect(refused(() => watched.claims["groups"]!.values.splice(0))).toBe(true);
    expect(cache.getSession("s1")?.userId).toBe("u1");
    expect(cache.getSession("s1")?.claims["groups"]?.values.map((v) => v.kind.value)).toEqual(["admins"]);
    expect([...cache.sessionsByUser("u1")]).toEqual(["s1"]);
    expect(cache.query(SESSION_TYPE, { query: "mallory", limit: 10 }).totalCount).toBe(0n);
  });

  it("sessionsByUser and byIndex views cannot be cast to a Set and changed", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("s1", "u1"), session("s2", "u1"), user("u1", "ada@example.com")] });
    const cache = cacheFor(cleanups, server.url);
    await cache.ready({ timeoutMs: 5000 });
    const views = [cache.sessionsByUser("u1"), cache.byIndex(USER_TYPE, "email", "ada@example.com"), cache.sessionsByUser("nobody")];
    for (const view of views) {
      expect(refused(() => Set.prototype.add.call(view as Set<string>, "s-intruder"))).toBe(true);
      expect(refused(() => Set.prototype.delete.call(view as Set<string>, "s1"))).toBe(true);
    }
    expect([...cache.sessionsByUser("u1")].sort()).toEqual(["s1", "s2"]);
    expect([...cache.byIndex(USER_TYPE, "email", "ada@example.com")]).toEqual(["u1"]);
    expect(cache.sessionsByUser("someone-else").size).toBe(0);
    expect(cache.userByEmail("ada@example.com")?.id).toBe("u1");
    expect(refused(() => ((cache.userByEmail("ada@example.com") as { email: string }).email = "eve@example.com"))).toBe(true);
    expect(cache.getUser("u1")?.email).toBe("ada@example.com");
  });

  it("query answers and getConsistent records are the caller's own or frozen", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("s1", "u1"), session("s2", "u1"), user("u1", "ada@example.com")] });
    const cache = cacheFor(cleanups, server.url);
    await cache.ready({ timeoutMs: 5000 });

    const answer = cache.query(SESSION_TYPE, { limit: 10 });
    for (const r of answer.records) {
      expect(r.data!.value.buffer.byteLength).toBe(r.data!.value.byteLength);
      r.data!.value.fill(0);
    }
    expect(cache.getSession("s2")?.userId).toBe("u1");

    const fromCache = await cache.getConsistent(SESSION_TYPE, "s1");
    expect(fromCache.source).toBe("cache");
    expect(refused(() => ((fromCache.record as { id: string }).id = "s9"))).toBe(true);
    const fromServer = await cache.getConsistent(SESSION_TYPE, "s1", { minVersion: { serverVersion: server.serverVersion, recordVersion: 1n << 60n } });
    expect(fromServer.source).toBe("server");
    expect(refused(() => ((fromServer.record!.message as Session).userId = "mallory"))).toBe(true);
    expect(cache.get(SESSION_TYPE, "s1")?.id).toBe("s1");
  });

  it("state and state$ hand every reader the same frozen object", async () => {
    const server = await startServer(cleanups);
    const cache = cacheFor(cleanups, server.url, { types: [SESSION_TYPE] });
    await cache.ready({ timeoutMs: 5000 });
    const seen: unknown[] = [];
    const sub = cache.state$.subscribe((state) => seen.push(state));
    cleanups.add(() => sub.unsubscribe());
    const state = cache.state;
    expect(seen.at(-1)).toBe(state);
    expect(refused(() => ((state as { ready: boolean }).ready = false))).toBe(true);
    expect(refused(() => (state.streams as unknown[]).splice(0))).toBe(true);
    expect(refused(() => ((state.streams[0] as { lag: bigint | undefined }).lag = 99n))).toBe(true);
    expect(cache.state.ready).toBe(true);
    expect(cache.state.streams).toHaveLength(1);
  });
});
