import { create, fromJson } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, durationFromMs, StructSchema, timestampDate, timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { OptionsSchema, RecordSchema, type Record } from "../../gen/databroker/databroker_pb.js";
import { SessionBindingSchema, SessionSchema } from "../../gen/session/session_pb.js";
import { UserSchema } from "../../gen/user/user_pb.js";
import { knownDataRegistry } from "../../src/query/data-registry.js";
import { parseFilter } from "../../src/query/filter-expression.js";
import { DatabrokerStorage } from "../../src/server/storage/databroker-storage.js";
import { UnsupportedFilterError } from "../../src/query/unsupported-filter-error.js";

const T = "type.googleapis.com/user.User";
const BINDING = "type.googleapis.com/session.SessionBinding";

function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function userRecord(id: string, name = id, extra: { version?: bigint; modifiedAt?: Timestamp; deletedAt?: Timestamp } = {}): Record {
  return create(RecordSchema, { type: T, id, data: anyPack(UserSchema, create(UserSchema, { id, name })), ...extra });
}

function newStorage(clock = fakeClock()) {
  let next = 100n;
  return { clock, storage: new DatabrokerStorage({ now: clock.now, serverVersion: 42n, newServerVersion: () => next++ }) };
}

describe("DatabrokerStorage versions and Put", () => {
  it("starts with a random non-zero server version when none is given", () => {
    const a = new DatabrokerStorage();
    const b = new DatabrokerStorage();
    expect(a.serverVersion).not.toBe(0n);
    expect(a.serverVersion).not.toBe(b.serverVersion);
    expect(a.versions()).toMatchObject({ earliestRecordVersion: 0n, latestRecordVersion: 0n });
  });

  it("assigns one global version per change and the server clock, ignoring client values", () => {
    const { storage, clock } = newStorage();
    const res = storage.put([userRecord("a", "a", { version: 999n, modifiedAt: timestampFromMs(5) }), create(RecordSchema, { type: "other", id: "x" })]);
    expect(res.serverVersion).toBe(42n);
    expect(res.records.map((r) => r.version)).toEqual([1n, 2n]);
    expect(timestampDate(res.records[0]!.modifiedAt!).getTime()).toBe(clock.now());
    expect(storage.get(T, "a")?.version).toBe(1n);
    expect(storage.versions().latestRecordVersion).toBe(2n);
  });

  it("deletes with a tombstone that keeps the last data and gets a new version and server times", () => {
    const { storage, clock } = newStorage();
    storage.put([userRecord("a", "Ada")]);
    clock.advance(1000);
    const req = userRecord("a", "ignored", { deletedAt: timestampFromMs(1) });
    const res = storage.put([req]);
    // file storage echoes a deletion unchanged
    expect(res.records[0]).toEqual(req);
    expect(storage.get(T, "a")).toBeUndefined();
    const [, tombstone] = storage.changesAfter("", 0n);
    expect(tombstone?.version).toBe(2n);
    expect(timestampDate(tombstone!.deletedAt!).getTime()).toBe(clock.now());
    expect(tombstone?.modifiedAt).toEqual(tombstone?.deletedAt);
    expect(anyUnpack(tombstone!.data!, knownDataRegistry)).toMatchObject({ name: "Ada" });
  });

  it("treats deleting an unknown id as a no-op", () => {
    const { storage } = newStorage();
    storage.put([userRecord("nope", "x", { deletedAt: timestampFromMs(1) })]);
    expect(storage.versions().latestRecordVersion).toBe(0n);
    expect(storage.changesAfter("", 0n)).toEqual([]);
  });

  it("lists live records by type then id in byte order, and types with live records", () => {
    const { storage } = newStorage();
    storage.put([userRecord("b"), userRecord("B"), userRecord("\u{1F600}"), userRecord("\uFFFD"), create(RecordSchema, { type: "a-type", id: "z" })]);
    expect(storage.listRecords("").map((r) => `${r.type}/${r.id}`)).toEqual(["a-type/z", `${T}/B`, `${T}/b`, `${T}/\uFFFD`, `${T}/\u{1F600}`]);
    storage.put([create(RecordSchema, { type: "a-type", id: "z", deletedAt: timestampFromMs(0) })]);
    expect(storage.listTypes()).toEqual([T]);
  });

  it("enforces capacity after a Put, evicting the oldest versions as tombstones", () => {
    const { storage } = newStorage();
    storage.setOptions(T, create(OptionsSchema, { capacity: 2n }));
    storage.put([userRecord("a"), userRecord("b")]);
    storage.put([userRecord("c")]);
    expect(storage.listRecords(T).map((r) => r.id)).toEqual(["b", "c"]);
    const last = storage.changesAfter(T, 3n);
    expect(last).toHaveLength(1);
    expect(last[0]).toMatchObject({ id: "a", version: 4n });
    expect(last[0]?.deletedAt).toBeDefined();
  });

  it("evicts by version, not by first insertion: a rewritten old record is the newest", () => {
    const { storage } = newStorage();
    storage.put([userRecord("a"), userRecord("b"), userRecord("c")]);
    storage.put([userRecord("a", "rewritten")]);
    storage.setOptions(T, create(OptionsSchema, { capacity: 2n }));
    storage.put([userRecord("d")]);
    expect(storage.listRecords(T).map((r) => r.id)).toEqual(["a", "d"]);
    // Newest evicted first, as Pomerium walks the type newest first.
    expect(storage.changesAfter(T, 5n).map((r) => [r.id, r.deletedAt !== undefined])).toEqual([
      ["c", true],
      ["b", true],
    ]);
  });

  it("does not evict on SetOptions alone", () => {
    const { storage } = newStorage();
    storage.put([userRecord("a"), userRecord("b")]);
    storage.setOptions(T, create(OptionsSchema, { capacity: 1n }));
    expect(storage.listRecords(T)).toHaveLength(2);
  });
});

