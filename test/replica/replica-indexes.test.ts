import { describe, expect, it } from "vitest";
import { SessionBindingSchema } from "../../gen/session/session_pb.js";
import { SESSION_BINDING_TYPE, SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import { Replica } from "../../src/replica/replica.js";
import { change, options, raw, sessionRecord, snapshot, SV, tombstone, userRecord } from "./replica-fixtures.js";

const sorted = (s: ReadonlySet<string>): string[] => [...s].sort();

function binding(id: string, version: bigint, sessionId: string, userId: string) {
  return raw(SessionBindingSchema, SESSION_BINDING_TYPE, id, version, { sessionId, userId });
}

describe("built-in indexes", () => {
  it("find sessions by user_id and users by email", () => {
    const r = new Replica();
    r.apply(snapshot("", [sessionRecord("s1", 1n, "u1"), sessionRecord("s2", 2n, "u1"), sessionRecord("s3", 3n, "u2"), userRecord("u1", 4n, "ada@example.com")], 4n));
    expect(sorted(r.byIndex(SESSION_TYPE, "user_id", "u1"))).toEqual(["s1", "s2"]);
    expect(sorted(r.byIndex(USER_TYPE, "email", "ada@example.com"))).toEqual(["u1"]);
    expect(r.byIndex(USER_TYPE, "email", "nobody@example.com").size).toBe(0);
    expect(r.byIndex("unknown-type", "user_id", "u1").size).toBe(0);
    // An index name the held type does not have reads as empty, as the doc says, not as an error.
    expect(r.byIndex(SESSION_TYPE, "no_such_index", "u1").size).toBe(0);
  });

  it("move a record between keys on update and drop it on delete", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("s1", 1n, "u1"), sessionRecord("s2", 2n, "u1")], 2n));
    r.apply(change([sessionRecord("s1", 3n, "u2")]));
    expect(sorted(r.byIndex(SESSION_TYPE, "user_id", "u1"))).toEqual(["s2"]);
    expect(sorted(r.byIndex(SESSION_TYPE, "user_id", "u2"))).toEqual(["s1"]);
    r.apply(change([tombstone(SESSION_TYPE, "s2", 4n)]));
    expect(r.byIndex(SESSION_TYPE, "user_id", "u1").size).toBe(0);
  });

  it("are rebuilt to match the new table after a resync", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("s1", 1n, "u1"), sessionRecord("s2", 2n, "u1")], 2n));
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("s2", 1n, "u3"), sessionRecord("s9", 2n, "u1")], 2n, SV + 1n));
    expect(sorted(r.byIndex(SESSION_TYPE, "user_id", "u1"))).toEqual(["s9"]);
    expect(sorted(r.byIndex(SESSION_TYPE, "user_id", "u3"))).toEqual(["s2"]);
  });

  it("do not index empty user ids", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("s1", 1n, "")], 1n));
    expect(r.byIndex(SESSION_TYPE, "user_id", "").size).toBe(0);
  });
});

describe("host-defined indexes", () => {
  it("index existing records when added and follow later changes and resyncs", () => {
    const r = new Replica();
    r.apply(snapshot(USER_TYPE, [userRecord("u1", 1n, "a@x.com", "Ada"), userRecord("u2", 2n, "b@y.com", "Bob")], 2n));
    r.addIndex(USER_TYPE, "domain", (rec) => (rec.message as { email?: string } | undefined)?.email?.split("@")[1]);
    expect(sorted(r.byIndex(USER_TYPE, "domain", "x.com"))).toEqual(["u1"]);
    r.apply(change([userRecord("u3", 3n, "c@x.com")]));
    expect(sorted(r.byIndex(USER_TYPE, "domain", "x.com"))).toEqual(["u1", "u3"]);
    r.apply(snapshot(USER_TYPE, [userRecord("u2", 1n, "b@x.com")], 1n, SV + 1n));
    expect(sorted(r.byIndex(USER_TYPE, "domain", "x.com"))).toEqual(["u2"]);
    expect(r.byIndex(USER_TYPE, "domain", "y.com").size).toBe(0);
  });

  it("can give several keys per record", () => {
    const r = new Replica();
    r.addIndex(SESSION_TYPE, "letters", (rec) => [...rec.id]);
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("ab", 1n, "u"), sessionRecord("bc", 2n, "u")], 2n));
    expect(sorted(r.byIndex(SESSION_TYPE, "letters", "b"))).toEqual(["ab", "bc"]);
    r.apply(change([tombstone(SESSION_TYPE, "ab", 3n)]));
    expect(sorted(r.byIndex(SESSION_TYPE, "letters", "b"))).toEqual(["bc"]);
    expect(r.byIndex(SESSION_TYPE, "letters", "a").size).toBe(0);
  });

  it("cannot reuse a name", () => {
    const r = new Replica();
    expect(() => r.addIndex(SESSION_TYPE, "user_id", () => undefined)).toThrow(/already exists/);
  });
});

describe("server indexable_fields", () => {
  it("index the fields the snapshot's options list", () => {
    const r = new Replica();
    r.apply(
      snapshot(SESSION_BINDING_TYPE, [binding("b1", 1n, "s1", "u1"), binding("b2", 2n, "s2", "u1")], 2n, SV, new Map([[SESSION_BINDING_TYPE, options(["session_id", "user_id"])]])),
    );
    expect(sorted(r.byIndex(SESSION_BINDING_TYPE, "user_id", "u1"))).toEqual(["b1", "b2"]);
    expect(sorted(r.byIndex(SESSION_BINDING_TYPE, "session_id", "s2"))).toEqual(["b2"]);
    r.apply(change([binding("b2", 3n, "s2", "u2"), tombstone(SESSION_BINDING_TYPE, "b1", 4n)]));
    expect(sorted(r.byIndex(SESSION_BINDING_TYPE, "user_id", "u2"))).toEqual(["b2"]);
    expect(r.byIndex(SESSION_BINDING_TYPE, "user_id", "u1").size).toBe(0);
    expect(r.byIndex(SESSION_BINDING_TYPE, "session_id", "s1").size).toBe(0);
  });

  it("are rebuilt when an options event changes the fields", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_BINDING_TYPE, [binding("b1", 1n, "s1", "u1")], 1n, SV, new Map([[SESSION_BINDING_TYPE, options(["user_id"])]])));
    r.apply({ kind: "options", type: SESSION_BINDING_TYPE, options: options(["session_id"]) });
    expect(r.byIndex(SESSION_BINDING_TYPE, "user_id", "u1").size).toBe(0);
    expect(sorted(r.byIndex(SESSION_BINDING_TYPE, "session_id", "s1"))).toEqual(["b1"]);
    expect(r.options(SESSION_BINDING_TYPE)?.indexableFields).toEqual(["session_id"]);
  });

  it("are dropped when a resync arrives without options", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_BINDING_TYPE, [binding("b1", 1n, "s1", "u1")], 1n, SV, new Map([[SESSION_BINDING_TYPE, options(["user_id"])]])));
    r.apply(snapshot(SESSION_BINDING_TYPE, [binding("b1", 1n, "s1", "u1")], 1n, SV + 1n));
    expect(r.byIndex(SESSION_BINDING_TYPE, "user_id", "u1").size).toBe(0);
  });
});
