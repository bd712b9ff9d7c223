/**
 * The front of recently read records (record-front.ts) in a type table: a read by id answers
 * exactly what the table holds, through collisions, growth of the front, replacements and deletes.
 */
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { CachedRecord } from "../../src/replica/cached-record.js";
import { compactKey } from "../../src/replica/front-keys.js";
import { RecordFront } from "../../src/replica/record-front.js";
import { TypeTable } from "../../src/replica/type-table.js";
import { Replica } from "../../src/replica/replica.js";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { change, sessionRecord, snapshot, tombstone } from "./replica-fixtures.js";

const TYPE = "type.googleapis.com/test.Thing";
const record = (id: string, version: bigint) => new CachedRecord(TYPE, id, version, undefined, TYPE, new Uint8Array([Number(version % 256n)]));
/** Ids of the shapes we see: numbered, UUID-like, emails; 300 of them, so a 64-slot front collides and grows. */
const ID_POOL = Array.from({ length: 300 }, (_, i) =>
  i % 3 === 0 ? `session-${i}` : i % 3 === 1 ? `${(i * 2654435761).toString(16).padStart(8, "0")}-4a1b-9c2d-${i}` : `user${i}@example.com`,
);

type Op = { kind: "put" | "delete" | "get"; id: number };
const op = fc.record({ kind: fc.constantFrom<Op["kind"]>("put", "put", "delete", "get", "get"), id: fc.nat(ID_POOL.length - 1) });

describe("a type table's reads by id through its front", () => {
  it("always answer what the table holds, over random puts, deletes and reads (colliding ids, a front that grows)", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 1500 }), (ops) => {
        const table = new TypeTable(TYPE, [], undefined);
        const model = new Map<string, CachedRecord>();
        let version = 0n;
        for (const { kind, id: n } of ops) {
          // A separate string object equal to the stored id, as callers have them.
          const id = [...(ID_POOL[n] as string)].join("");
          if (kind === "put") {
            const r = record(ID_POOL[n] as string, ++version);
            table.put(r);
            model.set(r.id, r);
          } else if (kind === "delete") {
            expect(table.delete(id)).toBe(model.get(id));
            model.delete(id);
          }
          expect(table.get(id), `get(${id}) after ${kind}`).toBe(model.get(id));
        }
        for (const id of ID_POOL) expect(table.get(id), `get(${id}) at the end`).toBe(model.get(id));
        expect(table.size).toBe(model.size);
      }),
      { numRuns: 60 },
    );
  });

  it("grows the front with the table, and a read of a non-string id answers undefined instead of throwing", () => {
    const table = new TypeTable(TYPE, [], undefined);
    for (let i = 0; i < 5000; i++) table.put(record(`session-${i}`, BigInt(i + 1)));
    for (let i = 0; i < 5000; i++) expect(table.get(`session-${i}`)?.version).toBe(BigInt(i + 1));
    expect(table.get(undefined as unknown as string)).toBeUndefined();
    expect(table.get(42 as unknown as string)).toBeUndefined();
  });
});

describe("RecordFront", () => {
  it("holds two ids per bucket: a third takes the first slot, the oldest goes; forget clears only its own id", () => {
    const front = new RecordFront(2); // one bucket of two slots: every id collides
    const [a, b, c] = ["session-1", "session-2", "user3@example.com"].map((id) => record(id, 1n)) as [CachedRecord, CachedRecord, CachedRecord];
    front.fill(a);
    front.fill(b);
    expect(front.get(a.id)).toBe(a);
    expect(front.get(b.id)).toBe(b);
    front.fill(c);
    expect(front.get(a.id), "the oldest id left the bucket").toBeUndefined();
    expect(front.get(b.id)).toBe(b);
    expect(front.get(c.id)).toBe(c);
    front.forget(a.id);
    expect([front.get(b.id), front.get(c.id)], "forgetting an id not held leaves the bucket alone").toEqual([b, c]);
    front.forget(b.id);
    expect(front.get(b.id)).toBeUndefined();
    expect(front.get(c.id)).toBe(c);
    // Filled again while in the second slot: the two swap, nothing is held twice.
    front.fill(b);
    front.fill(c);
    front.forget(c.id);
    expect(front.get(c.id), "forgotten, and not held a second time").toBeUndefined();
    expect(front.get(b.id)).toBe(b);
  });

  it("grows in steps of 4x up to its limit, dropping what it held", () => {
    const front = new RecordFront(1024);
    expect(front.slots).toBe(64);
    const r = record("session-1", 1n);
    front.fill(r);
    front.fit(32);
    expect(front.slots, "a table of half the slots").toBe(64);
    expect(front.get(r.id)).toBe(r);
    front.fit(33);
    expect(front.slots).toBe(256);
    expect(front.get(r.id), "dropped when it grew").toBeUndefined();
    front.fit(100_000);
    front.fit(100_000);
    expect(front.slots).toBe(1024);
  });
});