describe("DatabrokerStorage change log", () => {
  it("returns changes after a version, per type, including tombstones", () => {
    const { storage } = newStorage();
    storage.put([userRecord("a"), create(RecordSchema, { type: "x", id: "1" }), userRecord("a", "again")]);
    storage.put([userRecord("a", "", { deletedAt: timestampFromMs(0) })]);
    expect(storage.changesAfter("", 1n).map((r) => r.version)).toEqual([2n, 3n, 4n]);
    expect(storage.changesAfter(T, 0n).map((r) => r.version)).toEqual([1n, 3n, 4n]);
    expect(storage.changesAfter(T, 0n, 2).map((r) => r.version)).toEqual([1n, 3n]);
  });

  it("reports how far it scanned, past other types' changes, so a per-type stream never rescans them", () => {
    const { storage } = newStorage();
    storage.put([userRecord("a"), create(RecordSchema, { type: "x", id: "1" }), create(RecordSchema, { type: "x", id: "2" })]);
    // No change of type T after version 1, but the log was examined up to version 3.
    expect(storage.scanChangesAfter(T, 1n)).toEqual({ records: [], scannedThrough: 3n });
    // Stopped by max: scanned through the last record returned, not the end of the log.
    const limited = storage.scanChangesAfter("", 0n, 2);
    expect(limited.records.map((r) => r.version)).toEqual([1n, 2n]);
    expect(limited.scannedThrough).toBe(2n);
    // Nothing after the position: the position itself.
    expect(storage.scanChangesAfter(T, 3n)).toEqual({ records: [], scannedThrough: 3n });
  });

  it("compacts to the newest change and moves earliest_record_version", () => {
    const { storage } = newStorage();
    storage.put([userRecord("a"), userRecord("b"), userRecord("c")]);
    expect(storage.checkSyncStart(42n, 0n)).toBe("ok");
    storage.compactAll();
    expect(storage.versions()).toMatchObject({ earliestRecordVersion: 3n, latestRecordVersion: 3n });
    expect(storage.changesAfter("", 0n).map((r) => r.version)).toEqual([3n]);
    expect(storage.checkSyncStart(42n, 2n)).toBe("ok");
    expect(storage.checkSyncStart(42n, 1n)).toBe("invalid record version");
    expect(storage.checkSyncStart(42n, 100n)).toBe("ok");
    expect(storage.checkSyncStart(0n, 3n)).toBe("invalid server version");
  });

  it("keeps changes younger than the retention when cleaning", () => {
    const { storage, clock } = newStorage();
    storage.put([userRecord("a")]);
    clock.advance(10_000);
    storage.put([userRecord("b"), userRecord("c")]);
    storage.clean(5_000);
    expect(storage.changesAfter("", 0n).map((r) => r.version)).toEqual([2n, 3n]);
    expect(storage.versions().earliestRecordVersion).toBe(2n);
  });

  it("expires records past their type's ttl into tombstones", () => {
    const { storage, clock } = newStorage();
    storage.setOptions(T, create(OptionsSchema, { ttl: durationFromMs(60_000) }));
    storage.put([userRecord("old")]);
    clock.advance(50_000);
    storage.put([userRecord("new")]);
    clock.advance(20_000);
    storage.clean(3_600_000);
    expect(storage.listRecords(T).map((r) => r.id)).toEqual(["new"]);
    expect(storage.changesAfter("", 2n)).toMatchObject([{ id: "old", version: 3n }]);
  });
});

