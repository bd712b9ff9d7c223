import { create, fromJson } from "@bufbuild/protobuf";
import { anyPack, StructSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { SessionBindingRequestSchema, SessionBindingRequestState, SessionBindingSchema, SessionSchema } from "../../gen/session/session_pb.js";
import { indexableFieldValues } from "../../src/query/indexable-fields.js";

describe("indexableFieldValues", () => {
  it("reads string fields by protobuf field name", () => {
    const data = anyPack(SessionBindingSchema, create(SessionBindingSchema, { sessionId: "s", userId: "u" }));
    expect(indexableFieldValues(data, ["session_id", "user_id"])).toEqual(new Map([["session_id", "s"], ["user_id", "u"]]));
  });

  it("indexes missing or unset fields as the empty string", () => {
    const data = anyPack(SessionBindingSchema, create(SessionBindingSchema, { sessionId: "s" }));
    expect(indexableFieldValues(data, ["user_id", "nope", "a.b.c"])).toEqual(new Map([["user_id", ""], ["nope", ""], ["a.b.c", ""]]));
  });

  it("walks nested messages and string-keyed maps with dotted paths", () => {
    const session = anyPack(SessionSchema, create(SessionSchema, { idToken: { issuer: "iss" } }));
    expect(indexableFieldValues(session, ["id_token.issuer"])?.get("id_token.issuer")).toBe("iss");
    const binding = anyPack(SessionBindingSchema, create(SessionBindingSchema, { details: { k: "v" } }));
    expect(indexableFieldValues(binding, ["details.k", "details.missing"])).toEqual(new Map([["details.k", "v"], ["details.missing", ""]]));
  });

  it("refuses to index the record at all when any field is not a string", () => {
    const req = anyPack(SessionBindingRequestSchema, create(SessionBindingRequestSchema, { key: "k", state: SessionBindingRequestState.Accepted }));
    expect(indexableFieldValues(req, ["key"])?.get("key")).toBe("k");
    expect(indexableFieldValues(req, ["key", "state"])).toBeUndefined();
    const session = anyPack(SessionSchema, create(SessionSchema, { audience: ["a"], idToken: {} }));
    expect(indexableFieldValues(session, ["audience"])).toBeUndefined();
    expect(indexableFieldValues(session, ["id_token"])).toBeUndefined();
  });

  it("treats Struct data as the Struct message (its map field is `fields`)", () => {
    const data = anyPack(StructSchema, fromJson(StructSchema, { x: "y" }));
    expect(indexableFieldValues(data, ["x"])?.get("x")).toBe("");
    expect(indexableFieldValues(data, ["fields.x.string_value"])?.get("fields.x.string_value")).toBe("y");
  });

  it("cannot index undecodable data", () => {
    expect(indexableFieldValues(undefined, ["a"])).toBeUndefined();
    expect(indexableFieldValues({ $typeName: "google.protobuf.Any", typeUrl: "x/unknown.T", value: new Uint8Array() }, ["a"])).toBeUndefined();
  });
});
