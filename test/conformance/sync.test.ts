/**
 * Contract: Sync checks the versions it is asked to resume from, then streams options once and
 * every change in ascending version order, and waits for more unless wait=false (spec section 5).
 */
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { expect, it } from "vitest";

import { OptionsSchema, type SyncResponse } from "../../gen/databroker/databroker_pb.js";
import { expectStreamError } from "./expect-error.js";
import { describeTargets, loadTargets } from "./harness.js";
import { deletion, put, recordsOf, SESSION_TYPE, sessionRecord, syncBacklog, USER_TYPE, userRecord } from "./records.js";
import { StreamReader } from "./stream-reader.js";

const targets = await loadTargets();

describeTargets(targets, "Sync", (ctx) => {
  it('refuses a different server version with ABORTED "invalid server version"', async () => {
    const sv = (await ctx.db.serverInfo({})).serverVersion;
    await expectStreamError(
      ctx.db.sync({ serverVersion: sv + 1n, recordVersion: 0n }),
      Code.Aborted,
      "invalid server version",
    );
  });

  it('refuses server version 0 with ABORTED "invalid server version"', async () => {
    await put(ctx.db, sessionRecord("s1"));
    const { messages } = await expectStreamError(
      ctx.db.sync({ serverVersion: 0n, recordVersion: 0n, wait: false }),
      Code.Aborted,
      "invalid server version",
    );
    expect(messages).toEqual([]);
  });

  it('refuses a compacted-away record version with ABORTED "invalid record version", and accepts earliest-1', async () => {
    const written = await put(ctx.db, sessionRecord("s1"), sessionRecord("s2"), sessionRecord("s3"), sessionRecord("s4"));
    await ctx.target.compact();
    const info = await ctx.db.serverInfo({});
    const newest = written.at(-1)!.version;
    // Compaction keeps only the newest change.
    expect(info.earliestRecordVersion).toBe(newest);
    expect(info.latestRecordVersion).toBe(newest);

    await expectStreamError(
      ctx.db.sync({ serverVersion: info.serverVersion, recordVersion: info.earliestRecordVersion - 2n, wait: false }),
      Code.Aborted,
      "invalid record version",
    );
    const resumed = await syncBacklog(ctx.db, {
      serverVersion: info.serverVersion,
      recordVersion: info.earliestRecordVersion - 1n,
    });
    expect(recordsOf(resumed).map((r) => [r.id, r.version])).toEqual([["s4", newest]]);
  });

  it("with wait=false streams the backlog in ascending version order and ends OK", async () => {
    const [first] = await put(ctx.db, sessionRecord("c"));
    await put(ctx.db, userRecord("a"));
    await put(ctx.db, sessionRecord("a"));
    await put(ctx.db, sessionRecord("c", { userId: "again" }));
    const sv = (await ctx.db.serverInfo({})).serverVersion;
    const records = recordsOf(await syncBacklog(ctx.db, { serverVersion: sv, recordVersion: first!.version - 1n }));
    // Every change, not just the latest per id: c appears twice.
    expect(records.map((r) => [r.type, r.id])).toEqual([
      [SESSION_TYPE, "c"],
      [USER_TYPE, "a"],
      [SESSION_TYPE, "a"],
      [SESSION_TYPE, "c"],
    ]);
    const versions = records.map((r) => r.version);
    expect(versions).toEqual([...versions].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
    expect(new Set(versions).size).toBe(versions.length);
  });

  it("sends only changes newer than record_version", async () => {
    await put(ctx.db, sessionRecord("s1"));
    const [mid] = await put(ctx.db, sessionRecord("s2"));
    await put(ctx.db, sessionRecord("s3"));
    const sv = (await ctx.db.serverInfo({})).serverVersion;
    const records = recordsOf(await syncBacklog(ctx.db, { serverVersion: sv, recordVersion: mid!.version }));
    expect(records.map((r) => r.id)).toEqual(["s3"]);
  });

  it("accepts a record_version beyond latest and sends nothing", async () => {
    await put(ctx.db, sessionRecord("s1"));
    const info = await ctx.db.serverInfo({});
    const msgs = await syncBacklog(ctx.db, { serverVersion: info.serverVersion, recordVersion: info.latestRecordVersion + 100n });
    expect(msgs).toEqual([]);
  });

  it("sends only the requested type's changes when a type is given", async () => {
    const [first] = await put(ctx.db, userRecord("u1"));
    await put(ctx.db, sessionRecord("s1"), userRecord("u2"));
    const sv = (await ctx.db.serverInfo({})).serverVersion;
    const records = recordsOf(
      await syncBacklog(ctx.db, { serverVersion: sv, recordVersion: first!.version - 1n, type: USER_TYPE }),
    );
    expect(records.map((r) => r.id)).toEqual(["u1", "u2"]);
  });

  it("delivers tombstones as changes with deleted_at set", async () => {
    const [live] = await put(ctx.db, sessionRecord("s1"));
    await put(ctx.db, deletion(SESSION_TYPE, "s1"));
    const sv = (await ctx.db.serverInfo({})).serverVersion;
    const records = recordsOf(await syncBacklog(ctx.db, { serverVersion: sv, recordVersion: live!.version }));
    expect(records).toHaveLength(1);
    expect(records[0]!.id).toBe("s1");
    expect(records[0]!.deletedAt).toBeDefined();
  });

  it("keeps the stream open by default (wait unset) and delivers a later Put", async () => {
    const info = await ctx.db.serverInfo({});
    const reader = new StreamReader<SyncResponse>((signal) =>
      ctx.db.sync({ serverVersion: info.serverVersion, recordVersion: info.latestRecordVersion }, { signal }),
    );
    try {
      await reader.expectSilence(300);
      const [stored] = await put(ctx.db, sessionRecord("later"));
      const msg = await reader.next();
      expect(msg.response.case).toBe("record");
      if (msg.response.case === "record") {
        expect(msg.response.value.id).toBe("later");
        expect(msg.response.value.version).toBe(stored!.version);
      }
      await put(ctx.db, deletion(SESSION_TYPE, "later"));
      const tomb = await reader.next();
      expect(tomb.response.case === "record" && tomb.response.value.deletedAt !== undefined).toBe(true);
      await reader.expectSilence(200);
    } finally {
      reader.cancel();
    }
  });

  it("never sends other types on a waiting stream for one type", async () => {
    const info = await ctx.db.serverInfo({});
    const reader = new StreamReader<SyncResponse>((signal) =>
      ctx.db.sync({ serverVersion: info.serverVersion, recordVersion: info.latestRecordVersion, type: USER_TYPE }, { signal }),
    );
    try {
      await reader.expectSilence(200);
      await put(ctx.db, sessionRecord("s1"));
      await put(ctx.db, userRecord("u1"));
      const msg = await reader.next();
      expect(msg.response.case === "record" && [msg.response.value.type, msg.response.value.id]).toEqual([USER_TYPE, "u1"]);
      await reader.expectSilence(200);
    } finally {
      reader.cancel();
    }
  });

  it("sends a type's options once, at the start of the stream, and never pushes later option changes", async () => {
    await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { indexableFields: ["user_id"] }) });
    const [first] = await put(ctx.db, sessionRecord("s1"));
    const sv = (await ctx.db.serverInfo({})).serverVersion;
    const reader = new StreamReader<SyncResponse>((signal) =>
      ctx.db.sync({ serverVersion: sv, recordVersion: first!.version - 1n, type: SESSION_TYPE, wait: true }, { signal }),
    );
    try {
      const [opts, rec] = await reader.take(2);
      expect(opts!.response.case).toBe("options");
      if (opts!.response.case === "options") {
        expect(opts!.response.value.typeURL).toBe(SESSION_TYPE);
        expect(opts!.response.value.options?.indexableFields).toEqual(["user_id"]);
      }
      expect(rec!.response.case === "record" && rec!.response.value.id).toBe("s1");

      await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { indexableFields: ["id"] }) });
      await put(ctx.db, sessionRecord("s2"));
      const next = await reader.next();
      expect(next.response.case === "record" && next.response.value.id).toBe("s2");
    } finally {
      reader.cancel();
    }
  });

  it("with no type, sends options only for types that have live records", async () => {
    await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { indexableFields: ["user_id"] }) });
    await ctx.db.setOptions({ type: USER_TYPE, options: create(OptionsSchema, { indexableFields: ["email"] }) });
    const [first] = await put(ctx.db, sessionRecord("s1"));
    const sv = (await ctx.db.serverInfo({})).serverVersion;
    const msgs = await syncBacklog(ctx.db, { serverVersion: sv, recordVersion: first!.version - 1n });
    expect(msgs.map((m) => m.response.case)).toEqual(["options", "record"]);
    expect(msgs[0]!.response.case === "options" && msgs[0]!.response.value.typeURL).toBe(SESSION_TYPE);
  });

  it("lets several streams wait at once and delivers the same change to each", async () => {
    const info = await ctx.db.serverInfo({});
    const open = () =>
      new StreamReader<SyncResponse>((signal) =>
        ctx.db.sync({ serverVersion: info.serverVersion, recordVersion: info.latestRecordVersion }, { signal }),
      );
    const readers = [open(), open(), open()];
    try {
      await Promise.all(readers.map((r) => r.expectSilence(200)));
      await put(ctx.db, sessionRecord("shared"));
      for (const reader of readers) {
        const msg = await reader.next();
        expect(msg.response.case === "record" && msg.response.value.id).toBe("shared");
      }
    } finally {
      for (const reader of readers) reader.cancel();
    }
  });
});
