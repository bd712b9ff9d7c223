import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import type { ChangeBatch } from "../../src/replica/change-batch.js";
import { Replica } from "../../src/replica/replica.js";
import { ids, options, sessionRecord, snapshot, SV, userRecord } from "./replica-fixtures.js";

describe("incremental snapshots (beginSnapshot)", () => {
  it("leave reads on the current tables until finish, then swap and emit once", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("old", 1n, "u1")], 1n));
    const seen: ChangeBatch[] = [];
    r.subscribe((b) => seen.push(b));

    const builder = r.beginSnapshot(SESSION_TYPE);
    builder.add([sessionRecord("a", 1n, "u1")]);
    builder.add([sessionRecord("b", 2n, "u2")]);
    expect(r.get(SESSION_TYPE, "a")).toBeUndefined();
    expect(r.get(SESSION_TYPE, "old")?.id).toBe("old");
    expect(seen).toEqual([]);

    const batches = builder.finish({ serverVersion: SV + 1n, recordVersion: 2n });
    expect(r.size(SESSION_TYPE)).toBe(2);
    expect(r.get(SESSION_TYPE, "old")).toBeUndefined();
    expect(seen).toEqual(batches);
    expect(batches).toHaveLength(1);
    expect(batches[0]?.kind).toBe("resync");
    expect(ids(batches[0]?.upserts ?? [])).toEqual(["a", "b"]);
    expect(ids(batches[0]?.deletes ?? [])).toEqual(["old"]);
    expect(r.versions(SESSION_TYPE)).toEqual({ serverVersion: SV + 1n, recordVersion: 2n });
  });

  it("gives the same result as applying the whole snapshot event", () => {
    const records = [sessionRecord("s1", 1n, "u1"), userRecord("u1", 2n, "a@b"), sessionRecord("s2", 3n, "u1")];
    const whole = new Replica();
    const wholeBatches = whole.apply(snapshot("", records, 3n, SV, new Map([[USER_TYPE, options(["email"])]])));
    const pieces = new Replica();
    const b = pieces.beginSnapshot("");
    for (const rec of records) b.add([rec]);
    const pieceBatches = b.finish({ serverVersion: SV, recordVersion: 3n }, new Map([[USER_TYPE, options(["email"])]]));
    const summary = (bs: readonly ChangeBatch[]) => bs.map((x) => [x.kind, x.type, ids(x.upserts), x.recordVersion]).sort();
    expect(summary(pieceBatches)).toEqual(summary(wholeBatches));
    expect([...pieces.byIndex(SESSION_TYPE, "user_id", "u1")].sort()).toEqual(["s1", "s2"]);
    expect(pieces.options(USER_TYPE)?.indexableFields).toEqual(["email"]);
  });

  it("include indexes the host adds while the snapshot streams in", () => {
    const r = new Replica();
    const b = r.beginSnapshot(SESSION_TYPE);
    b.add([sessionRecord("s1", 1n, "u1")]);
    r.addIndex(SESSION_TYPE, "by-id", (rec) => rec.id);
    b.finish({ serverVersion: SV, recordVersion: 1n });
    expect([...r.byIndex(SESSION_TYPE, "by-id", "s1")]).toEqual(["s1"]);
  });

  it("are superseded by a newer snapshot: the old builder fails with Aborted and changes nothing", () => {
    const r = new Replica();
    const first = r.beginSnapshot(SESSION_TYPE);
    first.add([sessionRecord("s1", 1n, "u1")]);
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("s2", 1n, "u1")], 1n));
    let error: unknown;
    try {
      first.finish({ serverVersion: SV, recordVersion: 1n });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Aborted);
    expect(() => first.add([])).toThrow(/superseded/);
    expect(r.get(SESSION_TYPE, "s1")).toBeUndefined();
    expect(r.get(SESSION_TYPE, "s2")?.id).toBe("s2");
  });

  it("can finish only once", () => {
    const r = new Replica();
    const b = r.beginSnapshot(SESSION_TYPE);
    b.finish({ serverVersion: SV, recordVersion: 0n });
    expect(() => b.finish({ serverVersion: SV, recordVersion: 0n })).toThrow(/already finished/);
    expect(() => b.add([sessionRecord("late", 1n, "u")])).toThrow(/already finished/);
    expect(r.get(SESSION_TYPE, "late")).toBeUndefined();
  });
});
