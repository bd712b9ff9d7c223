/**
 * Contract: Patch overwrites the masked fields of stored records, wholesale, and stores the result
 * like a Put (spec section 8, "Patch").
 */
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { expect, it } from "vitest";

import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { expectCallError } from "./expect-error.js";
import { describeTargets, loadTargets } from "./harness.js";
import { put, SESSION_TYPE, sessionOf, sessionRecord, userRecord } from "./records.js";

const targets = await loadTargets();

const mask = (...paths: string[]) => create(FieldMaskSchema, { paths });

function storedSession() {
  return sessionRecord("s1", {
    userId: "u1",
    idpId: "idp-1",
    audience: ["a", "b"],
    idToken: { issuer: "https://issuer", subject: "sub-1" },
    claims: { groups: { values: [{ kind: { case: "stringValue", value: "admins" } }] } },
  });
}

describeTargets(targets, "Patch", (ctx) => {
  it("replaces masked fields wholesale (lists and maps too) and leaves the others alone", async () => {
    const [before] = await put(ctx.db, storedSession());
    const res = await ctx.db.patch({
      records: [sessionRecord("s1", { userId: "u2", audience: ["c"], claims: {} })],
      fieldMask: mask("user_id", "audience", "claims"),
    });
    expect(res.records).toHaveLength(1);
    expect(res.records[0]!.version).toBeGreaterThan(before!.version);
    expect(res.serverVersion).toBe((await ctx.db.serverInfo({})).serverVersion);

    const got = await ctx.db.get({ type: SESSION_TYPE, id: "s1" });
    expect(got.record?.version).toBe(res.records[0]!.version);
    const session = sessionOf(got.record);
    expect(session.userId).toBe("u2");
    expect(session.audience).toEqual(["c"]);
    expect(session.claims).toEqual({});
    expect(session.idpId).toBe("idp-1");
    expect(session.idToken?.issuer).toBe("https://issuer");
    // The answer carries the merged data too.
    expect(sessionOf(res.records[0]).idpId).toBe("idp-1");
  });

  it("clears a masked field the request leaves unset", async () => {
    await put(ctx.db, storedSession());
    await ctx.db.patch({ records: [sessionRecord("s1")], fieldMask: mask("idp_id", "id_token") });
    const session = sessionOf((await ctx.db.get({ type: SESSION_TYPE, id: "s1" })).record);
    expect(session.idpId).toBe("");
    expect(session.idToken).toBeUndefined();
    expect(session.userId).toBe("u1");
  });

  it("walks dotted paths through singular message fields", async () => {
    await put(ctx.db, storedSession());
    await ctx.db.patch({
      records: [sessionRecord("s1", { idToken: { issuer: "https://other", subject: "ignored" } })],
      fieldMask: mask("id_token.issuer"),
    });
    const session = sessionOf((await ctx.db.get({ type: SESSION_TYPE, id: "s1" })).record);
    expect(session.idToken?.issuer).toBe("https://other");
    expect(session.idToken?.subject).toBe("sub-1");
  });

  it("fails (UNKNOWN) on an unknown field path and changes nothing", async () => {
    const [before] = await put(ctx.db, storedSession());
    await expectCallError(
      ctx.db.patch({ records: [sessionRecord("s1", { userId: "u2" })], fieldMask: mask("user_id", "no_such_field") }),
      Code.Unknown,
      { contains: "no_such_field" },
    );
    const got = await ctx.db.get({ type: SESSION_TYPE, id: "s1" });
    expect(got.record?.version).toBe(before!.version);
    expect(sessionOf(got.record).userId).toBe("u1");
  });

  it("fails (UNKNOWN) when the patch data is another message type than the stored data", async () => {
    const [before] = await put(ctx.db, storedSession());
    const wrong = userRecord("s1", { name: "x" });
    wrong.type = SESSION_TYPE;
    await expectCallError(ctx.db.patch({ records: [wrong], fieldMask: mask("name") }), Code.Unknown);
    expect((await ctx.db.get({ type: SESSION_TYPE, id: "s1" })).record?.version).toBe(before!.version);
  });

  it("skips missing records silently and leaves them out of the answer", async () => {
    await put(ctx.db, storedSession());
    const res = await ctx.db.patch({
      records: [sessionRecord("missing", { userId: "x" }), sessionRecord("s1", { userId: "u9" })],
      fieldMask: mask("user_id"),
    });
    expect(res.records.map((r) => r.id)).toEqual(["s1"]);
    await expectCallError(ctx.db.get({ type: SESSION_TYPE, id: "missing" }), Code.NotFound, "record not found");
  });

  it("with an empty mask leaves the data unchanged but writes a new version (touch)", async () => {
    const [before] = await put(ctx.db, storedSession());
    const res = await ctx.db.patch({ records: [sessionRecord("s1", { userId: "ignored" })], fieldMask: mask() });
    expect(res.records).toHaveLength(1);
    expect(res.records[0]!.version).toBeGreaterThan(before!.version);
    const got = await ctx.db.get({ type: SESSION_TYPE, id: "s1" });
    expect(got.record?.version).toBe(res.records[0]!.version);
    expect(sessionOf(got.record).userId).toBe("u1");
  });

  it("with no mask at all behaves like an empty mask", async () => {
    const [before] = await put(ctx.db, storedSession());
    const res = await ctx.db.patch({ records: [sessionRecord("s1", { userId: "ignored" })] });
    expect(res.records[0]!.version).toBeGreaterThan(before!.version);
    expect(sessionOf((await ctx.db.get({ type: SESSION_TYPE, id: "s1" })).record).userId).toBe("u1");
  });
});
