/**
 * Random event sequences applied to the replica and to a plain-Map reference model: contents,
 * versions, index results and every emitted batch must agree.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import { recordBytes } from "../../src/replica/cached-record.js";
import type { ChangeBatch } from "../../src/replica/change-batch.js";
import type { RawRecord, ReplicaEvent } from "../../src/replica/replica-events.js";
import { Replica } from "../../src/replica/replica.js";
import { sessionRecord, tombstone, userRecord } from "./replica-fixtures.js";

const SV1 = 0xa000_0000_0000_0001n;
const SV2 = 0xb000_0000_0000_0002n;
const TYPES = [SESSION_TYPE, USER_TYPE] as const;
const USERS = ["u1", "u2", ""] as const;

/** What the model keeps per record: enough to recompute bytes and index keys. */
interface ModelRecord {
  readonly version: bigint;
  readonly key: string; // user_id for sessions, email for users
  readonly content: string; // hex of the data bytes
}
interface Scope {
  readonly sv: bigint;
  pos: bigint;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

function makeRecord(type: string, id: string, version: bigint, user: string, salt: number): { raw: RawRecord; key: string } {
  if (type === SESSION_TYPE) return { raw: sessionRecord(id, version, user, { idpId: `idp${salt}` }), key: user };
  const email = user === "" ? "" : `${user}@example.com`;
  return { raw: userRecord(id, version, email, `name${salt}`), key: email };
}

class Model {
  readonly tables = new Map<string, Map<string, ModelRecord>>();
  readonly scopeOf = new Map<string, Scope>();
  all: Scope | undefined;
  ready = false;

  scopeFor(type: string): Scope | undefined {
    return this.scopeOf.get(type) ?? this.all;
  }

  apply(event: ReplicaEvent, keys: Map<RawRecord, string>): { batches: ExpectedBatch[]; throws: boolean } {
    if (event.kind === "snapshot") {
      const covered = new Set<string>();
      if (event.type === "") {
        for (const t of this.tables.keys()) covered.add(t);
        for (const r of event.records) covered.add(r.type);
      } else covered.add(event.type);
      let pos = event.recordVersion;
      for (const t of covered) {
        const s = this.scopeOf.get(t);
        if (s && s.sv === event.serverVersion && s.pos > pos) pos = s.pos;
      }
      const scope: Scope = { sv: event.serverVersion, pos };
      const batches: ExpectedBatch[] = [];
      for (const t of covered) {
        const fresh = new Map<string, ModelRecord>();
        for (const r of event.records) {
          if (r.type !== t || r.deletedAt !== undefined) continue;
          const held = fresh.get(r.id);
          if (held === undefined || r.version > held.version) fresh.set(r.id, { version: r.version, key: keys.get(r) as string, content: hex(r.data) });
        }
        const old = this.tables.get(t);
        if (old !== undefined && this.scopeOf.get(t)?.sv === event.serverVersion) {
          for (const [id, o] of old) {
            const n = fresh.get(id);
            if (n === undefined ? o.version > event.recordVersion : o.version >= n.version) fresh.set(id, o);
          }
        }
        batches.push(diff(old === undefined ? "snapshot" : "resync", t, old ?? new Map(), fresh, scope));
        this.tables.set(t, fresh);
        this.scopeOf.set(t, scope);
      }
      if (event.type === "") this.all = scope;
      this.ready = true;
      return { batches, throws: false };
    }
    if (event.kind === "change") {
      for (const r of event.records) {
        const s = this.scopeFor(r.type);
        if (s !== undefined && s.sv !== event.serverVersion) return { batches: [], throws: true };
      }
      const before = new Map<string, Map<string, ModelRecord>>();
      for (const r of event.records) {
        const s = this.scopeFor(r.type);
        if (s === undefined || r.version <= s.pos) continue;
        s.pos = r.version;
        let table = this.tables.get(r.type);
        if (table !== undefined && !before.has(r.type)) before.set(r.type, new Map(table));
        const held = table?.get(r.id);
        if (held !== undefined && r.version <= held.version) continue;
        if (r.deletedAt !== undefined) {
          table?.delete(r.id);
          continue;
        }
        if (table === undefined) {
          table = new Map();
          before.set(r.type, new Map());
          this.tables.set(r.type, table);
          this.scopeOf.set(r.type, s);
        }
        table.set(r.id, { version: r.version, key: keys.get(r) as string, content: hex(r.data) });
      }
      const batches: ExpectedBatch[] = [];
      for (const [t, old] of before) {
        const b = diff("change", t, old, this.tables.get(t) as Map<string, ModelRecord>, this.scopeOf.get(t) as Scope);
        if (b.upserts.length > 0 || b.deletes.length > 0) batches.push(b);
      }
      return { batches, throws: false };
    }
    return { batches: [], throws: false };
  }
}

interface ExpectedBatch {
  kind: string;
  type: string;
  serverVersion: bigint;
  recordVersion: bigint;
  upserts: string[]; // "id@version"
  deletes: string[]; // "id@version" as last held
}

function diff(kind: string, type: string, old: Map<string, ModelRecord>, now: Map<string, ModelRecord>, scope: Scope): ExpectedBatch {
  const upserts: string[] = [];
  const deletes: string[] = [];
  for (const [id, n] of now) {
    const o = old.get(id);
    if (o === undefined || o.version !== n.version || o.content !== n.content) upserts.push(`${id}@${n.version}`);
  }
  for (const [id, o] of old) if (!now.has(id)) deletes.push(`${id}@${o.version}`);
  return { kind, type, serverVersion: scope.sv, recordVersion: scope.pos, upserts: upserts.sort(), deletes: deletes.sort() };
}

function actualBatch(b: ChangeBatch): ExpectedBatch {
  return {
    kind: b.kind,
    type: b.type,
    serverVersion: b.serverVersion,
    recordVersion: b.recordVersion,
    upserts: b.upserts.map((r) => `${r.id}@${r.version}`).sort(),
    deletes: b.deletes.map((r) => `${r.id}@${r.version}`).sort(),
  };
}

const byType = (a: ExpectedBatch, b: ExpectedBatch): number => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0);

