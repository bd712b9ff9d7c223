import { describe, expect, it } from "vitest";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { recordBytes } from "../../src/replica/cached-record.js";
import { Replica, type MalformedRecord } from "../../src/replica/replica.js";
import { change, sessionRecord, snapshot } from "./replica-fixtures.js";

describe("projectData hook", () => {
  it("keeps the projected bytes for snapshot and change records, called once per live record", () => {
    const calls: string[] = [];
    const r = new Replica({
      projectData: (typeUrl, data) => {
        calls.push(typeUrl);
        return data.subarray(0, 2);
      },
    });
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("a", 1n, "u1")], 1n));
    expect(recordBytes(r.get(SESSION_TYPE, "a")!).length).toBe(2);
    r.apply(change([sessionRecord("b", 2n, "u2")]));
    expect(recordBytes(r.get(SESSION_TYPE, "b")!).length).toBe(2);
    expect(calls).toHaveLength(2);
  });

  it("treats a throwing projection as a malformed record: counted, reported, not held, removes the held version", () => {
    const reported: MalformedRecord[] = [];
    let fail = false;
    const r = new Replica({
      projectData: (_t, data) => {
        if (fail) throw new Error("nope");
        return data;
      },
      onMalformedRecord: (m) => reported.push(m),
    });
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("a", 1n, "u1")], 1n));
    fail = true;
    const batches = r.apply(change([sessionRecord("a", 2n, "u1"), sessionRecord("b", 3n, "u1")]));
    expect(r.get(SESSION_TYPE, "a")).toBeUndefined();
    expect(r.get(SESSION_TYPE, "b")).toBeUndefined();
    expect(r.malformedRecords).toBe(2);
    expect(reported.map((m) => m.version)).toEqual([2n, 3n]);
    expect(batches[0]?.deletes.map((d) => d.id)).toEqual(["a"]);
  });
});
