import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OptionsSchema, RecordSchema, type Record } from "../../gen/databroker/databroker_pb.js";
import { DatabrokerStorage } from "../../src/server/storage/databroker-storage.js";

type Op =
  | { kind: "put"; type: string; id: string }
  | { kind: "delete"; type: string; id: string }
  | { kind: "capacity"; type: string; capacity: number }
  | { kind: "compact" };

const typeArb = fc.constantFrom("a", "b");
const idArb = fc.constantFrom("1", "2", "3", "4", "5");
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("put" as const), type: typeArb, id: idArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("delete" as const), type: typeArb, id: idArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("capacity" as const), type: typeArb, capacity: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "compact" as const }) },
);

function apply(storage: DatabrokerStorage, op: Op): void {
  switch (op.kind) {
    case "put":
      storage.put([create(RecordSchema, { type: op.type, id: op.id })]);
      break;
    case "delete":
      storage.put([create(RecordSchema, { type: op.type, id: op.id, deletedAt: timestampFromMs(0) })]);
      break;
    case "capacity":
      storage.setOptions(op.type, create(OptionsSchema, { capacity: BigInt(op.capacity) }));
      break;
    case "compact":
      storage.compactAll();
      break;
  }
}

/** What a Sync client ends up with after applying changes in order on top of a snapshot. */
function replay(base: Map<string, Record>, changes: Record[]): Map<string, Record> {
  const out = new Map(base);
  for (const c of changes) {
    const key = `${c.type}/${c.id}`;
    if (c.deletedAt === undefined) out.set(key, c);
    else out.delete(key);
  }
  return out;
}

const live = (storage: DatabrokerStorage) => new Map(storage.listRecords("").map((r) => [`${r.type}/${r.id}`, r] as const));

describe("DatabrokerStorage invariants (random operation sequences)", () => {
  it("a snapshot plus every later change always reproduces the live set, with strictly growing versions", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), fc.array(opArb, { maxLength: 40 }), (before, after) => {
        const storage = new DatabrokerStorage({ installDefaultOptions: false });
        for (const op of before) apply(storage, op);
        const snapshot = live(storage);
        const position = storage.versions().latestRecordVersion;
        for (const op of after) if (op.kind !== "compact") apply(storage, op);
        expect(storage.checkSyncStart(storage.serverVersion, position)).toBe("ok");
        const changes = storage.changesAfter("", position);
        const versions = changes.map((c) => c.version);
        expect(versions).toEqual([...versions].sort((x, y) => (x < y ? -1 : 1)));
        expect(new Set(versions).size).toBe(versions.length);
        if (changes.length > 0) expect(changes.at(-1)?.version).toBe(storage.versions().latestRecordVersion);
        expect([...replay(snapshot, changes).keys()].sort()).toEqual([...live(storage).keys()].sort());
      }),
      { numRuns: 300 },
    );
  });

  it("never holds more live records of a type than its capacity after a write", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const storage = new DatabrokerStorage({ installDefaultOptions: false });
        const capacity = new Map<string, number>();
        for (const op of ops) {
          apply(storage, op);
          if (op.kind === "capacity") capacity.set(op.type, op.capacity);
          if (op.kind === "put") {
            const cap = capacity.get(op.type);
            if (cap !== undefined) expect(storage.listRecords(op.type).length).toBeLessThanOrEqual(cap);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("evicts only records older than every record it keeps", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const storage = new DatabrokerStorage({ installDefaultOptions: false });
        for (const op of ops) {
          const before = new Map(storage.listRecords("").map((r) => [`${r.type}/${r.id}`, r.version]));
          const position = storage.versions().latestRecordVersion;
          apply(storage, op);
          if (op.kind !== "put") continue;
          const kept = storage.listRecords("");
          const keptKeys = new Set(kept.map((r) => `${r.type}/${r.id}`));
          for (const change of storage.changesAfter("", position)) {
            const key = `${change.type}/${change.id}`;
            const oldVersion = before.get(key);
            // A tombstone for a record that was live and that this write did not itself delete: an eviction.
            if (change.deletedAt === undefined || oldVersion === undefined || keptKeys.has(key) || key === `${op.type}/${op.id}`) continue;
            for (const r of kept) if (r.type === change.type) expect(r.version).toBeGreaterThan(oldVersion);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("keeps earliest_record_version at or below latest + 1 and the newest change after compaction", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const storage = new DatabrokerStorage({ installDefaultOptions: false });
        for (const op of ops) apply(storage, op);
        storage.compactAll();
        const v = storage.versions();
        expect(v.earliestRecordVersion).toBeLessThanOrEqual(v.latestRecordVersion + 1n);
        const changes = storage.changesAfter("", 0n);
        expect(changes.length).toBeLessThanOrEqual(1);
        if (v.latestRecordVersion > 0n) expect(changes[0]?.version).toBe(v.latestRecordVersion);
      }),
      { numRuns: 200 },
    );
  });
});
