/**
 * Contract: ServerInfo reports the server version and the retained change range; ListTypes lists
 * the types that have live records (spec sections 3 and 8).
 */
import { create } from "@bufbuild/protobuf";
import { expect, it } from "vitest";

import { OptionsSchema } from "../../gen/databroker/databroker_pb.js";
import { describeTargets, loadTargets } from "./harness.js";
import { deletion, put, SESSION_TYPE, sessionRecord, USER_TYPE, userRecord } from "./records.js";

const targets = await loadTargets();
const SERVICE_ACCOUNT_TYPE = "type.googleapis.com/user.ServiceAccount";

describeTargets(targets, "ServerInfo", (ctx) => {
  it("starts with no change history: earliest and latest record versions are 0", async () => {
    const info = await ctx.db.serverInfo({});
    expect(info.earliestRecordVersion).toBe(0n);
    expect(info.latestRecordVersion).toBe(0n);
  });

  it("moves latest_record_version to the newest change", async () => {
    await put(ctx.db, sessionRecord("s1"));
    const [last] = await put(ctx.db, userRecord("u1"));
    expect((await ctx.db.serverInfo({})).latestRecordVersion).toBe(last!.version);
    await put(ctx.db, deletion(USER_TYPE, "u1"));
    expect((await ctx.db.serverInfo({})).latestRecordVersion).toBeGreaterThan(last!.version);
  });

  it("keeps earliest_record_version at 0 until compaction on memory/file (the oldest change on postgres)", async () => {
    const [first] = await put(ctx.db, sessionRecord("s1"));
    const [, last] = await put(ctx.db, sessionRecord("s2"), sessionRecord("s3"));
    const info = await ctx.db.serverInfo({});
    expect(info.earliestRecordVersion).toBe(ctx.target.flavour === "postgres" ? first!.version : 0n);
    await ctx.target.compact();
    const compacted = await ctx.db.serverInfo({});
    expect(compacted.earliestRecordVersion).toBe(last!.version);
    expect(compacted.latestRecordVersion).toBe(last!.version);
    expect(compacted.serverVersion).toBe(info.serverVersion);
  });
});

describeTargets(targets, "ListTypes", (ctx) => {
  it("lists nothing on an empty server, even though default options exist", async () => {
    expect((await ctx.db.listTypes({})).types).toEqual([]);
  });

  it("lists the types with live records, sorted, and not types that only have options", async () => {
    await ctx.db.setOptions({ type: SERVICE_ACCOUNT_TYPE, options: create(OptionsSchema, { capacity: 3n }) });
    await put(ctx.db, userRecord("u1"), sessionRecord("s1"), userRecord("u2"));
    expect((await ctx.db.listTypes({})).types).toEqual([SESSION_TYPE, USER_TYPE]);
    await put(ctx.db, deletion(SESSION_TYPE, "s1"));
    expect((await ctx.db.listTypes({})).types).toEqual([USER_TYPE]);
  });
});
