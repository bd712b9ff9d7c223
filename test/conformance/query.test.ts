/**
 * Contract: Query filters live records with the filter language, narrows them with the free-text
 * query, then pages with offset and limit (spec section 6).
 */
import { create, fromJson, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, StructSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { expect, it } from "vitest";

import { OptionsSchema, RecordSchema, type QueryRequestSchema } from "../../gen/databroker/databroker_pb.js";
import { expectCallError } from "./expect-error.js";
import { describeTargets, loadTargets, type TargetContext } from "./harness.js";
import { put, SESSION_TYPE, sessionRecord, USER_TYPE, userRecord } from "./records.js";

const targets = await loadTargets();
const CIDR_TYPE = "type.googleapis.com/google.protobuf.Struct";

async function ids(ctx: TargetContext, req: MessageInitShape<typeof QueryRequestSchema>): Promise<string[]> {
  const res = await ctx.db.query({ limit: 1_000n, ...req });
  return res.records.map((r) => r.id);
}

async function typedIds(ctx: TargetContext, req: MessageInitShape<typeof QueryRequestSchema>): Promise<string[][]> {
  const res = await ctx.db.query({ limit: 1_000n, ...req });
  return res.records.map((r) => [r.type, r.id]);
}

/** A record whose data is a Struct carrying `$index.cidr`, the shape the CIDR index reads. */
function cidrRecord(id: string, cidr: string) {
  const data = fromJson(StructSchema, { $index: { cidr } });
  return create(RecordSchema, { type: CIDR_TYPE, id, data: anyPack(StructSchema, data) });
}

async function indexUserIds(ctx: TargetContext): Promise<void> {
  await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { indexableFields: ["user_id"] }) });
}