describe("DatabrokerStorage Clear", () => {
  it("sets a new server version, resets counters and wipes everything but leases", () => {
    const { storage } = newStorage();
    let cleared = 0;
    storage.subscribe({ onClear: () => cleared++ });
    storage.put([userRecord("a")]);
    storage.setCheckpoint(1n, 2n);
    expect(storage.lease("l", "me", 60_000)).toBe(true);
    const res = storage.clear();
    expect(res).toEqual({ oldServerVersion: 42n, newServerVersion: 100n });
    expect(storage.versions()).toEqual({ serverVersion: 100n, earliestRecordVersion: 0n, latestRecordVersion: 0n });
    expect(storage.listRecords("")).toEqual([]);
    expect(storage.changesAfter("", 0n)).toEqual([]);
    expect(storage.getOptions(BINDING)).toBeUndefined();
    expect(storage.getCheckpoint()).toEqual({ serverVersion: 0n, recordVersion: 0n });
    expect(storage.lease("l", "someone-else", 60_000)).toBe(false);
    expect(cleared).toBe(1);
    expect(storage.put([userRecord("b")]).records[0]?.version).toBe(1n);
  });
});

describe("DatabrokerStorage options", () => {
  it("installs Pomerium's default options at start", () => {
    const { storage } = newStorage();
    expect(storage.getOptions("type.googleapis.com/session.SessionBindingRequest")?.options).toMatchObject({ capacity: 50000n, indexableFields: ["key"], ttl: { seconds: 900n } });
    expect(storage.getOptions(BINDING)?.options?.indexableFields).toEqual(["session_id", "user_id"]);
  });

  it("deletes a type's options when set to empty options, and keeps 'nil' options when none are sent", () => {
    const { storage } = newStorage();
    storage.setOptions(BINDING, create(OptionsSchema));
    expect(storage.getOptions(BINDING)).toBeUndefined();
    storage.setOptions("t", undefined);
    expect(storage.getOptions("t")).toEqual({ options: undefined });
    storage.setOptions("t", create(OptionsSchema, { capacity: 0n }));
    expect(storage.getOptions("t")?.options?.capacity).toBe(0n);
  });
});

