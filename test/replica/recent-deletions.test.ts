import { describe, expect, it } from "vitest";
import { SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import { RecentDeletions } from "../../src/replica/recent-deletions.js";
import { Replica } from "../../src/replica/replica.js";
import { change, sessionRecord, snapshot, SV, tombstone } from "./replica-fixtures.js";

describe("remembered deletions", () => {
  it("keeps the newest deletion per record, and forgets through a floor from the oldest", () => {
    const d = new RecentDeletions();
    d.remember(SESSION_TYPE, "a", 3n);
    d.remember(SESSION_TYPE, "a", 2n); // older: ignored
    d.remember(USER_TYPE, "a", 4n); // another type, same id
    d.remember(SESSION_TYPE, "b", 5n);
    expect(d.deletedAt(SESSION_TYPE, "a")).toBe(3n);
    expect(d.deletedAt(USER_TYPE, "a")).toBe(4n);
    d.forgetThrough(4n);
    expect(d.deletedAt(SESSION_TYPE, "a")).toBeUndefined();
    expect(d.deletedAt(USER_TYPE, "a")).toBeUndefined();
    expect(d.deletedAt(SESSION_TYPE, "b")).toBe(5n);
    expect(d.size).toBe(1);
  });

  it("forgets the oldest down to a size and says how far it went", () => {
    const d = new RecentDeletions();
    for (let v = 1n; v <= 10n; v++) d.remember(SESSION_TYPE, `s${v}`, v);
    expect(d.forgetOldest(4)).toBe(6n);
    expect(d.size).toBe(4);
    expect(d.deletedAt(SESSION_TYPE, "s6")).toBeUndefined();
    expect(d.deletedAt(SESSION_TYPE, "s7")).toBe(7n);
  });
});

describe("the replica's floor", () => {
  function live(): Replica {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("a", 1n, "u")], 2n));
    r.apply(change([sessionRecord("b", 3n, "u"), tombstone(SESSION_TYPE, "b", 4n), sessionRecord("c", 6n, "u")]));
    return r;
  }

  it("applies a replayed change above the floor that it never saw (a late commit), per record", () => {
    const r = live();
    r.apply(change([sessionRecord("late", 5n, "u")]));
    expect(r.get(SESSION_TYPE, "late")?.version).toBe(5n);
    expect(r.versions(SESSION_TYPE)?.recordVersion).toBe(6n); // the position never moves back
  });

  it("ignores a replayed older version of a record it saw deleted", () => {
    const r = live();
    expect(r.apply(change([sessionRecord("b", 3n, "u")]))).toEqual([]);
    expect(r.get(SESSION_TYPE, "b")).toBeUndefined();
  });

  it("takes changes at or below the floor as settled, never above the position, and only for its server version", () => {
    const r = live();
    r.apply({ kind: "floor", type: SESSION_TYPE, serverVersion: SV + 1n, recordVersion: 6n }); // another server: ignored
    r.apply(change([sessionRecord("late-1", 5n, "u")]));
    expect(r.get(SESSION_TYPE, "late-1")).toBeDefined();
    r.apply({ kind: "floor", type: SESSION_TYPE, serverVersion: SV, recordVersion: 100n }); // capped at the position, 6
    r.apply(change([sessionRecord("late-2", 5n, "u")]));
    expect(r.get(SESSION_TYPE, "late-2")).toBeUndefined();
    r.apply(change([sessionRecord("next", 7n, "u")]));
    expect(r.get(SESSION_TYPE, "next")).toBeDefined();
  });
});
