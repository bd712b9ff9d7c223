import { Code, ConnectError } from "@connectrpc/connect";
import { fromBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { StructSchema } from "@bufbuild/protobuf/wkt";
import { SessionBindingSchema } from "../../gen/session/session_pb.js";
import { UserSchema } from "../../gen/user/user_pb.js";
import { SESSION_BINDING_TYPE, SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import { Replica } from "../../src/replica/replica.js";
import { options, raw, sessionRecord, snapshot, SV, userRecord } from "./replica-fixtures.js";

function binding(id: string, version: bigint, sessionId: string, userId: string) {
  return raw(SessionBindingSchema, SESSION_BINDING_TYPE, id, version, { sessionId, userId });
}

function replica(): Replica {
  const r = new Replica();
  r.apply(
    snapshot(
      "",
      [
        sessionRecord("s2", 2n, "u1"),
        sessionRecord("s1", 1n, "u1"),
        sessionRecord("s3", 3n, "u2"),
        userRecord("u1", 4n, "ada@example.com", "Ada Lovelace"),
        userRecord("s1", 5n, "same-id@example.com", "Shares an id"),
        binding("b1", 6n, "s1", "u1"),
        binding("b2", 7n, "s2", "u1"),
        binding("b3", 8n, "s3", "u2"),
      ],
      8n,
      SV,
      new Map([[SESSION_BINDING_TYPE, options(["user_id"])]]),
    ),
  );
  return r;
}

const idsOf = (res: { records: { id: string }[] }): string[] => res.records.map((x) => x.id);

function codeOf(fn: () => unknown): Code | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof ConnectError ? e.code : undefined;
  }
  return undefined;
}