describeTargets(targets, "Query", (ctx) => {
  it("returns every live record of the type sorted by id, with total_count and the current versions", async () => {
    await put(ctx.db, sessionRecord("c"), sessionRecord("a"), userRecord("x"), sessionRecord("b"));
    const res = await ctx.db.query({ type: SESSION_TYPE, limit: 100n });
    expect(res.records.map((r) => r.id)).toEqual(["a", "b", "c"]);
    expect(res.totalCount).toBe(3n);
    const info = await ctx.db.serverInfo({});
    expect(res.serverVersion).toBe(info.serverVersion);
    expect(res.recordVersion).toBe(info.latestRecordVersion);
  });

  it("with no type, returns records of every type sorted by (type, id)", async () => {
    await put(ctx.db, userRecord("b"), sessionRecord("z"), userRecord("a"));
    expect(await typedIds(ctx, {})).toEqual([
      [SESSION_TYPE, "z"],
      [USER_TYPE, "a"],
      [USER_TYPE, "b"],
    ]);
  });

  it("filters by exact id, and with no type finds that id under every type", async () => {
    await put(ctx.db, sessionRecord("a"), sessionRecord("ab"), userRecord("a"));
    expect(await ids(ctx, { type: SESSION_TYPE, filter: { id: "a" } })).toEqual(["a"]);
    expect(await typedIds(ctx, { filter: { id: "a" } })).toEqual([
      [SESSION_TYPE, "a"],
      [USER_TYPE, "a"],
    ]);
    expect(await ids(ctx, { type: SESSION_TYPE, filter: { id: "A" } })).toEqual([]);
  });

  it("combines terms with $or and $and arrays, and treats a list value as OR", async () => {
    await put(ctx.db, sessionRecord("a"), sessionRecord("b"), sessionRecord("c"));
    expect(await ids(ctx, { type: SESSION_TYPE, filter: { $or: [{ id: "c" }, { id: "a" }] } })).toEqual(["a", "c"]);
    expect(await ids(ctx, { type: SESSION_TYPE, filter: { $and: [{ id: "a" }, { id: "a" }] } })).toEqual(["a"]);
    expect(await ids(ctx, { type: SESSION_TYPE, filter: { $and: [{ id: "a" }, { id: "b" }] } })).toEqual([]);
    expect(await ids(ctx, { type: SESSION_TYPE, filter: { id: ["b", "c", "nope"] } })).toEqual(["b", "c"]);
    expect(await ids(ctx, { type: SESSION_TYPE, filter: { $and: [{ $or: [{ id: "a" }, { id: "b" }] }, { id: ["b", "c"] }] } })).toEqual(["b"]);
  });

  it("treats the equality operators ($eq, =, ==, $equals, $is) as plain equality", async () => {
    await put(ctx.db, sessionRecord("a"), sessionRecord("b"));
    for (const op of ["$eq", "=", "==", "$equals", "$is"]) {
      expect(await ids(ctx, { type: SESSION_TYPE, filter: { id: { [op]: "b" } } })).toEqual(["b"]);
    }
  });

  it('refuses a non-array $and or $or with INVALID_ARGUMENT "invalid query filter: …"', async () => {
    await put(ctx.db, sessionRecord("a"));
    await expectCallError(
      ctx.db.query({ type: SESSION_TYPE, limit: 10n, filter: { $and: { id: "a" } } }),
      Code.InvalidArgument,
      "invalid query filter: $and must be an array",
    );
    await expectCallError(
      ctx.db.query({ type: SESSION_TYPE, limit: 10n, filter: { $or: "a" } }),
      Code.InvalidArgument,
      "invalid query filter: $or must be an array",
    );
  });

  it('refuses every non-equality operator with UNIMPLEMENTED "operator not supported"', async () => {
    await put(ctx.db, sessionRecord("a"));
    for (const op of ["$startsWith", "$contains", "$endsWith", "!=", ">", "<=", "$isAnyOf", "$isEmpty", "$after"]) {
      await expectCallError(
        ctx.db.query({ type: SESSION_TYPE, limit: 10n, filter: { id: { [op]: "a" } } }),
        Code.Unimplemented,
        { contains: "operator not supported" },
      );
    }
  });

  it("refuses $not on memory/file (UNIMPLEMENTED) and applies it on postgres", async () => {
    await put(ctx.db, sessionRecord("a"), sessionRecord("b"));
    const call = ctx.db.query({ type: SESSION_TYPE, limit: 10n, filter: { $not: { id: "a" } } });
    if (ctx.target.flavour === "postgres") {
      expect((await call).records.map((r) => r.id)).toEqual(["b"]);
    } else {
      await expectCallError(call, Code.Unimplemented, { contains: "logical operator not supported" });
    }
  });

  it("matches a non-indexed field on postgres only; memory/file need it in indexable_fields", async () => {
    await put(ctx.db, sessionRecord("s1", { userId: "u1" }), sessionRecord("s2", { userId: "u2" }));
    const found = await ids(ctx, { type: SESSION_TYPE, filter: { user_id: "u1" } });
    expect(found).toEqual(ctx.target.flavour === "postgres" ? ["s1"] : []);
  });

  it("matches an indexed field after SetOptions, for records written before and after", async () => {
    await put(ctx.db, sessionRecord("s1", { userId: "u1" }), sessionRecord("s2", { userId: "u2" }));
    await indexUserIds(ctx);
    await put(ctx.db, sessionRecord("s3", { userId: "u1" }));
    expect(await ids(ctx, { type: SESSION_TYPE, filter: { user_id: "u1" } })).toEqual(["s1", "s3"]);
    // A rewrite moves the record to its new value.
    await put(ctx.db, sessionRecord("s1", { userId: "u2" }));
    expect(await ids(ctx, { type: SESSION_TYPE, filter: { user_id: "u1" } })).toEqual(["s3"]);
    expect(await ids(ctx, { type: SESSION_TYPE, filter: { user_id: "u2" } })).toEqual(["s1", "s2"]);
  });

  it("needs a query type for indexed-field filters on memory/file; postgres matches across types", async () => {
    await indexUserIds(ctx);
    await put(ctx.db, sessionRecord("s1", { userId: "u1" }));
    const found = await typedIds(ctx, { filter: { user_id: "u1" } });
    expect(found).toEqual(ctx.target.flavour === "postgres" ? [[SESSION_TYPE, "s1"]] : []);
  });

  it("stops matching a field once it is removed from indexable_fields (memory/file)", async () => {
    await indexUserIds(ctx);
    await put(ctx.db, sessionRecord("s1", { userId: "u1" }));
    await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { indexableFields: ["idp_id"] }) });
    const found = await ids(ctx, { type: SESSION_TYPE, filter: { user_id: "u1" } });
    expect(found).toEqual(ctx.target.flavour === "postgres" ? ["s1"] : []);
  });

  it("walks nested paths (id_token.issuer) like a dotted field name", async () => {
    await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { indexableFields: ["id_token.issuer"] }) });
    await put(
      ctx.db,
      sessionRecord("s1", { idToken: { issuer: "https://a" } }),
      sessionRecord("s2", { idToken: { issuer: "https://b" } }),
    );
    expect(await ids(ctx, { type: SESSION_TYPE, filter: { id_token: { issuer: "https://b" } } })).toEqual(["s2"]);
    expect(await ids(ctx, { type: SESSION_TYPE, filter: { "id_token.issuer": "https://a" } })).toEqual(["s1"]);
  });

  it("compares numbers and booleans as their Go string form", async () => {
    await indexUserIds(ctx);
    await put(
      ctx.db,
      sessionRecord("n", { userId: "5" }),
      sessionRecord("f", { userId: "1.5" }),
      sessionRecord("b", { userId: "true" }),
    );
    expect(await ids(ctx, { type: SESSION_TYPE, filter: { user_id: 5 } })).toEqual(["n"]);
    expect(await ids(ctx, { type: SESSION_TYPE, filter: { user_id: 1.5 } })).toEqual(["f"]);
    expect(await ids(ctx, { type: SESSION_TYPE, filter: { user_id: true } })).toEqual(["b"]);
  });

  it('indexes a missing field under "" on memory/file', async () => {
    await indexUserIds(ctx);
    await put(ctx.db, sessionRecord("none"), sessionRecord("some", { userId: "u1" }));
    const found = await ids(ctx, { type: SESSION_TYPE, filter: { user_id: "" } });
    // postgres: protojson omits the empty field, so the path has no text value at all.
    expect(found).toEqual(ctx.target.flavour === "postgres" ? [] : ["none"]);
  });

  it("finds records by $index CIDR: memory/file return the most specific prefix, postgres every containing one", async () => {
    await put(ctx.db, cidrRecord("wide", "10.0.0.0/8"), cidrRecord("narrow", "10.1.0.0/16"), cidrRecord("other", "192.168.0.0/16"));
    const found = await ids(ctx, { type: CIDR_TYPE, filter: { $index: "10.1.2.3" } });
    if (ctx.target.flavour === "postgres") expect([...found].sort()).toEqual(["narrow", "wide"]);
    else expect(found).toEqual(["narrow"]);
    expect(await ids(ctx, { type: CIDR_TYPE, filter: { $index: "10.200.0.1" } })).toEqual(["wide"]);
    expect(await ids(ctx, { type: CIDR_TYPE, filter: { $index: "172.16.0.1" } })).toEqual([]);
    expect(await ids(ctx, { type: CIDR_TYPE, filter: { $index: "not an address" } })).toEqual([]);
  });

  it("matches the free-text query case-insensitively against string fields, nested, repeated and map values", async () => {
    await put(
      ctx.db,
      userRecord("u1", { name: "Alice Smith", email: "ALICE@example.com" }),
      userRecord("u2", { name: "Bob", claims: { department: { values: [{ kind: { case: "stringValue", value: "Engineering" } }] } } }),
      userRecord("u3", { name: "Carol", deviceCredentialIds: ["Phone-XYZ"] }),
      sessionRecord("s1", { idToken: { issuer: "https://Issuer.example" } }),
    );
    expect(await ids(ctx, { type: USER_TYPE, query: "alice" })).toEqual(["u1"]);
    expect(await ids(ctx, { type: USER_TYPE, query: "SMITH" })).toEqual(["u1"]);
    expect(await ids(ctx, { type: USER_TYPE, query: "example.COM" })).toEqual(["u1"]);
    expect(await ids(ctx, { type: USER_TYPE, query: "engineer" })).toEqual(["u2"]);
    expect(await ids(ctx, { type: USER_TYPE, query: "department" })).toEqual([]); // map keys never match
    expect(await ids(ctx, { type: USER_TYPE, query: "phone-xyz" })).toEqual(["u3"]);
    expect(await ids(ctx, { type: SESSION_TYPE, query: "issuer.EXAMPLE" })).toEqual(["s1"]);
    expect(await ids(ctx, { query: "nobody" })).toEqual([]);
  });

  it("applies the free-text query before paging: total_count counts the matches", async () => {
    await put(ctx.db, ...["a1", "a2", "a3", "b1"].map((id) => userRecord(id, { name: id.startsWith("a") ? "match" : "other" })));
    const res = await ctx.db.query({ type: USER_TYPE, query: "MATCH", offset: 1n, limit: 1n });
    expect(res.records.map((r) => r.id)).toEqual(["a2"]);
    expect(res.totalCount).toBe(3n);
  });

  it("pages with offset and limit; total_count is the count before paging", async () => {
    await put(ctx.db, ...["a", "b", "c", "d", "e"].map((id) => sessionRecord(id)));
    const page = async (offset: bigint, limit: bigint) => {
      const res = await ctx.db.query({ type: SESSION_TYPE, offset, limit });
      return { ids: res.records.map((r) => r.id), total: res.totalCount };
    };
    expect(await page(0n, 2n)).toEqual({ ids: ["a", "b"], total: 5n });
    expect(await page(1n, 2n)).toEqual({ ids: ["b", "c"], total: 5n });
    expect(await page(4n, 10n)).toEqual({ ids: ["e"], total: 5n });
    expect(await page(5n, 10n)).toEqual({ ids: [], total: 5n });
    expect(await page(50n, 10n)).toEqual({ ids: [], total: 5n });
  });

  it("returns no records for limit 0 (there is no 'no limit' value), but still counts them", async () => {
    await put(ctx.db, sessionRecord("a"), sessionRecord("b"));
    const res = await ctx.db.query({ type: SESSION_TYPE, offset: 0n, limit: 0n });
    expect(res.records).toEqual([]);
    expect(res.totalCount).toBe(2n);
  });

  it("ignores minimum_record_version_hint", async () => {
    await put(ctx.db, sessionRecord("a"));
    const res = await ctx.db.query({ type: SESSION_TYPE, limit: 10n, minimumRecordVersionHint: 1_000_000n });
    expect(res.records.map((r) => r.id)).toEqual(["a"]);
  });

  it("looks records up the way Pomerium does: {$or: [{id}, {$index}]} with limit 1", async () => {
    await put(ctx.db, sessionRecord("s1"), sessionRecord("s2"));
    const filter: JsonObject = { $or: [{ id: "s2" }, { $index: "s2" }] };
    const res = await ctx.db.query({ type: SESSION_TYPE, filter, limit: 1n });
    expect(res.records.map((r) => r.id)).toEqual(["s2"]);
    expect(res.totalCount).toBe(1n);
  });
});
