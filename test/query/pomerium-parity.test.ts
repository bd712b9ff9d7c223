/**
 * Parity with Pomerium's storage.GetIndexableFields and storage.MatchAny: the expected lines in
 * pomerium-parity.golden.txt are what Pomerium's own functions answer (v0.32.9 build; messages
 * without repeated fields, which that release's indexer mishandles and v0.33 fixed), printed by
 * bench/go-syncquerier/query-parity for the same records as runScenario() below. Regenerate it
 * from the repository root with
 *
 *   (cd bench/go-syncquerier && go run ./query-parity) > test/query/pomerium-parity.golden.txt
 *
 * One deliberate difference: matching a map<string,string> value ("match req") panics in
 * Pomerium (a crash of the whole server); we match it (true).
 */
import { readFileSync } from "node:fs";
import { create, fromJson } from "@bufbuild/protobuf";
import { anyPack, StructSchema, timestampFromMs, type Any } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { SessionBindingRequestSchema, SessionBindingRequestState, SessionSchema } from "../../gen/session/session_pb.js";
import { UserSchema } from "../../gen/user/user_pb.js";
import { anyDataMatchesQuery } from "../../src/query/free-text-query.js";
import { indexableFieldValues } from "../../src/query/indexable-fields.js";

/** The golden's lines, without its comment lines. */
const POMERIUM_OUTPUT = readFileSync(new URL("./pomerium-parity.golden.txt", import.meta.url), "utf8")
  .split("\n")
  .filter((line) => line !== "" && !line.startsWith("#"));

/** Where Pomerium panics, our answer instead. */
const DELIBERATE_DIFFERENCES = new Map([['match req "b" => panic', 'match req "b" => true']]);

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
    expect(POMERIUM_OUTPUT).toHaveLength(25);
    expect(POMERIUM_OUTPUT.filter((line) => line.endsWith(" => panic"))).toEqual([...DELIBERATE_DIFFERENCES.keys()]);
    expect(runScenario()).toEqual(POMERIUM_OUTPUT.map((line) => DELIBERATE_DIFFERENCES.get(line) ?? line));
  });
});