describe("DatabrokerStorage filtered reads", () => {
  const binding = (id: string, fields: { sessionId?: string; userId?: string; details?: { [k: string]: string } }) =>
    create(RecordSchema, { type: BINDING, id, data: anyPack(SessionBindingSchema, create(SessionBindingSchema, fields)) });
  const ids = (storage: DatabrokerStorage, type: string, filter: unknown) => {
    const seq = storage.queryRecords(type, parseFilter(filter as never));
    if (seq.error) throw seq.error;
    return seq.items.map((r) => r.id);
  };

  it("finds records by indexable field only for the listed fields and a matching type", () => {
    const { storage } = newStorage();
    storage.put([binding("b1", { sessionId: "s1", userId: "u" }), binding("b2", { sessionId: "s2", userId: "u" })]);
    expect(ids(storage, BINDING, { user_id: "u" })).toEqual(["b1", "b2"]);
    expect(ids(storage, BINDING, { session_id: "s2" })).toEqual(["b2"]);
    expect(ids(storage, "", { user_id: "u" })).toEqual([]);
    expect(ids(storage, BINDING, { protocol: "" })).toEqual([]);
    expect(ids(storage, BINDING, { user_id: "u", session_id: "s1" })).toEqual(["b1"]);
    expect(ids(storage, BINDING, { $or: [{ session_id: "s1" }, { id: "b2" }] })).toEqual(["b1", "b2"]);
  });

  it("indexes missing fields under the empty string", () => {
    const { storage } = newStorage();
    storage.put([binding("b1", { sessionId: "s1" })]);
    expect(ids(storage, BINDING, { user_id: "" })).toEqual(["b1"]);
    expect(ids(storage, BINDING, { user_id: null })).toEqual(["b1"]);
  });

  it("follows indexable_fields changes: drops removed fields and indexes added ones on existing records", () => {
    const { storage } = newStorage();
    storage.put([binding("b1", { sessionId: "s1", userId: "u", details: { k: "v" } })]);
    storage.setOptions(BINDING, create(OptionsSchema, { indexableFields: ["details.k"] }));
    expect(ids(storage, BINDING, { user_id: "u" })).toEqual([]);
    expect(ids(storage, BINDING, { details: { k: "v" } })).toEqual(["b1"]);
    expect(ids(storage, BINDING, { "details.k": "v" })).toEqual(["b1"]);
  });

  it("updates index entries when a record changes", () => {
    const { storage } = newStorage();
    storage.put([binding("b1", { userId: "old" })]);
    storage.put([binding("b1", { userId: "new" })]);
    expect(ids(storage, BINDING, { user_id: "old" })).toEqual([]);
    expect(ids(storage, BINDING, { user_id: "new" })).toEqual(["b1"]);
  });

  it("finds by id across every type when the type is empty", () => {
    const { storage } = newStorage();
    storage.put([userRecord("same"), create(RecordSchema, { type: "a", id: "same" }), userRecord("other")]);
    expect(storage.queryRecords("", parseFilter({ id: "same" })).items.map((r) => r.type)).toEqual(["a", T]);
    expect(ids(storage, T, { id: "same" })).toEqual(["same"]);
    expect(ids(storage, T, { id: ["same", "other", "none"] })).toEqual(["other", "same"]);
  });

  it("finds Struct records by $index CIDR, most specific prefix only", () => {
    const { storage } = newStorage();
    const cidr = (id: string, c: string) => create(RecordSchema, { type: "net", id, data: anyPack(StructSchema, fromJson(StructSchema, { $index: { cidr: c } })) });
    storage.put([cidr("wide", "10.0.0.0/8"), cidr("narrow", "10.1.0.0/16")]);
    expect(ids(storage, "net", { $index: "10.1.2.3" })).toEqual(["narrow"]);
    expect(ids(storage, "net", { $index: "10.2.2.3" })).toEqual(["wide"]);
    expect(ids(storage, "net", { $index: "not-an-ip" })).toEqual([]);
    storage.put([create(RecordSchema, { type: "net", id: "narrow", deletedAt: timestampFromMs(0) })]);
    expect(ids(storage, "net", { $index: "10.1.2.3" })).toEqual(["wide"]);
  });

  it("ends the sequence with UNIMPLEMENTED for $not and comparison operators", () => {
    const { storage } = newStorage();
    storage.put([userRecord("a")]);
    const not = storage.queryRecords(T, parseFilter({ $not: { id: "a" } }));
    expect(not.error).toBeInstanceOf(UnsupportedFilterError);
    expect(not.error).toMatchObject({ grpcCode: "UNIMPLEMENTED", message: "rpc error: code = Unimplemented desc = logical operator not supported: not" });
    expect(storage.queryRecords(T, parseFilter({ id: { ">": "a" } })).error?.message).toBe("rpc error: code = Unimplemented desc = operator not supported: >");
    expect(storage.queryRecords(T, parseFilter({ id: { $startsWith: "a" } })).error?.message).toMatch(/operator not supported: startsWith$/);
  });

  it("like Pomerium's merge, an AND whose other side is empty never reaches the error", () => {
    const { storage } = newStorage();
    storage.put([userRecord("a")]);
    const seq = storage.queryRecords(T, parseFilter({ id: "none", x: { $not: "y" } }));
    expect(seq).toEqual({ items: [] });
  });
});

