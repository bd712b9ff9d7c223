/**
 * Scenario 8, the replica's part (no network): a record whose data does not parse as its known
 * message type is skipped, counted and reported without its contents; the rest goes on.
 */
import { describe, expect, it } from "vitest";
import { Replica, type MalformedRecord } from "../../src/replica/replica.js";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { SV, change, sessionRecord, snapshot } from "../replica/replica-fixtures.js";

/** Not protobuf at all: field 1 with wire type 7 (there is none), then a would-be secret. */
export const GARBAGE = new Uint8Array([0x0f, ...new TextEncoder().encode("garbage-marker-3f9c")]);

function replicaReporting(): { replica: Replica; reported: MalformedRecord[] } {
  const reported: MalformedRecord[] = [];
  return { replica: new Replica({ onMalformedRecord: (r) => reported.push(r) }), reported };
}

describe("malformed record data in the replica", () => {
  it("skips a malformed record in a snapshot, counts it and reports it without id or bytes", () => {
    const { replica, reported } = replicaReporting();
    const [batch] = replica.apply(snapshot(SESSION_TYPE, [sessionRecord("good", 1n, "u1"), { ...sessionRecord("bad", 2n, "u1"), data: GARBAGE }], 2n));
    expect(replica.get(SESSION_TYPE, "bad")).toBeUndefined();
    expect(replica.getSession("good")?.userId).toBe("u1");
    expect(batch?.upserts.map((r) => r.id)).toEqual(["good"]);
    expect(replica.malformedRecords).toBe(1);
    expect(reported).toEqual([{ type: SESSION_TYPE, typeUrl: SESSION_TYPE, version: 2n, dataLength: GARBAGE.length }]);
    expect(JSON.stringify(reported, (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toContain("bad");
  });

  it("treats a malformed update as the end of the held version and keeps applying the rest", () => {
    const { replica } = replicaReporting();
    replica.apply(snapshot(SESSION_TYPE, [sessionRecord("s1", 1n, "u1")], 1n));
    const [batch] = replica.apply(change([{ ...sessionRecord("s1", 2n, "u1"), data: GARBAGE }, sessionRecord("s2", 3n, "u2")]));
    expect(replica.get(SESSION_TYPE, "s1")).toBeUndefined();
    expect(replica.getSession("s2")?.userId).toBe("u2");
    expect(batch?.deletes.map((r) => r.id)).toEqual(["s1"]);
    expect(replica.versions(SESSION_TYPE)).toEqual({ serverVersion: SV, recordVersion: 3n });
    expect(replica.malformedRecords).toBe(1);
  });

  it("never judges data of a type it does not know", () => {
    const { replica } = replicaReporting();
    const opaque = { ...sessionRecord("x", 1n, "u"), type: "example.com/Opaque", typeUrl: "type.googleapis.com/example.Opaque", data: GARBAGE };
    replica.apply(snapshot("example.com/Opaque", [opaque], 1n));
    expect(replica.get("example.com/Opaque", "x")?.dataLength).toBe(GARBAGE.length);
    expect(replica.malformedRecords).toBe(0);
  });

  it("a throwing report hook does not stop the replica", () => {
    const errors: unknown[] = [];
    const replica = new Replica({ onMalformedRecord: () => { throw new Error("hook"); }, onListenerError: (e) => errors.push(e) });
    replica.apply(snapshot(SESSION_TYPE, [{ ...sessionRecord("bad", 1n, "u1"), data: GARBAGE }, sessionRecord("ok", 2n, "u1")], 2n));
    expect(replica.getSession("ok")).toBeDefined();
    expect(errors).toHaveLength(1);
  });
});