// ---- generators ----

const recordArb = fc.record({
  type: fc.constantFrom(...TYPES),
  id: fc.constantFrom("a", "b", "c", "d"),
  version: fc.bigInt({ min: 1n, max: 14n }),
  user: fc.constantFrom(...USERS),
  salt: fc.integer({ min: 0, max: 1 }),
  tombstone: fc.boolean(),
});
type RecordSpec = typeof recordArb extends fc.Arbitrary<infer T> ? T : never;

const eventArb = fc.oneof(
  fc.record({
    kind: fc.constant("snapshot" as const),
    type: fc.constantFrom("", ...TYPES),
    sv: fc.constantFrom(SV1, SV1, SV2),
    rv: fc.bigInt({ min: 0n, max: 14n }),
    records: fc.array(recordArb.map((r) => ({ ...r, tombstone: false })), { maxLength: 6 }),
  }),
  fc.record({
    kind: fc.constant("change" as const),
    sv: fc.constantFrom(SV1, SV1, SV1, SV2),
    records: fc.array(recordArb, { maxLength: 5 }),
  }),
);

type EventSpec = typeof eventArb extends fc.Arbitrary<infer T> ? T : never;

function build(spec: EventSpec, keys: Map<RawRecord, string>): ReplicaEvent {
  const records = spec.records.map((r: RecordSpec) => {
    if (r.tombstone) return tombstone(r.type, r.id, r.version);
    const made = makeRecord(r.type, r.id, r.version, r.user, r.salt);
    keys.set(made.raw, made.key);
    return made.raw;
  });
  if (spec.kind === "snapshot") {
    return { kind: "snapshot", type: spec.type, serverVersion: spec.sv, recordVersion: spec.rv, records, options: new Map() };
  }
  return { kind: "change", serverVersion: spec.sv, records };
}

function checkSameState(replica: Replica, model: Model): void {
  for (const type of TYPES) {
    const table = model.tables.get(type) ?? new Map<string, ModelRecord>();
    expect(replica.size(type)).toBe(table.size);
    for (const [id, m] of table) {
      const r = replica.get(type, id);
      expect(r?.version).toBe(m.version);
      expect(hex(recordBytes(r!))).toBe(m.content);
    }
    const indexName = type === SESSION_TYPE ? "user_id" : "email";
    for (const u of USERS) {
      const key = type === SESSION_TYPE ? u : u === "" ? "" : `${u}@example.com`;
      const expected = key === "" ? [] : [...table].filter(([, m]) => m.key === key).map(([id]) => id).sort();
      expect([...replica.byIndex(type, indexName, key)].sort()).toEqual(expected);
    }
    // A host index (added before any event) follows every change and resync.
    for (const bucket of ["0", "1", "2"]) {
      const expected = [...table].filter(([, m]) => String((m.content.length / 2) % 3) === bucket).map(([id]) => id).sort();
      expect([...replica.byIndex(type, "size-bucket", bucket)].sort()).toEqual(expected);
    }
    // The local Query without a filter lists the table in id order.
    expect(replica.query(type, { limit: 100 }).records.map((x) => `${x.id}@${x.version}`)).toEqual(
      [...table].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, m]) => `${id}@${m.version}`),
    );
    const scope = model.scopeFor(type);
    const v = replica.versions(type);
    if (scope === undefined) expect(v).toBeUndefined();
    else expect(v).toEqual({ serverVersion: scope.sv, recordVersion: scope.pos });
  }
  expect(replica.isReady()).toBe(model.ready);
}

describe("replica vs reference model", () => {
  it("agrees on contents, indexes, versions and every batch over random event sequences", () => {
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 25 }), (specs) => {
        const replica = new Replica();
        for (const type of TYPES) replica.addIndex(type, "size-bucket", (rec) => String(rec.dataLength % 3));
        const model = new Model();
        const seen: ChangeBatch[] = [];
        replica.subscribe((b) => seen.push(b));
        for (const spec of specs) {
          const keys = new Map<RawRecord, string>();
          const event = build(spec, keys);
          const expected = model.apply(event, keys);
          seen.length = 0;
          if (expected.throws) {
            expect(() => replica.apply(event)).toThrow(/snapshot must come first/);
            expect(seen).toEqual([]);
          } else {
            const returned = replica.apply(event);
            expect(returned.map(actualBatch).sort(byType)).toEqual(expected.batches.sort(byType));
            expect(seen.map(actualBatch).sort(byType)).toEqual(expected.batches.sort(byType));
          }
          checkSameState(replica, model);
        }
      }),
      { numRuns: 300 },
    );
  });
});