describe("DatabrokerStorage Patch", () => {
  const userData = (fields: Partial<{ id: string; name: string; email: string }>) => anyPack(UserSchema, create(UserSchema, fields));

  it("replaces masked fields, clears masked fields the request lacks, and keeps the rest", () => {
    const { storage } = newStorage();
    storage.put([create(RecordSchema, { type: T, id: "u", data: userData({ id: "u", name: "Old", email: "old@x" }) })]);
    const res = storage.patch([create(RecordSchema, { type: T, id: "u", data: userData({ name: "New", email: "ignored" }) })], ["name", "id"]);
    expect(res.records).toHaveLength(1);
    expect(res.records[0]?.version).toBe(2n);
    expect(anyUnpack(storage.get(T, "u")!.data!, knownDataRegistry)).toMatchObject({ id: "", name: "New", email: "old@x" });
  });

  it("touches (new version, same data) with an empty mask", () => {
    const { storage } = newStorage();
    storage.put([create(RecordSchema, { type: T, id: "u", data: userData({ name: "A" }) })]);
    storage.patch([create(RecordSchema, { type: T, id: "u", data: userData({ name: "B" }) })], []);
    expect(storage.get(T, "u")?.version).toBe(2n);
    expect(anyUnpack(storage.get(T, "u")!.data!, knownDataRegistry)).toMatchObject({ name: "A" });
  });

  it("skips missing records", () => {
    const { storage } = newStorage();
    const res = storage.patch([create(RecordSchema, { type: T, id: "missing", data: userData({}) })], ["name"]);
    expect(res.records).toEqual([]);
    expect(storage.versions().latestRecordVersion).toBe(0n);
  });

  it("fails with UNKNOWN on an unknown path, a type mismatch or undecodable data, changing nothing", () => {
    const { storage } = newStorage();
    storage.put([create(RecordSchema, { type: T, id: "u", data: userData({ name: "A" }) }), create(RecordSchema, { type: T, id: "v", data: userData({ name: "A" }) })]);
    const attempt = (data: Record["data"], paths: string[]) => () =>
      storage.patch([create(RecordSchema, { type: T, id: "v", data: userData({ name: "ok" }) }), create(RecordSchema, { type: T, id: "u", data })], paths);
    expect(attempt(userData({}), ["nope"])).toThrow(/cannot overwrite unknown field "nope" in message user.User/);
    expect(attempt(userData({}), ["name.first"])).toThrow(/cannot overwrite sub-fields of field "name" in message user.User/);
    expect(attempt(anyPack(SessionSchema, create(SessionSchema)), ["name"])).toThrow(/descriptor mismatch: user.User, session.Session/);
    expect(attempt({ $typeName: "google.protobuf.Any", typeUrl: "type.googleapis.com/user.User", value: new Uint8Array([0xff]) }, ["name"])).toThrow(/could not unmarshal new record data/);
    try {
      attempt(userData({}), ["nope"])();
    } catch (err) {
      expect(err).toMatchObject({ code: "UNKNOWN" });
    }
    expect(storage.versions().latestRecordVersion).toBe(2n);
    expect(anyUnpack(storage.get(T, "v")!.data!, knownDataRegistry)).toMatchObject({ name: "A" });
  });

  it("applies capacity after patching", () => {
    const { storage } = newStorage();
    storage.put([userRecord("a"), userRecord("b")]);
    storage.setOptions(T, create(OptionsSchema, { capacity: 1n }));
    storage.patch([userRecord("a")], []);
    expect(storage.listRecords(T).map((r) => r.id)).toEqual(["a"]);
  });
});

