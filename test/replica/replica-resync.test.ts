import { describe, expect, it } from "vitest";
import { SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import type { ChangeBatch } from "../../src/replica/change-batch.js";
import { Replica } from "../../src/replica/replica.js";
import { change, ids, sessionRecord, snapshot, SV, userRecord } from "./replica-fixtures.js";

const SV2 = SV + 12345n;

function loaded(): Replica {
  const r = new Replica();
  r.apply(
    snapshot(SESSION_TYPE, [sessionRecord("same", 1n, "u1"), sessionRecord("bytes", 2n, "u1"), sessionRecord("ver", 3n, "u1"), sessionRecord("gone", 4n, "u1")], 4n),
  );
  return r;
}

describe("first snapshot", () => {
  it("makes the replica ready and emits one snapshot batch with every record", () => {
    const r = new Replica();
    expect(r.isReady()).toBe(false);
    expect(r.isReady(SESSION_TYPE)).toBe(false);
    const seen: ChangeBatch[] = [];
    r.subscribe((b) => seen.push(b));
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("a", 1n, "u"), sessionRecord("b", 2n, "u")], 2n));
    expect(r.isReady()).toBe(true);
    expect(r.isReady(SESSION_TYPE)).toBe(true);
    expect(r.isReady(USER_TYPE)).toBe(false);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ kind: "snapshot", type: SESSION_TYPE, serverVersion: SV, recordVersion: 2n, deletes: [] });
    expect(ids(seen[0]?.upserts ?? [])).toEqual(["a", "b"]);
  });

  it("emits a snapshot batch even for a type with no records", () => {
    const r = new Replica();
    const batches = r.apply(snapshot(USER_TYPE, [], 0n));
    expect(batches).toEqual([{ kind: "snapshot", type: USER_TYPE, serverVersion: SV, recordVersion: 0n, upserts: [], deletes: [] }]);
    expect(r.isReady(USER_TYPE)).toBe(true);
  });
});

