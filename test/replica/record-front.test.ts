/**
 * The front of recently read records (record-front.ts) in a type table: a read by id answers
 * exactly what the table holds, through collisions, growth of the front, replacements and deletes.
 */
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { CachedRecord } from "../../src/replica/cached-record.js";
import { RecordFront } from "../../src/replica/record-front.js";
import { TypeTable } from "../../src/replica/type-table.js";
import { Replica } from "../../src/replica/replica.js";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { change, sessionRecord, snapshot } from "./replica-fixtures.js";

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
