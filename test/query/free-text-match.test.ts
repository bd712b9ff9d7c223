import { create, fromJson } from "@bufbuild/protobuf";
import { anyPack, StructSchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { SessionBindingSchema, SessionSchema } from "../../gen/session/session_pb.js";
import { UserSchema } from "../../gen/user/user_pb.js";
import { anyDataMatchesQuery } from "../../src/query/free-text-query.js";

describe("anyDataMatchesQuery", () => {
  const user = anyPack(UserSchema, create(UserSchema, { id: "u1", name: "Ada Lovelace", email: "ada@example.com" }));

  it("matches a substring of any string field, case-insensitively", () => {
    expect(anyDataMatchesQuery(user, "lovelace")).toBe(true);
    expect(anyDataMatchesQuery(user, "example.com")).toBe(true);
    expect(anyDataMatchesQuery(user, "nobody")).toBe(false);
  });

  it("expects the query already lowercased, as the server lowercases it once", () => {
    expect(anyDataMatchesQuery(user, "ADA")).toBe(false);
  });

  it("recurses into nested messages, repeated fields and map values but not map keys", () => {
    const session = create(SessionSchema, {
      id: "s1",
      idToken: { issuer: "https://Issuer.example" },
      audience: ["aud-one"],
      claims: { groupkey: fromJson(StructSchema, { v: ["Admins"] }).fields["v"]!.kind.value as never },
      expiresAt: timestampFromMs(0),
    });
    const data = anyPack(SessionSchema, session);
    expect(anyDataMatchesQuery(data, "issuer.example")).toBe(true);
    expect(anyDataMatchesQuery(data, "aud-one")).toBe(true);
    expect(anyDataMatchesQuery(data, "admins")).toBe(true);
    expect(anyDataMatchesQuery(data, "groupkey")).toBe(false);
  });

  it("matches string map values (where Pomerium's Go code would panic)", () => {
    const binding = anyPack(SessionBindingSchema, create(SessionBindingSchema, { details: { k: "Value-X" } }));
    expect(anyDataMatchesQuery(binding, "value-x")).toBe(true);
    expect(anyDataMatchesQuery(binding, "k")).toBe(false);
  });

  it("searches Struct data, which the server can decode", () => {
    const data = anyPack(StructSchema, fromJson(StructSchema, { a: { b: ["Needle"] }, n: 5 }));
    expect(anyDataMatchesQuery(data, "needle")).toBe(true);
    expect(anyDataMatchesQuery(data, "5")).toBe(false);
  });

  it("never matches data it cannot decode", () => {
    expect(anyDataMatchesQuery({ $typeName: "google.protobuf.Any", typeUrl: "type.googleapis.com/unknown.Thing", value: new Uint8Array([10, 1, 97]) }, "a")).toBe(false);
    expect(anyDataMatchesQuery({ $typeName: "google.protobuf.Any", typeUrl: "type.googleapis.com/user.User", value: new Uint8Array([0xff, 0xff, 0xff]) }, "a")).toBe(false);
    expect(anyDataMatchesQuery(undefined, "a")).toBe(false);
  });
});