describe("local Query", () => {
  it("without a filter returns every record of the type in id order, with the versions", () => {
    const res = replica().query(SESSION_TYPE, { limit: 100 });
    expect(idsOf(res)).toEqual(["s1", "s2", "s3"]);
    expect(res.totalCount).toBe(3n);
    expect(res.serverVersion).toBe(SV);
    expect(res.recordVersion).toBe(8n);
  });

  it("returns every match when the limit is omitted", () => {
    const r = replica();
    expect(idsOf(r.query(SESSION_TYPE))).toEqual(["s1", "s2", "s3"]);
    expect(idsOf(r.query(SESSION_TYPE, { offset: 1 }))).toEqual(["s2", "s3"]);
    expect(idsOf(r.query(SESSION_TYPE, { filter: { $or: [{ id: "s3" }, { id: "s1" }] } }))).toEqual(["s1", "s3"]);
    expect(r.query(SESSION_TYPE).totalCount).toBe(3n);
  });

  it("returns no records with an explicit limit 0, as the server does, but counts them", () => {
    for (const limit of [0, 0n]) {
      const res = replica().query(SESSION_TYPE, { limit });
      expect(res.records).toEqual([]);
      expect(res.totalCount).toBe(3n);
    }
  });

  it("applies offset and limit after counting", () => {
    const r = replica();
    expect(idsOf(r.query(SESSION_TYPE, { offset: 1, limit: 1 }))).toEqual(["s2"]);
    expect(idsOf(r.query(SESSION_TYPE, { offset: 5n, limit: 10n }))).toEqual([]);
    expect(r.query(SESSION_TYPE, { offset: 5n, limit: 10n }).totalCount).toBe(3n);
  });

  it("returns full records: type, id, version, modified_at and the data as an Any", () => {
    const [rec] = replica().query(USER_TYPE, { filter: { id: "u1" }, limit: 1 }).records;
    expect(rec).toMatchObject({ type: USER_TYPE, id: "u1", version: 4n });
    expect(rec?.modifiedAt?.seconds).toBe(1_700_000_000n);
    expect(rec?.deletedAt).toBeUndefined();
    expect(rec?.data?.typeUrl).toBe(USER_TYPE);
    expect(fromBinary(UserSchema, rec!.data!.value).email).toBe("ada@example.com");
  });

  it("answers Pomerium's lookup filter ($or of id and $index) with the record", () => {
    const res = replica().query(SESSION_TYPE, { filter: { $or: [{ id: "s2" }, { $index: "s2" }] }, limit: 1 });
    expect(idsOf(res)).toEqual(["s2"]);
  });

  it("matches ids across every type when the type is empty, in (type, id) order", () => {
    const res = replica().query("", { filter: { id: "s1" }, limit: 10 });
    expect(res.records.map((x) => [x.type, x.id])).toEqual([
      [SESSION_TYPE, "s1"],
      [USER_TYPE, "s1"],
    ]);
  });

  it("treats a list value as OR and nested $and as intersection", () => {
    const r = replica();
    expect(idsOf(r.query(SESSION_TYPE, { filter: { id: ["s3", "s1", "nope"] }, limit: 10 }))).toEqual(["s1", "s3"]);
    expect(idsOf(r.query(SESSION_BINDING_TYPE, { filter: { $and: [{ user_id: "u1" }, { id: "b2" }] }, limit: 10 }))).toEqual(["b2"]);
  });

  it("filters on a field only when it is in the type's indexable_fields", () => {
    const r = replica();
    expect(idsOf(r.query(SESSION_BINDING_TYPE, { filter: { user_id: "u1" }, limit: 10 }))).toEqual(["b1", "b2"]);
    expect(idsOf(r.query(SESSION_BINDING_TYPE, { filter: { session_id: "s1" }, limit: 10 }))).toEqual([]);
    // Sessions have no indexable_fields: the server's file backend returns nothing here.
    expect(idsOf(r.query(SESSION_TYPE, { filter: { user_id: "u1" }, limit: 10 }))).toEqual([]);
    // And never with an empty type.
    expect(idsOf(r.query("", { filter: { user_id: "u1" }, limit: 10 }))).toEqual([]);
  });

  it("stringifies non-string equality values like the server", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_BINDING_TYPE, [binding("b1", 1n, "5", "true")], 1n, SV, new Map([[SESSION_BINDING_TYPE, options(["session_id", "user_id"])]])));
    expect(idsOf(r.query(SESSION_BINDING_TYPE, { filter: { session_id: 5 }, limit: 1 }))).toEqual(["b1"]);
    expect(idsOf(r.query(SESSION_BINDING_TYPE, { filter: { user_id: true }, limit: 1 }))).toEqual(["b1"]);
  });

  it("matches free text case-insensitively in any string field", () => {
    const r = replica();
    expect(idsOf(r.query(USER_TYPE, { query: "LOVELACE", limit: 10 }))).toEqual(["u1"]);
    expect(idsOf(r.query(SESSION_TYPE, { query: "U2", limit: 10 }))).toEqual(["s3"]);
    expect(r.query(USER_TYPE, { query: "nobody", limit: 10 }).totalCount).toBe(0n);
  });

  it("combines filter and free text", () => {
    expect(idsOf(replica().query(SESSION_BINDING_TYPE, { filter: { user_id: "u1" }, query: "s2", limit: 10 }))).toEqual(["b2"]);
  });

  it("rejects malformed filters with InvalidArgument", () => {
    const r = replica();
    expect(codeOf(() => r.query(SESSION_TYPE, { filter: { $and: 5 } }))).toBe(Code.InvalidArgument);
    expect(() => r.query(SESSION_TYPE, { filter: { $or: "x" } })).toThrow(/invalid query filter: \$or must be an array/);
  });

  it("rejects unsupported operators and $not with Unimplemented", () => {
    const r = replica();
    expect(codeOf(() => r.query(SESSION_TYPE, { filter: { id: { $startsWith: "s" } } }))).toBe(Code.Unimplemented);
    expect(codeOf(() => r.query(SESSION_TYPE, { filter: { $not: { id: "s1" } } }))).toBe(Code.Unimplemented);
  });

  it("rejects negative offset or limit with InvalidArgument (the server would panic)", () => {
    const r = replica();
    expect(codeOf(() => r.query(SESSION_TYPE, { offset: -1 }))).toBe(Code.InvalidArgument);
    expect(codeOf(() => r.query(SESSION_TYPE, { limit: -1n }))).toBe(Code.InvalidArgument);
  });

  it("refuses a request its types do not describe with InvalidArgument naming the field, instead of answering it with no records", () => {
    const r = replica();
    const refused = (request: unknown, message: RegExp) => {
      expect(codeOf(() => r.query(SESSION_TYPE, request as never)), String(message)).toBe(Code.InvalidArgument);
      expect(() => r.query(SESSION_TYPE, request as never)).toThrow(message);
    };
    for (const filter of [null, 42, "s1", [], [{ id: "s1" }]]) refused({ filter }, /invalid query filter: the filter must be a JSON object or a google\.protobuf\.Struct/);
    // Values JSON has no form for: each was answered with no records, as if nothing matched.
    refused({ filter: { user_id: undefined } }, /invalid query filter: filter\.user_id is not a JSON value/);
    refused({ filter: { $or: [{ id: "s1" }, { id: 1n }] } }, /invalid query filter: filter\.\$or\[1\]\.id is not a JSON value/);
    refused({ filter: { id: Symbol("s1") } }, /filter\.id is not a JSON value/);
    refused({ filter: { id: () => "s1" } }, /filter\.id is not a JSON value/);
    refused({ filter: { id: new Date(0) } }, /filter\.id is not a JSON value/);
    refused({ filter: { $typeName: "google.protobuf.Struct" } }, /invalid query filter: the google\.protobuf\.Struct is malformed/);
    for (const query of [42, null, ["s1"], {}]) refused({ query }, /query must be a string/);
    for (const limit of [null, "10", {}, 1.5, Number.NaN]) refused({ limit }, /limit must be an integer \(a number or a bigint\)/);
    refused({ offset: "1" }, /offset must be an integer/);
    refused(42, /the query request must be an object/);
    // null is no request, as undefined is; JSON null inside a filter is a value (it stringifies as the server does).
    expect(idsOf(r.query(SESSION_TYPE, null as never))).toEqual(idsOf(r.query(SESSION_TYPE)));
    expect(idsOf(r.query(SESSION_TYPE, { filter: { $or: [{ id: null }, { id: "s1" }] } }))).toEqual(["s1"]);
  });

  it("accepts the filter as a google.protobuf.Struct message", async () => {
    const { fromJson } = await import("@bufbuild/protobuf");
    const { StructSchema } = await import("@bufbuild/protobuf/wkt");
    const res = replica().query(SESSION_TYPE, { filter: fromJson(StructSchema, { id: "s3" }), limit: 1 });
    expect(idsOf(res)).toEqual(["s3"]);
  });
});

describe("local Query $index", () => {
  function cidrRecord(id: string, version: bigint, cidr: string) {
    return raw(StructSchema, "pomerium.io/Network", id, version, {
      fields: { $index: { kind: { case: "structValue", value: { fields: { cidr: { kind: { case: "stringValue", value: cidr } } } } } } },
    });
  }

  it("finds Struct records under the most specific CIDR containing an IP", () => {
    const r = new Replica();
    r.apply(snapshot("", [cidrRecord("wide", 1n, "10.0.0.0/8"), cidrRecord("narrow", 2n, "10.1.0.0/16"), sessionRecord("s1", 3n, "u")], 3n));
    expect(idsOf(r.query("pomerium.io/Network", { filter: { $index: "10.1.2.3" }, limit: 10 }))).toEqual(["narrow"]);
    expect(idsOf(r.query("pomerium.io/Network", { filter: { $index: "10.2.0.0/16" }, limit: 10 }))).toEqual(["wide"]);
    expect(idsOf(r.query("pomerium.io/Network", { filter: { $index: "192.168.0.1" }, limit: 10 }))).toEqual([]);
    expect(idsOf(r.query("pomerium.io/Network", { filter: { $index: "not-an-ip" }, limit: 10 }))).toEqual([]);
  });
});
