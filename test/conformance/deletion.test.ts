/**
 * Contract: deletion is a Put with deleted_at; it leaves a tombstone in the change log that only
 * Sync shows (spec section 3, "Deletion").
 */
import { Code } from "@connectrpc/connect";
import { expect, it } from "vitest";

import { expectCallError } from "./expect-error.js";
import { describeTargets, loadTargets } from "./harness.js";
import {
  deletion,
  latestRecords,
  ms,
  put,
  recordsOf,
  SESSION_TYPE,
  sessionOf,
  sessionRecord,
  syncBacklog,
} from "./records.js";

const targets = await loadTargets();
const CLIENT_DELETED_AT = new Date("2001-02-03T04:05:06Z");

describeTargets(targets, "deletion and tombstones", (ctx) => {
  it("turns a deleted record into a tombstone with a new version that Sync delivers", async () => {
    const [live] = await put(ctx.db, sessionRecord("s1", { userId: "u1" }));
    const before = Date.now();
    await put(ctx.db, deletion(SESSION_TYPE, "s1", CLIENT_DELETED_AT));
    const after = Date.now();
    const info = await ctx.db.serverInfo({});

    const changes = recordsOf(
      await syncBacklog(ctx.db, { serverVersion: info.serverVersion, recordVersion: live!.version - 1n }),
    );
    expect(changes.map((r) => [r.id, r.deletedAt !== undefined])).toEqual([
      ["s1", false],
      ["s1", true],
    ]);
    const tombstone = changes[1]!;
    expect(tombstone.type).toBe(SESSION_TYPE);
    expect(tombstone.version).toBeGreaterThan(live!.version);
    expect(tombstone.version).toBe(info.latestRecordVersion);

    if (ctx.target.flavour === "postgres") {
      // postgres stores the client's deleted_at.
      expect(ms(tombstone.deletedAt)).toBe(CLIENT_DELETED_AT.getTime());
    } else {
      // memory/file: the tombstone keeps the last stored data and the server's clock.
      expect(sessionOf(tombstone).userId).toBe("u1");
      // Read from this machine's clock around the call: holds under any load (a slow call only
      // widens [before, after]), with 1 s of slack on each side.
      expect(ms(tombstone.deletedAt), `deleted_at (ms) vs the clock before the call, ${before}, minus 1 s`).toBeGreaterThanOrEqual(before - 1_000);
      expect(ms(tombstone.deletedAt), `deleted_at (ms) vs the clock after the call, ${after}, plus 1 s`).toBeLessThanOrEqual(after + 1_000);
      expect(ms(tombstone.modifiedAt)).toBe(ms(tombstone.deletedAt));
    }
  });

  it("hides deleted records from Get, Query, SyncLatest and ListTypes", async () => {
    await put(ctx.db, sessionRecord("gone"), sessionRecord("kept"));
    await put(ctx.db, deletion(SESSION_TYPE, "gone"));

    await expectCallError(ctx.db.get({ type: SESSION_TYPE, id: "gone" }), Code.NotFound, "record not found");
    const query = await ctx.db.query({ type: SESSION_TYPE, limit: 10n });
    expect(query.records.map((r) => r.id)).toEqual(["kept"]);
    expect(query.totalCount).toBe(1n);
    const latest = await latestRecords(ctx.db, SESSION_TYPE);
    expect(latest.map((r) => r.id)).toEqual(["kept"]);
    expect(latest.every((r) => r.deletedAt === undefined)).toBe(true);

    await put(ctx.db, deletion(SESSION_TYPE, "kept"));
    expect((await ctx.db.listTypes({})).types).not.toContain(SESSION_TYPE);
  });

  it("treats deleting an unknown id as a no-op on memory/file, and writes a tombstone on postgres", async () => {
    const [anchor] = await put(ctx.db, sessionRecord("anchor"));
    const before = await ctx.db.serverInfo({});
    const res = await ctx.db.put({ records: [deletion(SESSION_TYPE, "never-existed")] });
    expect(res.serverVersion).toBe(before.serverVersion);
    const after = await ctx.db.serverInfo({});
    const changes = recordsOf(
      await syncBacklog(ctx.db, { serverVersion: after.serverVersion, recordVersion: anchor!.version }),
    );

    if (ctx.target.flavour === "postgres") {
      expect(after.latestRecordVersion).toBeGreaterThan(before.latestRecordVersion);
      expect(changes.map((r) => [r.id, r.deletedAt !== undefined])).toEqual([["never-existed", true]]);
    } else {
      expect(after.latestRecordVersion).toBe(before.latestRecordVersion);
      expect(changes).toEqual([]);
    }
  });

  it("treats deleting an already deleted record as a no-op on memory/file", async () => {
    await put(ctx.db, sessionRecord("s1"));
    await put(ctx.db, deletion(SESSION_TYPE, "s1"));
    const before = await ctx.db.serverInfo({});
    await put(ctx.db, deletion(SESSION_TYPE, "s1"));
    const after = await ctx.db.serverInfo({});
    if (ctx.target.flavour === "postgres") {
      expect(after.latestRecordVersion).toBeGreaterThan(before.latestRecordVersion);
    } else {
      expect(after.latestRecordVersion).toBe(before.latestRecordVersion);
    }
  });

  it("lets a deleted id be written again as a new live record", async () => {
    await put(ctx.db, sessionRecord("s1", { userId: "first" }));
    await put(ctx.db, deletion(SESSION_TYPE, "s1"));
    const [again] = await put(ctx.db, sessionRecord("s1", { userId: "second" }));
    const res = await ctx.db.get({ type: SESSION_TYPE, id: "s1" });
    expect(res.record?.version).toBe(again!.version);
    expect(sessionOf(res.record).userId).toBe("second");
  });
});
