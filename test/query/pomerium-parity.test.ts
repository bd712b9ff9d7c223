/**
 * Parity with Pomerium's storage.GetIndexableFields and storage.MatchAny: the expected lines were
 * produced by Pomerium's own functions (v0.32.9 build; messages without repeated fields, which
 * that release's indexer mishandles and v0.33 fixed) from a throwaway Go program. One deliberate
 * difference: matching a map<string,string> value ("match req") panics in Pomerium (a crash of
 * the whole server); we match it (true).
 */
import { create, fromJson } from "@bufbuild/protobuf";
import { anyPack, StructSchema, timestampFromMs, type Any } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { SessionBindingRequestSchema, SessionBindingRequestState, SessionSchema } from "../../gen/session/session_pb.js";
import { UserSchema } from "../../gen/user/user_pb.js";
import { anyDataMatchesQuery } from "../../src/query/free-text-query.js";
import { indexableFieldValues } from "../../src/query/indexable-fields.js";

const POMERIUM_OUTPUT = [
  "sess id => id=s,user_id=U1",
  "sess idtoken.issuer => id_token.issuer=Iss,id_token.subject=,oauth_token.access_token=",
  "sess idtoken => not indexed",
  "sess impersonate => impersonate_session_id=",
  "sess expires_at.seconds => not indexed",
  "sess user_id.x => user_id.x=",
  "req key+state => not indexed",
  "req0 key+state => key=k,state=",
  "req details => not indexed",
  "struct x only => fields.x.kind=,fields.x.string_value=y,x=",
  "user => email=,name=Ada",
  "match sess \"u1\" => true",
  "match sess \"iss\" => true",
  "match sess \"aud\" => true",
  "match sess \"admins\" => true",
  "match sess \"5\" => false",
  "match sess \"grp\" => false",
  "match sess \"s\" => true",
  "match struct \"needle\" => true",
  "match struct \"y\" => true",
  "match struct \"x\" => false",
  "match struct \"5\" => false",
  "match req \"b\" => true",
  "match req0 \"k\" => true",
  "match user \"dc1\" => true"
];

function runScenario(): string[] {
  const out: string[] = [];
  const show = (label: string, a: Any, fields: string[]) => {
    const m = indexableFieldValues(a, fields);
    out.push(m === undefined ? `${label} => not indexed` : `${label} => ${fields.map((f) => `${f}=${m.get(f) ?? "?"}`).sort().join(",")}`);
  };
  const match = (label: string, a: Any, q: string) => out.push(`match ${label} ${JSON.stringify(q)} => ${anyDataMatchesQuery(a, q)}`);
  const sess = anyPack(SessionSchema, create(SessionSchema, { id: "s", userId: "U1", idToken: { issuer: "Iss" }, expiresAt: timestampFromMs(Date.now()), impersonateSessionId: "" }));
  const claims = fromJson(StructSchema, { grp: ["Admins", 5] }).fields["grp"];
  const sessClaims = anyPack(
    SessionSchema,
    create(SessionSchema, { id: "s", userId: "U1", idToken: { issuer: "Iss" }, audience: ["aud"], claims: { grp: claims?.kind.case === "listValue" ? claims.kind.value : { values: [] } } }),
  );
  const req = anyPack(SessionBindingRequestSchema, create(SessionBindingRequestSchema, { key: "k", state: SessionBindingRequestState.Accepted, details: { a: "b" } }));
  const req0 = anyPack(SessionBindingRequestSchema, create(SessionBindingRequestSchema, { key: "k" }));
  const sta = anyPack(StructSchema, fromJson(StructSchema, { x: "y", n: 5, nested: { deep: ["Needle"] } }));
  const sta2 = anyPack(StructSchema, fromJson(StructSchema, { x: "y" }));
  const usr = anyPack(UserSchema, create(UserSchema, { id: "u", name: "Ada" }));
  const usrDc = anyPack(UserSchema, create(UserSchema, { id: "u", name: "Ada", deviceCredentialIds: ["dc1"] }));
  show("sess id", sess, ["id", "user_id"]);
  show("sess idtoken.issuer", sess, ["id_token.issuer", "id_token.subject", "oauth_token.access_token"]);
  show("sess idtoken", sess, ["id", "id_token"]);
  show("sess impersonate", sess, ["impersonate_session_id"]);
  show("sess expires_at.seconds", sess, ["expires_at.seconds"]);
  show("sess user_id.x", sess, ["user_id.x"]);
  show("req key+state", req, ["key", "state"]);
  show("req0 key+state", req0, ["key", "state"]);
  show("req details", req, ["details.a", "details.b", "details"]);
  show("struct x only", sta2, ["x", "fields.x.string_value", "fields.x.kind"]);
  show("user", usr, ["name", "email"]);
  for (const q of ["u1", "iss", "aud", "admins", "5", "grp", "s"]) match("sess", sessClaims, q);
  for (const q of ["needle", "y", "x", "5"]) match("struct", sta, q);
  match("req", req, "b");
  match("req0", req0, "k");
  match("user", usrDc, "dc1");
  return out;
}

describe("parity with Pomerium's index and free-text functions", () => {
  it("indexes and matches record data exactly as Pomerium does (bar its map-value panic)", () => {
    expect(runScenario()).toEqual(POMERIUM_OUTPUT);
  });
});
