/**
 * Contract: the server version is a uint64 that must survive the trip through every response
 * exactly (bigint), including values above 2^53 (spec sections 1.5 and 3).
 */
import { expect, it } from "vitest";

import { startInMemoryDatabroker } from "../../src/server/index.js";
import { connectClients } from "./clients.js";
import { describeTargets, loadTargets } from "./harness.js";
import { put, recordsOf, sessionRecord, syncBacklog, syncLatest } from "./records.js";
import { randomSharedSecret } from "./targets.js";

const targets = await loadTargets();

describeTargets(targets, "server version", (ctx) => {
  it("is a non-zero bigint, equal in ServerInfo, SyncLatest, Put, Patch and Query answers", async () => {
    const info = await ctx.db.serverInfo({});
    expect(typeof info.serverVersion).toBe("bigint");
    expect(info.serverVersion).not.toBe(0n);
    if (ctx.target.flavour === "postgres") expect(info.serverVersion).toBeLessThan(2n ** 32n);
    else expect(info.serverVersion).toBeLessThan(2n ** 64n);

    const putRes = await ctx.db.put({ records: [sessionRecord("s1")] });
    const patchRes = await ctx.db.patch({ records: [sessionRecord("s1")], fieldMask: { paths: [] } });
    const queryRes = await ctx.db.query({ limit: 1n });
    const versions = (await syncLatest(ctx.db, "")).at(-1)!.response;
    if (versions.case !== "versions") throw new Error("versions must be last");

    expect(putRes.serverVersion).toBe(info.serverVersion);
    expect(patchRes.serverVersion).toBe(info.serverVersion);
    expect(queryRes.serverVersion).toBe(info.serverVersion);
    expect(versions.value.serverVersion).toBe(info.serverVersion);
  });

  it("reports Query's record_version as the latest record version, not the returned records' maximum", async () => {
    const [older] = await put(ctx.db, sessionRecord("a"));
    const [newer] = await put(ctx.db, sessionRecord("b"));
    const res = await ctx.db.query({ filter: { id: "a" }, limit: 10n });
    expect(res.records.map((r) => r.version)).toEqual([older!.version]);
    expect(res.recordVersion).toBe(newer!.version);
  });
});

it("ours: a server version of 2^64-5 round-trips exactly through every response and Sync request", async () => {
  const big = 2n ** 64n - 5n;
  const sharedSecret = randomSharedSecret();
  const server = await startInMemoryDatabroker({ sharedSecret, port: 0, serverVersion: big });
  const clients = connectClients({ url: server.url, sharedSecret });
  try {
    expect(server.serverVersion).toBe(big);
    expect((await clients.db.serverInfo({})).serverVersion).toBe(big);
    const putRes = await clients.db.put({ records: [sessionRecord("s1")] });
    expect(putRes.serverVersion).toBe(big);
    expect((await clients.db.query({ limit: 1n })).serverVersion).toBe(big);
    const versions = (await syncLatest(clients.db, "")).at(-1)!.response;
    expect(versions.case === "versions" && versions.value.serverVersion).toBe(big);
    // The exact value is accepted back; the nearest double (2^64) would be ABORTED.
    const changes = recordsOf(await syncBacklog(clients.db, { serverVersion: big, recordVersion: 0n }));
    expect(changes.map((r) => r.id)).toEqual(["s1"]);
    const cleared = await clients.db.clear({});
    expect(cleared.oldServerVersion).toBe(big);
  } finally {
    clients.close();
    await server.close();
  }
});
