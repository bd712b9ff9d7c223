/** Resync, host indexes, the real-time client, disposal and the public surface. */
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { SESSION_TYPE, USER_TYPE, createDatabrokerCache, type CacheChange, type ChangeBatch, type Session } from "../../src/index.js";
import * as api from "../../src/index.js";
import { Cleanups, FAST_RETRY, SECRET, cacheFor, session, startServer, until, user, writer } from "./cache-fixtures.js";
import { EmptySchema } from "@bufbuild/protobuf/wkt";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe("cache lifecycle", () => {
  it("stays ready through a server Clear and emits one resync batch with only the differences", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("keep", "u1"), session("gone", "u1")] });
    const cache = cacheFor(cleanups, server.url, { types: [SESSION_TYPE] });
    await cache.ready({ timeoutMs: 5000 });
    const readiness: boolean[] = [];
    cache.state$.subscribe((s) => readiness.push(s.ready));
    const batches: CacheChange[] = [];
    cache.changes$(SESSION_TYPE).subscribe((b) => batches.push(b));
    const oldServerVersion = server.serverVersion;

    await db.clear(create(EmptySchema));
    await db.put({ records: [session("keep", "u1"), session("new", "u2")] });
    await until(() => cache.get(SESSION_TYPE, "gone") === undefined && cache.getSession("new") !== undefined, "resynced", 10_000);
    // changes$ delivers a turn of the event loop after the replica shows the change (the hub
    // drains its subscribers' buffers in a setImmediate): wait for the batch too.
    await until(() => batches.some((b) => b.kind === "resync"), "the resync batch delivered", 10_000);

    expect(readiness.every((r) => r)).toBe(true);
    expect(cache.state.streams[0]!.serverVersion).not.toBe(oldServerVersion);
    expect(cache.state.streams[0]!.serverVersion).toBe(server.serverVersion);
    const resync = batches.find((b) => b.kind === "resync") as ChangeBatch | undefined;
    expect(resync).toBeDefined();
    expect(resync!.deletes.map((r) => r.id)).toContain("gone");
    expect(cache.getSession("keep")?.id).toBe("keep");
  });

  it("shows changes nobody observed to the next state$ subscriber and the next state read", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    const cache = cacheFor(cleanups, server.url, { types: [SESSION_TYPE] });
    await cache.ready({ timeoutMs: 5000 });
    const initial = cache.state;

    // No state$ subscriber while these changes arrive.
    const first = await db.put({ records: [session("a", "u1")] });
    await until(() => cache.getSession("a") !== undefined, "the first change applied", 5000);
    const seen: api.CacheState[] = [];
    const subscription = cache.state$.subscribe((s) => seen.push(s));
    expect(seen).toHaveLength(1);
    expect(seen[0]!.streams[0]!.recordVersion).toBe(first.records[0]!.version);
    expect(cache.state).toBe(seen[0]);
    subscription.unsubscribe();

    const second = await db.put({ records: [session("b", "u1")] });
    await until(() => cache.getSession("b") !== undefined, "the second change applied", 5000);
    const read = cache.state;
    expect(read.streams[0]!.recordVersion).toBe(second.records[0]!.version);
    expect(read.streams[0]!.recordVersion).toBeGreaterThan(initial.streams[0]!.recordVersion!);
    // Nothing changed since: the same object again, to a reader and to a subscriber.
    expect(cache.state).toBe(read);
    let replayed: api.CacheState | undefined;
    cache.state$.subscribe((s) => (replayed ??= s)).unsubscribe();
    expect(replayed).toBe(read);
    expect(Object.isFrozen(read)).toBe(true);
  });

  it("fails over to the next URL when the first cannot be reached", async () => {
    const server = await startServer(cleanups);
    await writer(server.url).put({ records: [session("s1", "u1")] });
    const cache = cacheFor(cleanups, "unused", { url: undefined, urls: ["http://127.0.0.1:1", server.url], types: [SESSION_TYPE] });
    await cache.ready({ timeoutMs: 10_000 });
    expect(cache.getSession("s1")?.id).toBe("s1");
    expect(cache.state.streams[0]!.url).toBe(server.url);
  });

  it("maintains host-defined indexes given at construction", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("s1", "u1", { idpId: "okta" }), session("s2", "u2", { idpId: "okta" }), session("s3", "u3", { idpId: "google" })] });
    const cache = cacheFor(cleanups, server.url, {
      types: [SESSION_TYPE],
      indexes: { [SESSION_TYPE]: { idp: (record) => (record.message as Session | undefined)?.idpId || undefined } },
    });
    await cache.ready({ timeoutMs: 5000 });
    expect([...cache.byIndex(SESSION_TYPE, "idp", "okta")].sort()).toEqual(["s1", "s2"]);
    await db.put({ records: [session("s2", "u2", { idpId: "google" })] });
    await until(() => cache.byIndex(SESSION_TYPE, "idp", "google").size === 2, "re-indexed");
    expect([...cache.byIndex(SESSION_TYPE, "idp", "okta")]).toEqual(["s1"]);
  });

  it("exposes the real-time DataBrokerService client over the same authenticated transport, refused after close", async () => {
    const server = await startServer(cleanups);
    const cache = cacheFor(cleanups, server.url, { types: [SESSION_TYPE] });
    const info = await cache.client.serverInfo({});
    expect(info.serverVersion).toBe(server.serverVersion);
    const put = await cache.client.put({ records: [session("via-client", "u1")] });
    await cache.waitForVersion(api.versionOfWrite(put), { timeoutMs: 5000 });
    expect(cache.getSession("via-client")?.userId).toBe("u1");
    await cache.close();
    await expect(cache.client.serverInfo({})).rejects.toMatchObject({ code: api.Code.Canceled });
  });

  it("closes with await using", async () => {
    const server = await startServer(cleanups);
    let states: string[] = [];
    {
      await using cache = createDatabrokerCache({ url: server.url, sharedSecret: SECRET, types: [SESSION_TYPE], retry: FAST_RETRY });
      await cache.ready({ timeoutMs: 5000 });
      cache.state$.subscribe({ complete: () => (states = cache.state.streams.map((s) => s.state)) });
    }
    expect(states).toEqual(["closed"]);
  });

  it('mirrors every type on one stream with types [""]', async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("s1", "u1"), user("u1", "a@example.com")] });
    const cache = cacheFor(cleanups, server.url, { types: [""] });
    await cache.ready({ timeoutMs: 5000 });
    expect(cache.getSession("s1")?.userId).toBe("u1");
    expect(cache.userByEmail("a@example.com")?.id).toBe("u1");
    const v = api.versionOfWrite(await db.put({ records: [user("u2", "b@example.com")] }));
    await cache.waitForVersion(v, { type: USER_TYPE, timeoutMs: 5000 });
    expect(cache.lookup(USER_TYPE, "u2", { minVersion: v }).freshness).toBe("fresh");
    expect(cache.state.streams.map((s) => s.type)).toEqual([""]);
  });

  it("rejects bad settings before connecting", () => {
    expect(() => createDatabrokerCache({ sharedSecret: SECRET })).toThrow(/URL is required/);
    expect(() => createDatabrokerCache({ url: "ftp://x", sharedSecret: SECRET })).toThrow(api.ConnectError);
    expect(() => createDatabrokerCache({ url: "http://127.0.0.1:1", sharedSecret: "not-base64!" })).toThrow(api.SharedSecretError);
    expect(() => createDatabrokerCache({ url: "http://127.0.0.1:1", sharedSecret: SECRET, types: [] })).toThrow(/at least one/);
    expect(() => createDatabrokerCache({ url: "http://127.0.0.1:1", sharedSecret: SECRET, types: ["", SESSION_TYPE] })).toThrow(/cannot be combined/);
    expect(() => createDatabrokerCache({ url: "http://127.0.0.1:1", sharedSecret: SECRET, subscriberBufferSize: 0 })).toThrow(/subscriberBufferSize/);
    for (const subscriberBufferBytes of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "64MiB" as never]) {
      expect(() => createDatabrokerCache({ url: "http://127.0.0.1:1", sharedSecret: SECRET, subscriberBufferBytes })).toThrow(
        expect.objectContaining({ code: api.Code.InvalidArgument, rawMessage: "`subscriberBufferBytes` must be a positive integer" }),
      );
    }
    for (const decodedMessageLimit of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "10" as never]) {
      expect(() => createDatabrokerCache({ url: "http://127.0.0.1:1", sharedSecret: SECRET, decodedMessageLimit })).toThrow(/`decodedMessageLimit` must be a positive integer/);
    }
    expect(() => createDatabrokerCache({ url: "http://127.0.0.1:1", sharedSecret: SECRET, projection: "slim" as never })).toThrow(/`projection` must be "full", "lean" or a function/);
    expect(() => createDatabrokerCache({ url: "http://127.0.0.1:1", sharedSecret: SECRET, transport: "undici" as never })).toThrow(/`transport` must be one of "connect-node", "grpc-js"/);
  });
});