describe("DatabrokerStorage leases and checkpoint", () => {
  it("grants a free lease, refuses others until it expires, and lets the holder renew", () => {
    const { storage, clock } = newStorage();
    expect(storage.lease("l", "a", 1000)).toBe(true);
    expect(storage.lease("l", "b", 1000)).toBe(false);
    expect(storage.lease("l", "a", 1000)).toBe(true);
    clock.advance(1001);
    expect(storage.lease("l", "b", 1000)).toBe(true);
  });

  it("treats a zero duration as expired at once and release as expiring only the holder's lease", () => {
    const { storage } = newStorage();
    expect(storage.lease("z", "a", 0)).toBe(true);
    expect(storage.lease("z", "b", 1000)).toBe(true);
    storage.releaseLease("z", "a");
    expect(storage.lease("z", "c", 1000)).toBe(false);
    storage.releaseLease("z", "b");
    expect(storage.lease("z", "c", 1000)).toBe(true);
  });

  it("forgets released leases: 2,000 released 10 KB names leave nothing held", () => {
    const { storage } = newStorage();
    const names = Array.from({ length: 2000 }, (_, i) => `${i}:`.padEnd(10_000, "n"));
    for (const name of names) expect(storage.lease(name, "holder", 60_000)).toBe(true);
    expect(storage.leaseFootprint()).toEqual({ leases: 2000, chars: names.reduce((sum, n) => sum + n.length + "holder".length, 0) });
    for (const name of names) storage.releaseLease(name, "holder");
    expect(storage.leaseFootprint()).toEqual({ leases: 0, chars: 0 });
    // Released by a non-holder, an absent or an already expired lease: still nothing kept.
    storage.releaseLease("never-held", "x");
    expect(storage.lease("zero", "a", 0)).toBe(true);
    storage.releaseLease("zero", "b");
    expect(storage.leaseFootprint()).toEqual({ leases: 0, chars: 0 });
  });

  it("keeps a lease released by someone else, and frees expired leases at the next cleanup", () => {
    const { storage, clock } = newStorage();
    expect(storage.lease("held", "a", 1000)).toBe(true);
    storage.releaseLease("held", "b");
    expect(storage.leaseFootprint().leases).toBe(1);
    expect(storage.lease("held", "b", 1000)).toBe(false);
    for (let i = 0; i < 100; i++) expect(storage.lease(`short-${i}`, "a", 500)).toBe(true);
    expect(storage.leaseFootprint().leases).toBe(101);
    clock.advance(600);
    storage.clean(3_600_000);
    // The 500 ms leases are gone; the 1 s one is still held.
    expect(storage.leaseFootprint()).toEqual({ leases: 1, chars: "held".length + "a".length });
    expect(storage.lease("held", "b", 1000)).toBe(false);
    clock.advance(401);
    storage.clean(3_600_000);
    expect(storage.leaseFootprint()).toEqual({ leases: 0, chars: 0 });
    expect(storage.lease("held", "b", 1000)).toBe(true);
  });

  it("stores the checkpoint pair, default (0,0)", () => {
    const { storage } = newStorage();
    expect(storage.getCheckpoint()).toEqual({ serverVersion: 0n, recordVersion: 0n });
    storage.setCheckpoint(2n ** 64n - 1n, 7n);
    expect(storage.getCheckpoint()).toEqual({ serverVersion: 2n ** 64n - 1n, recordVersion: 7n });
  });
});
