/**
 * Contract: SyncLatest streams every live record sorted by (type, id), then the type options,
 * then exactly one versions message, last (spec section 4).
 */
import { create } from "@bufbuild/protobuf";
import { expect, it } from "vitest";

import { OptionsSchema, type SyncLatestResponse } from "../../gen/databroker/databroker_pb.js";
import { describeTargets, loadTargets } from "./harness.js";
import { DEFAULT_OPTION_TYPES, deletion, put, SESSION_TYPE, sessionRecord, syncLatest, USER_TYPE, userRecord } from "./records.js";

const targets = await loadTargets();

/** The case sequence of a SyncLatest stream, e.g. ["record", "record", "options", "versions"]. */
function shape(msgs: readonly SyncLatestResponse[]): string[] {
  return msgs.map((m) => m.response.case ?? "unset");
}

describeTargets(targets, "SyncLatest", (ctx) => {
  it("sends only a versions message for an empty type, with ServerInfo's versions", async () => {
    const msgs = await syncLatest(ctx.db, SESSION_TYPE);
    expect(shape(msgs)).toEqual(["versions"]);
    const info = await ctx.db.serverInfo({});
    const versions = msgs[0]!.response.value as { serverVersion: bigint; latestRecordVersion: bigint };
    expect(versions.serverVersion).toBe(info.serverVersion);
    expect(versions.latestRecordVersion).toBe(info.latestRecordVersion);
    if (ctx.target.flavour !== "postgres") expect(versions.latestRecordVersion).toBe(0n);
  });

  it("sends every live record of every type sorted by (type, id), then versions once, last", async () => {
    await put(ctx.db, userRecord("b"), sessionRecord("z"), userRecord("a"), sessionRecord("m"), sessionRecord("c"));
    const [last] = await put(ctx.db, sessionRecord("a"));
    const msgs = await syncLatest(ctx.db, "");
    expect(shape(msgs)).toEqual(["record", "record", "record", "record", "record", "record", "versions"]);
    const records = msgs.flatMap((m) => (m.response.case === "record" ? [m.response.value] : []));
    expect(records.map((r) => [r.type, r.id])).toEqual([
      [SESSION_TYPE, "a"],
      [SESSION_TYPE, "c"],
      [SESSION_TYPE, "m"],
      [SESSION_TYPE, "z"],
      [USER_TYPE, "a"],
      [USER_TYPE, "b"],
    ]);
    const versions = msgs.at(-1)!.response;
    expect(versions.case).toBe("versions");
    if (versions.case === "versions") {
      expect(versions.value.latestRecordVersion).toBe(last!.version);
      expect(versions.value.serverVersion).toBe((await ctx.db.serverInfo({})).serverVersion);
    }
  });

  it("orders ids by bytes on memory/file (upper case before lower case), by collation on postgres", async () => {
    await put(ctx.db, sessionRecord("b"), sessionRecord("B"), sessionRecord("a"), sessionRecord("A"), sessionRecord("_"));
    const ids = (await syncLatest(ctx.db, SESSION_TYPE)).flatMap((m) => (m.response.case === "record" ? [m.response.value.id] : []));
    if (ctx.target.flavour === "postgres") {
      expect([...ids].sort()).toEqual(["A", "B", "_", "a", "b"]);
    } else {
      expect(ids).toEqual(["A", "B", "_", "a", "b"]);
    }
  });

  it("sends only the requested type when a type is given", async () => {
    await put(ctx.db, userRecord("u1"), sessionRecord("s2"), sessionRecord("s1"), userRecord("u2"));
    const msgs = await syncLatest(ctx.db, USER_TYPE);
    expect(shape(msgs)).toEqual(["record", "record", "versions"]);
    expect(msgs.flatMap((m) => (m.response.case === "record" ? [m.response.value.id] : []))).toEqual(["u1", "u2"]);
  });

  it("never sends tombstones: deleted records are left out and deleted_at is never set", async () => {
    await put(ctx.db, sessionRecord("s1"), sessionRecord("s2"), sessionRecord("s3"));
    await put(ctx.db, deletion(SESSION_TYPE, "s2"));
    const msgs = await syncLatest(ctx.db, "");
    const records = msgs.flatMap((m) => (m.response.case === "record" ? [m.response.value] : []));
    expect(records.map((r) => r.id)).toEqual(["s1", "s3"]);
    expect(records.every((r) => r.deletedAt === undefined)).toBe(true);
  });

  it("sends each record at its latest version only", async () => {
    await put(ctx.db, sessionRecord("s1", { userId: "v1" }));
    const [second] = await put(ctx.db, sessionRecord("s1", { userId: "v2" }));
    const msgs = await syncLatest(ctx.db, SESSION_TYPE);
    expect(shape(msgs)).toEqual(["record", "versions"]);
    expect(msgs[0]!.response.case === "record" && msgs[0]!.response.value.version).toBe(second!.version);
  });

  it("sends the type's options after the records and before versions", async () => {
    await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { indexableFields: ["user_id"] }) });
    await put(ctx.db, sessionRecord("s1"), sessionRecord("s2"));
    const msgs = await syncLatest(ctx.db, SESSION_TYPE);
    expect(shape(msgs)).toEqual(["record", "record", "options", "versions"]);
    const options = msgs[2]!.response;
    expect(options.case).toBe("options");
    if (options.case === "options") {
      expect(options.value.typeURL).toBe(SESSION_TYPE);
      expect(options.value.options?.indexableFields).toEqual(["user_id"]);
    }
  });

  it("sends a requested type's options even when it has no records (the defaults at start)", async () => {
    const msgs = await syncLatest(ctx.db, DEFAULT_OPTION_TYPES.sessionBinding);
    expect(shape(msgs)).toEqual(["options", "versions"]);
    const options = msgs[0]!.response;
    if (options.case !== "options") throw new Error("expected options");
    expect(options.value.typeURL).toBe(DEFAULT_OPTION_TYPES.sessionBinding);
    expect(options.value.options?.indexableFields).toEqual(["session_id", "user_id"]);
  });

  it("with no type, sends options only for types that have live records", async () => {
    await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { indexableFields: ["user_id"] }) });
    await ctx.db.setOptions({ type: "type.googleapis.com/user.ServiceAccount", options: create(OptionsSchema, { capacity: 5n }) });
    await put(ctx.db, sessionRecord("s1"), userRecord("u1"));
    const msgs = await syncLatest(ctx.db, "");
    expect(shape(msgs)).toEqual(["record", "record", "options", "versions"]);
    const typeUrls = msgs.flatMap((m) => (m.response.case === "options" ? [m.response.value.typeURL] : []));
    // Not user.User (no options), not ServiceAccount nor the defaults (no records).
    expect(typeUrls).toEqual([SESSION_TYPE]);
  });

  it("reports a latest_record_version no lower than any record it sends", async () => {
    await put(ctx.db, sessionRecord("s1"), userRecord("u1"));
    const msgs = await syncLatest(ctx.db, "");
    const versions = msgs.at(-1)!.response;
    if (versions.case !== "versions") throw new Error("versions must be last");
    for (const m of msgs) {
      if (m.response.case === "record") expect(m.response.value.version).toBeLessThanOrEqual(versions.value.latestRecordVersion);
    }
  });
});
