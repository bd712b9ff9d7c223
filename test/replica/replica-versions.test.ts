import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import type { ChangeBatch } from "../../src/replica/change-batch.js";
import { Replica } from "../../src/replica/replica.js";
import { change, ids, sessionRecord, snapshot, SV, tombstone, userRecord } from "./replica-fixtures.js";

function loaded(): Replica {
  const r = new Replica();
  r.apply(snapshot(SESSION_TYPE, [sessionRecord("s1", 5n, "u1"), sessionRecord("s2", 7n, "u2")], 7n));
  return r;
}

describe("replica versions", () => {
  it("keeps server versions above 2^53 exact as bigint", () => {
    const r = loaded();
    expect(r.versions(SESSION_TYPE)).toEqual({ serverVersion: SV, recordVersion: 7n });
    expect(typeof r.versions(SESSION_TYPE)?.serverVersion).toBe("bigint");
  });

  it("applies a newer change and advances the record version", () => {
    const r = loaded();
    const [batch] = r.apply(change([sessionRecord("s1", 8n, "u9")]));
    expect(r.get(SESSION_TYPE, "s1")?.version).toBe(8n);
    expect(r.getSession("s1")?.userId).toBe("u9");
    expect(batch).toMatchObject({ kind: "change", type: SESSION_TYPE, serverVersion: SV, recordVersion: 8n });
    expect(r.versions(SESSION_TYPE)?.recordVersion).toBe(8n);
  });

  it("ignores a record older than the one held", () => {
    const r = new Replica();
    // Snapshot records may be newer than latest_record_version (spec 4): s1@9 with latest 7.
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("s1", 9n, "new")], 7n));
    const batches = r.apply(change([sessionRecord("s1", 8n, "older")]));
    expect(batches).toEqual([]);
    expect(r.getSession("s1")?.userId).toBe("new");
    expect(r.get(SESSION_TYPE, "s1")?.version).toBe(9n);
  });

  it("treats the replay of a held version as a no-op", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("s1", 9n, "new")], 7n));
    expect(r.apply(change([sessionRecord("s1", 9n, "new")]))).toEqual([]);
  });

  it("ignores changes at or below the stream position, even for ids it does not hold", () => {
    const r = loaded();
    r.apply(change([tombstone(SESSION_TYPE, "gone", 10n)]));
    expect(r.apply(change([sessionRecord("gone", 9n, "u")]))).toEqual([]);
    expect(r.get(SESSION_TYPE, "gone")).toBeUndefined();
  });

  it("rejects a change from another server version and applies none of it", () => {
    const r = loaded();
    let error: unknown;
    try {
      r.apply(change([sessionRecord("s1", 99n, "x")], SV + 1n));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.FailedPrecondition);
    expect(r.get(SESSION_TYPE, "s1")?.version).toBe(5n);
  });

  it("ignores changes for types no snapshot covers", () => {
    const r = loaded();
    expect(r.apply(change([userRecord("u1", 20n, "a@b")]))).toEqual([]);
    expect(r.get(USER_TYPE, "u1")).toBeUndefined();
  });
});

describe("tombstones", () => {
  it("delete the held record and report it in the batch", () => {
    const r = loaded();
    const [batch] = r.apply(change([tombstone(SESSION_TYPE, "s1", 8n)]));
    expect(r.get(SESSION_TYPE, "s1")).toBeUndefined();
    expect(r.size(SESSION_TYPE)).toBe(1);
    expect(batch?.upserts).toEqual([]);
    expect(ids(batch?.deletes ?? [])).toEqual(["s1"]);
    expect(batch?.deletes[0]?.version).toBe(5n); // the record as it was held
  });

  it("for unknown ids change nothing and emit nothing", () => {
    const r = loaded();
    const seen: ChangeBatch[] = [];
    r.subscribe((b) => seen.push(b));
    expect(r.apply(change([tombstone(SESSION_TYPE, "never", 8n)]))).toEqual([]);
    expect(seen).toEqual([]);
    expect(r.versions(SESSION_TYPE)?.recordVersion).toBe(8n);
  });

  it("older than the held record are ignored", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("s1", 9n, "u")], 7n));
    r.apply(change([tombstone(SESSION_TYPE, "s1", 8n)]));
    expect(r.get(SESSION_TYPE, "s1")?.version).toBe(9n);
  });

  it("net out within one batch: created then deleted reports nothing, updated twice reports the last", () => {
    const r = loaded();
    const batches = r.apply(
      change([sessionRecord("tmp", 8n, "u"), sessionRecord("s2", 9n, "x"), tombstone(SESSION_TYPE, "tmp", 10n), sessionRecord("s2", 11n, "y")]),
    );
    expect(batches).toHaveLength(1);
    expect(batches[0]?.deletes).toEqual([]);
    expect(batches[0]?.upserts.map((u) => [u.id, u.version])).toEqual([["s2", 11n]]);
  });
});

