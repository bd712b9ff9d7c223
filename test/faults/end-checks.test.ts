/**
 * The two end checks of the fault scenarios can fail: the replica-equals-server check spots a
 * missing record, a wrong version, different bytes and an extra record; the vanish probe spots
 * a session that disappears.
 */
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { RecordSchema } from "../../gen/databroker/databroker_pb.js";
import { Cleanups, SECRET, SESSION_TYPE, cacheFor, session, startServer, tombstone, until, writer } from "./fault-fixtures.js";
import { awaitReplicaEqualsServer, differences, serverSnapshot } from "./replica-equals-server.js";
import { startVanishProbe } from "./session-vanish-probe.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe("the end checks", () => {
  it("replica-equals-server reports missing, extra, re-versioned and changed records", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("s1", "u1"), session("s2", "u2")] });
    const cache = cacheFor(cleanups, { url: server.url, types: [SESSION_TYPE] });
    await cache.ready({ timeoutMs: 5000 });
    const ref = { url: server.url, sharedSecret: SECRET };
    await awaitReplicaEqualsServer(cache, ref, [SESSION_TYPE]);

    const snapshot = await serverSnapshot(ref, SESSION_TYPE);
    expect(differences(cache, SESSION_TYPE, snapshot)).toEqual([]);
    const s1 = snapshot.get("s1")!;
    const altered = new Map(snapshot);
    altered.set("s1", create(RecordSchema, { ...s1, data: session("s1", "someone-else").data }));
    altered.set("s3", create(RecordSchema, { ...s1, id: "s3" }));
    altered.delete("s2");
    expect(differences(cache, SESSION_TYPE, altered)).toEqual(["s1: data differs", "s3: missing (server v1)"]);
    altered.set("s1", create(RecordSchema, { ...s1, version: 99n }));
    expect(differences(cache, SESSION_TYPE, altered)).toContain("s1: version 1 != server 99");
    altered.delete("s3");
    expect(differences(cache, SESSION_TYPE, altered)).toContain("size 2 != server 1 (extra records held)");

    // And against a server that really moved on without the cache seeing it.
    const other2 = await startServer(cleanups);
    await writer(other2.url).put({ records: [session("s1", "u1")] });
    await expect(awaitReplicaEqualsServer(cache, { url: other2.url, sharedSecret: SECRET }, [SESSION_TYPE], { timeoutMs: 200 })).rejects.toThrow(/replica differs/);
  });

  it("the vanish probe records a session that disappears", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("s1", "u1"), session("s2", "u2")] });
    const cache = cacheFor(cleanups, { url: server.url, types: [SESSION_TYPE] });
    await cache.ready({ timeoutMs: 5000 });
    const probe = startVanishProbe(cache, ["s1", "s2"]);
    cleanups.add(() => probe.stop());
    await until(() => probe.reads > 10, "some reads");
    expect(probe.misses).toEqual([]);
    await db.put({ records: [tombstone(SESSION_TYPE, "s2")] });
    await until(() => probe.misses.length > 0, "a miss");
    expect(probe.stop()[0]).toMatch(/^s2@\d+$/);
  });
});