describe("public surface", () => {
  it("exports the cache, its helpers, errors and message schemas, and nothing internal (nor the server)", () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        "ASSERTION_ALGORITHMS",
        "CLUSTER_REQUEST_MODE_HEADER",
        "Code",
        "ConnectError",
        "DEFAULT_ASSERTION_ALGORITHMS",
        "DEFAULT_ASSERTION_LEEWAY_SEC",
        "DEFAULT_CACHE_TRANSPORT",
        "DEFAULT_CACHE_TYPES",
        "DEFAULT_DECODED_MESSAGE_LIMIT",
        "DEFAULT_LEADER_CHECK_INTERVAL_MS",
        "DEFAULT_SUBSCRIBER_BUFFER_BYTES",
        "DEFAULT_MAX_ASSERTION_BYTES",
        "DEFAULT_SUBSCRIBER_BUFFER_SIZE",
        "DIRECTORY_GROUP_TYPE",
        "DIRECTORY_USER_TYPE",
        "IDENTITY_BINDING_TYPE",
        "LEAN_REFRESH_TOKEN_PLACEHOLDER",
        "METER_NAME",
        "RecordSchema",
        "SERVICE_ACCOUNT_TYPE",
        "SESSION_BINDING_REQUEST_TYPE",
        "SESSION_BINDING_TYPE",
        "SESSION_TYPE",
        "SNAPSHOT_REJECTION_REASONS",
        "ServiceAccountSchema",
        "SessionSchema",
        "SharedSecretError",
        "StaleCacheError",
        "SYNC_STATE_NAMES",
        "TYPE_URL_PREFIX",
        "USER_TYPE",
        "UserSchema",
        "createAssertionVerifier",
        "createDatabrokerCache",
        "isServiceAccountValid",
        "isSessionValid",
        "leanProjection",
        "sessionEnds$",
        "versionOfWrite",
      ].sort(),
    );
  });

  it("exports the in-memory databroker from the /testing entry only", async () => {
    expect(Object.keys(await import("../../src/testing.js"))).toEqual(["startInMemoryDatabroker"]);
  });
});