describe("resync", () => {
  it("emits one resync batch with only the real differences (new server version)", () => {
    const r = loaded();
    const batches = r.apply(
      snapshot(
        SESSION_TYPE,
        [sessionRecord("same", 1n, "u1"), sessionRecord("bytes", 2n, "CHANGED"), sessionRecord("ver", 30n, "u1"), sessionRecord("new", 5n, "u1")],
        30n,
        SV2,
      ),
    );
    expect(batches).toHaveLength(1);
    const [b] = batches;
    expect(b).toMatchObject({ kind: "resync", type: SESSION_TYPE, serverVersion: SV2, recordVersion: 30n });
    // "ver" has the content held, under another version: no difference a subscriber could see.
    expect(ids(b?.upserts ?? [])).toEqual(["bytes", "new"]);
    expect(ids(b?.deletes ?? [])).toEqual(["gone"]);
    expect(r.getSession("bytes")?.userId).toBe("CHANGED");
    expect(r.get(SESSION_TYPE, "ver")?.version, "takes the new version silently").toBe(30n);
    expect(r.size(SESSION_TYPE)).toBe(4);
  });

  it("under a new server version, takes the snapshot's records even when their versions are lower", () => {
    const r = loaded();
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("ver", 1n, "reset")], 1n, SV2));
    expect(r.get(SESSION_TYPE, "ver")?.version).toBe(1n);
    expect(r.versions(SESSION_TYPE)).toEqual({ serverVersion: SV2, recordVersion: 1n });
  });

  it("within the same server version never moves a record or the position backwards", () => {
    const r = loaded();
    r.apply(change([sessionRecord("late", 9n, "u1")]));
    // A lagging instance's snapshot at latest 4: it has an older "ver" and does not know "late".
    const [b] = r.apply(snapshot(SESSION_TYPE, [sessionRecord("same", 1n, "u1"), sessionRecord("bytes", 2n, "u1"), sessionRecord("ver", 2n, "old")], 4n));
    expect(r.get(SESSION_TYPE, "ver")?.version).toBe(3n);
    expect(r.get(SESSION_TYPE, "late")?.version).toBe(9n);
    expect(r.get(SESSION_TYPE, "gone")).toBeUndefined(); // version 4 <= latest 4: the snapshot saw it deleted
    expect(r.versions(SESSION_TYPE)?.recordVersion).toBe(9n);
    expect(b?.upserts).toEqual([]);
    expect(ids(b?.deletes ?? [])).toEqual(["gone"]);
  });

  it("emits an empty resync batch when nothing changed", () => {
    const r = loaded();
    const [b] = r.apply(
      snapshot(SESSION_TYPE, [sessionRecord("same", 1n, "u1"), sessionRecord("bytes", 2n, "u1"), sessionRecord("ver", 3n, "u1"), sessionRecord("gone", 4n, "u1")], 4n, SV2),
    );
    expect(b).toMatchObject({ kind: "resync", upserts: [], deletes: [] });
  });

  it("keeps decoded messages of unchanged records (the hot set stays decoded)", () => {
    const r = loaded();
    const before = r.getSession("same");
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("same", 1n, "u1")], 1n, SV2));
    expect(r.getSession("same")).toBe(before);
  });

  it("serves the old table while the new one is built, never an empty one (sticky readiness)", () => {
    const r = loaded();
    const sizesSeenDuringBuild: number[] = [];
    r.addIndex(SESSION_TYPE, "probe", (rec) => {
      sizesSeenDuringBuild.push(r.size(SESSION_TYPE));
      return rec.id;
    });
    sizesSeenDuringBuild.length = 0;
    const sizesSeenByListener: number[] = [];
    r.subscribe((b) => sizesSeenByListener.push(r.size(b.type)));
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("x", 1n, "u"), sessionRecord("y", 2n, "u")], 2n, SV2));
    expect(sizesSeenDuringBuild.length).toBeGreaterThan(0);
    expect(new Set(sizesSeenDuringBuild)).toEqual(new Set([4]));
    expect(sizesSeenByListener).toEqual([2]);
    expect(r.isReady()).toBe(true);
  });

  it("readiness never goes back, even when a resync empties a type", () => {
    const r = loaded();
    r.apply(snapshot(SESSION_TYPE, [], 0n, SV2));
    expect(r.isReady()).toBe(true);
    expect(r.isReady(SESSION_TYPE)).toBe(true);
    expect(r.size(SESSION_TYPE)).toBe(0);
  });

  it("an all-types resync covers every held type, including types that vanished", () => {
    const r = new Replica();
    r.apply(snapshot("", [sessionRecord("s1", 1n, "u1"), userRecord("u1", 2n, "a@b")], 2n));
    const batches = r.apply(snapshot("", [sessionRecord("s1", 1n, "u1")], 1n, SV2));
    expect(batches.map((b) => [b.kind, b.type, ids(b.upserts), ids(b.deletes)])).toEqual([
      ["resync", SESSION_TYPE, [], []],
      ["resync", USER_TYPE, [], ["u1"]],
    ]);
  });

  it("a per-type snapshot leaves other types alone", () => {
    const r = new Replica();
    r.apply(snapshot(USER_TYPE, [userRecord("u1", 1n, "a@b")], 1n));
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("s1", 2n, "u1")], 2n));
    r.apply(snapshot(SESSION_TYPE, [], 3n, SV2));
    expect(r.getUser("u1")?.email).toBe("a@b");
    expect(r.versions(USER_TYPE)?.serverVersion).toBe(SV);
  });

  it("with duplicate ids in a snapshot keeps the highest version", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("d", 5n, "five"), sessionRecord("d", 7n, "seven"), sessionRecord("d", 6n, "six")], 7n));
    expect(r.getSession("d")?.userId).toBe("seven");
  });
});