describe("compactKey", () => {
  it("copies every UTF-16 code unit of any id (lone surrogates, astral characters, empty), and keeps a very long id as it is", () => {
    const codeUnits = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 300 }).map((units) => String.fromCharCode(...units));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 200 }), codeUnits), (id) => {
        const copy = compactKey(id);
        expect(copy).toBe(id);
        expect(copy.length).toBe(id.length);
      }),
      { numRuns: 300 },
    );
    const long = "x".repeat(5000);
    expect(compactKey(long)).toBe(long);
  });

  it("a front keeps at most one key copy per two slots, and a typed answer's key is a copy equal to the id", () => {
    const front = new RecordFront(64);
    const rule = () => Number.POSITIVE_INFINITY;
    const message = { $typeName: "test.Thing" } as never;
    for (let i = 0; i < 1000; i++) {
      const r = record(`session-${i}`, 1n);
      front.fill(r);
      front.fillTyped(r, rule, message);
      expect(front.readTyped([...r.id].join(""), rule, true, undefined), `typed answer for ${r.id}`).toBe(message);
      expect(front.keyCopies).toBeLessThanOrEqual(front.slots / 2);
    }
    expect(front.keyCopies).toBe(32);
  });

  it("typed reads answer exactly after the front has copied their keys, through replacements and deletes", () => {
    const r = new Replica({ decodedMessageLimit: 8 });
    const ids = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? `session-${i}` : `\ud800${i}\udc00-😀-${i}`));
    r.apply(snapshot(SESSION_TYPE, ids.map((id, i) => sessionRecord(id, BigInt(i + 1), `u${i}`)), 100n));
    for (const [i, id] of ids.entries()) expect(r.getSession(id, { includeInvalid: true })?.userId).toBe(`u${i}`);
    r.apply(change([sessionRecord(ids[3] as string, 200n, "changed"), tombstone(SESSION_TYPE, ids[4] as string, 201n)]));
    for (const [i, id] of ids.entries()) {
      const session = r.getSession(id, { includeInvalid: true });
      if (i === 4) expect(session, "deleted").toBeUndefined();
      else expect(session?.userId, id).toBe(i === 3 ? "changed" : `u${i}`);
      // A caller's own copy of the id reads the same.
      expect(r.getSession([...id].join(""), { includeInvalid: true })).toBe(session);
    }
  });
});

describe("the replica's own bookkeeping and the front", () => {
  it("snapshots, resyncs and changes look records up without filling the front: only reads do", () => {
    const r = new Replica();
    const sessions = Array.from({ length: 500 }, (_, i) => sessionRecord(`s${i}`, BigInt(i + 1), `u${i % 50}`));
    const fill = vi.spyOn(RecordFront.prototype, "fill");
    const fillTyped = vi.spyOn(RecordFront.prototype, "fillTyped");
    try {
      r.apply(snapshot(SESSION_TYPE, sessions, 500n));
      // A resync listing half unchanged and half new, then live changes to some of them.
      r.apply(snapshot(SESSION_TYPE, sessions.map((rec, i) => (i % 2 === 0 ? rec : sessionRecord(`s${i}`, BigInt(1000 + i), "other"))), 2000n));
      r.apply(change([sessionRecord("s1", 3000n, "changed"), sessionRecord("s2", 3001n, "changed")]));
      expect(fill).not.toHaveBeenCalled();
      expect(fillTyped).not.toHaveBeenCalled();
      // Reads do fill it.
      expect(r.getSession("s1", { includeInvalid: true })?.userId).toBe("changed");
      expect(r.get(SESSION_TYPE, "s4")?.id).toBe("s4");
      expect(fill.mock.calls.length).toBeGreaterThan(0);
      expect(fillTyped).toHaveBeenCalledTimes(1);
    } finally {
      fill.mockRestore();
      fillTyped.mockRestore();
    }
  });
});
