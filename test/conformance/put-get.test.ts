/**
 * Contract: Put stores records with server-assigned versions and timestamps; Get reads live
 * records only (spec sections 3 and 6).
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { expect, it } from "vitest";

import { RecordSchema } from "../../gen/databroker/databroker_pb.js";
import { expectCallError } from "./expect-error.js";
import { describeTargets, loadTargets } from "./harness.js";
import { deletion, ms, put, SESSION_TYPE, sessionOf, sessionRecord, USER_TYPE, userOf, userRecord } from "./records.js";

const targets = await loadTargets();

describeTargets(targets, "Put and Get", (ctx) => {
  it("assigns the version and modified_at itself, ignoring the client's values", async () => {
    const sent = sessionRecord("s1", { userId: "u1" });
    sent.version = 999_999n;
    sent.modifiedAt = timestampFromDate(new Date("2001-01-01T00:00:00Z"));
    const before = Date.now();
    const [stored] = await put(ctx.db, sent);
    const after = Date.now();

    expect(stored?.version).not.toBe(999_999n);
    expect(stored?.version).toBeGreaterThan(0n);
    // Read from this machine's clock around the call: holds under any load (a slow call only
    // widens [before, after]), with 1 s of slack on each side.
    expect(ms(stored?.modifiedAt), `modified_at (ms) vs the clock before the call, ${before}, minus 1 s`).toBeGreaterThanOrEqual(before - 1_000);
    expect(ms(stored?.modifiedAt), `modified_at (ms) vs the clock after the call, ${after}, plus 1 s`).toBeLessThanOrEqual(after + 1_000);
    expect(stored?.deletedAt).toBeUndefined();
  });

  it("gives every write a higher version than the one before, across types", async () => {
    const [a] = await put(ctx.db, sessionRecord("s1"));
    const [b] = await put(ctx.db, userRecord("u1"));
    const [c] = await put(ctx.db, sessionRecord("s1", { userId: "changed" }));
    expect(b!.version).toBeGreaterThan(a!.version);
    expect(c!.version).toBeGreaterThan(b!.version);
  });

  it("numbers the first record 1 and counts up by one per change (memory/file)", async () => {
    if (ctx.target.flavour === "postgres") {
      // postgres uses an identity column that Clear does not reset: only growth is promised.
      const [a] = await put(ctx.db, sessionRecord("s1"));
      const [b] = await put(ctx.db, sessionRecord("s2"));
      expect(b!.version).toBeGreaterThan(a!.version);
      return;
    }
    const stored = await put(ctx.db, sessionRecord("s1"), sessionRecord("s2"), userRecord("u1"));
    expect(stored.map((r) => r.version)).toEqual([1n, 2n, 3n]);
    const [next] = await put(ctx.db, sessionRecord("s3"));
    expect(next!.version).toBe(4n);
  });

  it("answers a batch in request order with strictly increasing versions and the current server version", async () => {
    const res = await ctx.db.put({
      records: [sessionRecord("b"), userRecord("z"), sessionRecord("a")],
    });
    expect(res.records.map((r) => [r.type, r.id])).toEqual([
      [SESSION_TYPE, "b"],
      [USER_TYPE, "z"],
      [SESSION_TYPE, "a"],
    ]);
    const versions = res.records.map((r) => r.version);
    expect(versions[1]).toBeGreaterThan(versions[0]!);
    expect(versions[2]).toBeGreaterThan(versions[1]!);
    const info = await ctx.db.serverInfo({});
    expect(res.serverVersion).toBe(info.serverVersion);
    expect(info.latestRecordVersion).toBe(versions[2]);
  });

  it("returns the stored record from Get: same version, timestamp and data as the Put answered", async () => {
    const [stored] = await put(ctx.db, sessionRecord("s1", { userId: "u1", audience: ["a", "b"] }));
    const res = await ctx.db.get({ type: SESSION_TYPE, id: "s1" });
    expect(res.record?.version).toBe(stored!.version);
    expect(res.record?.type).toBe(SESSION_TYPE);
    expect(res.record?.id).toBe("s1");
    // postgres keeps microseconds: compare at millisecond precision.
    expect(ms(res.record?.modifiedAt)).toBe(ms(stored!.modifiedAt));
    expect(res.record?.deletedAt).toBeUndefined();
    const session = sessionOf(res.record);
    expect(session.userId).toBe("u1");
    expect(session.audience).toEqual(["a", "b"]);
  });

  it("overwrites a record on a second Put: Get returns the newer data and version", async () => {
    await put(ctx.db, userRecord("u1", { name: "old" }));
    const [second] = await put(ctx.db, userRecord("u1", { name: "new" }));
    const res = await ctx.db.get({ type: USER_TYPE, id: "u1" });
    expect(res.record?.version).toBe(second!.version);
    expect(userOf(res.record).name).toBe("new");
  });

  it("keeps types apart: the same id under two types is two records", async () => {
    await put(ctx.db, sessionRecord("same"), userRecord("same", { name: "user" }));
    expect(sessionOf((await ctx.db.get({ type: SESSION_TYPE, id: "same" })).record).id).toBe("same");
    expect(userOf((await ctx.db.get({ type: USER_TYPE, id: "same" })).record).name).toBe("user");
  });

  it("applies a batch in order: the same id twice gets two versions and the second wins", async () => {
    const res = await ctx.db.put({ records: [userRecord("u1", { name: "first" }), userRecord("u1", { name: "second" })] });
    expect(res.records[1]!.version).toBeGreaterThan(res.records[0]!.version);
    const got = await ctx.db.get({ type: USER_TYPE, id: "u1" });
    expect(got.record?.version).toBe(res.records[1]!.version);
    expect(userOf(got.record).name).toBe("second");
  });

  it('answers Get for a missing record with NOT_FOUND "record not found"', async () => {
    await expectCallError(ctx.db.get({ type: SESSION_TYPE, id: "nope" }), Code.NotFound, "record not found");
  });

  it('answers Get for a deleted record with NOT_FOUND "record not found"', async () => {
    await put(ctx.db, sessionRecord("s1"));
    await put(ctx.db, deletion(SESSION_TYPE, "s1"));
    await expectCallError(ctx.db.get({ type: SESSION_TYPE, id: "s1" }), Code.NotFound, "record not found");
  });

  it("echoes a deletion in the Put answer as sent (memory/file) or with the previous live version (postgres)", async () => {
    const [live] = await put(ctx.db, sessionRecord("s1"));
    const del = deletion(SESSION_TYPE, "s1", new Date("2001-01-01T00:00:00Z"));
    del.version = 7n;
    const res = await ctx.db.put({ records: [del] });
    expect(res.records).toHaveLength(1);
    const echoed = res.records[0]!;
    expect([echoed.type, echoed.id]).toEqual([SESSION_TYPE, "s1"]);
    expect(echoed.deletedAt).toBeDefined();
    if (ctx.target.flavour === "postgres") {
      expect(echoed.version).toBe(live!.version);
    } else {
      expect(echoed.version).toBe(7n);
      expect(echoed.modifiedAt).toBeUndefined();
      expect(ms(echoed.deletedAt)).toBe(Date.parse("2001-01-01T00:00:00Z"));
    }
  });

  it("stores a record without data on memory/file; postgres refuses it (records.data is NOT NULL)", async () => {
    const empty = create(RecordSchema, { type: SESSION_TYPE, id: "empty" });
    if (ctx.target.flavour === "postgres") {
      await expect(ctx.db.put({ records: [empty] })).rejects.toThrow();
      await expectCallError(ctx.db.get({ type: SESSION_TYPE, id: "empty" }), Code.NotFound, "record not found");
      return;
    }
    const [stored] = await put(ctx.db, empty);
    expect(stored!.version).toBeGreaterThan(0n);
    const res = await ctx.db.get({ type: SESSION_TYPE, id: "empty" });
    expect(res.record?.version).toBe(stored!.version);
    expect(res.record?.data).toBeUndefined();
  });
});