describe("change batches", () => {
  it("are split per type under an all-types snapshot", () => {
    const r = new Replica();
    r.apply(snapshot("", [sessionRecord("s1", 1n, "u1"), userRecord("u1", 2n, "a@b")], 2n));
    const batches = r.apply(change([sessionRecord("s2", 3n, "u1"), userRecord("u2", 4n, "c@d")]));
    expect(batches.map((b) => [b.type, ids(b.upserts), b.recordVersion])).toEqual([
      [SESSION_TYPE, ["s2"], 4n],
      [USER_TYPE, ["u2"], 4n],
    ]);
  });

  it("are delivered to listeners after the state is updated, and a throwing listener does not break others", () => {
    const errors: unknown[] = [];
    const r = new Replica({ onListenerError: (e) => errors.push(e) });
    r.apply(snapshot(SESSION_TYPE, [], 1n));
    const seen: (number | undefined)[] = [];
    r.subscribe(() => {
      throw new Error("boom");
    });
    const unsubscribe = r.subscribe((b) => seen.push(r.get(b.type, "s1")?.dataLength));
    r.apply(change([sessionRecord("s1", 2n, "u")]));
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeGreaterThan(0);
    expect(errors).toHaveLength(1);
    unsubscribe();
    r.apply(change([sessionRecord("s1", 3n, "v")]));
    expect(seen).toHaveLength(1);
  });
  // A record's version is held as a plain number below 2^30 and as the bigint above (a heap
  // object less per record); reads and the never-backwards rule must not see the difference.
  it("orders and returns record versions exactly on both sides of the small-number limit", () => {
    const limit = 2n ** 30n;
    const r = new Replica();
    // A listing may run ahead of its latest_record_version: b and c were written after it.
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("a", 4n, "a1"), sessionRecord("b", limit, "b1"), sessionRecord("c", 2n ** 53n + 1n, "c1")], 5n));
    expect(r.get(SESSION_TYPE, "a")?.version).toBe(4n);
    expect(r.get(SESSION_TYPE, "b")?.version).toBe(limit);
    expect(r.get(SESSION_TYPE, "c")?.version).toBe(2n ** 53n + 1n);
    // Older by one than the held record, across the limit and above 2^53 (where they are equal
    // as doubles): ignored.
    expect(r.apply(change([sessionRecord("b", limit - 1n, "b0")]))).toEqual([]);
    expect(r.apply(change([sessionRecord("c", 2n ** 53n, "c0")]))).toEqual([]);
    expect(r.getSession("b")?.userId).toBe("b1");
    expect(r.getSession("c")?.userId).toBe("c1");
    // Newer: a crosses the limit, c goes to the top of uint64. Applied, exact.
    const top = 2n ** 64n - 1n;
    r.apply(change([sessionRecord("a", limit + 1n, "a2"), sessionRecord("c", top, "c2")]));
    expect(r.get(SESSION_TYPE, "a")?.version).toBe(limit + 1n);
    expect(r.getSession("a")?.userId).toBe("a2");
    expect(r.get(SESSION_TYPE, "c")?.version).toBe(top);
    expect(r.getSession("c")?.userId).toBe("c2");
    expect(typeof r.get(SESSION_TYPE, "a")?.version).toBe("bigint");
    // The accessor cannot be overwritten on a held record.
    const held = r.get(SESSION_TYPE, "a")!;
    expect(() => {
      (held as { version: bigint }).version = 1n;
    }).toThrow(TypeError);
    expect(held.version).toBe(limit + 1n);
  });
  // Held versions are compared in their held form (cached-record.ts compareVersion), never
  // through doubles: above 2^53 a version and the next one are the same double.
  it("applies a change one version above a held version beyond 2^53", () => {
    const held = 2n ** 53n;
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("a", held, "a1")], 5n));
    const [batch] = r.apply(change([sessionRecord("a", held + 1n, "a2")]));
    expect(batch?.upserts.map((u) => u.version)).toEqual([held + 1n]);
    expect(r.getSession("a")?.userId).toBe("a2");
    expect(r.get(SESSION_TYPE, "a")?.version).toBe(held + 1n);
  });
});
