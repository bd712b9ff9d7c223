/**
 * The bound on decoded messages (decoded-messages.ts): a ring that lets go of the oldest record
 * it took in, and the replica reads through it, answering what the record holds whether its
 * message is kept, let go or decoded again.
 */
import { describe, expect, it } from "vitest";
import { CachedRecord } from "../../src/replica/cached-record.js";
import { DecodedMessages } from "../../src/replica/decoded-messages.js";
import { Replica } from "../../src/replica/replica.js";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { sessionRecord, snapshot } from "./replica-fixtures.js";

/** A record outside any replica, holding its decoded message (as a record the ring takes in does). */
function record(id: string): CachedRecord {
  const raw = sessionRecord(id, 1n, `u-${id}`);
  const r = new CachedRecord(raw.type, raw.id, raw.version, raw.modifiedAt, raw.typeUrl, raw.data);
  expect(r.message).toBeDefined();
  return r;
}

describe("DecodedMessages", () => {
  it("takes in up to its limit, then lets go of the oldest record for each new one, in order", () => {
    const evicted: string[] = [];
    const ring = new DecodedMessages(2, (r) => evicted.push(r.id));
    const [a, b, c, d] = ["a", "b", "c", "d"].map(record) as [CachedRecord, CachedRecord, CachedRecord, CachedRecord];
    expect(ring.limit).toBe(2);
    ring.admit(a);
    ring.admit(b);
    expect(evicted).toEqual([]);
    ring.admit(c);
    expect(evicted).toEqual(["a"]);
    ring.admit(d);
    expect(evicted).toEqual(["a", "b"]);
    // A record let go, read again, comes back into the ring like any other.
    const held = a.message;
    ring.admit(a);
    expect(evicted).toEqual(["a", "b", "c"]);
    expect(a.message, "a reader holding the message gets the same object").toBe(held);
  });

  it("takes a limit far above what it holds without allocating for it", () => {
    const evicted: CachedRecord[] = [];
    const ring = new DecodedMessages(Number.MAX_SAFE_INTEGER, (r) => evicted.push(r));
    expect(ring.limit).toBe(Number.MAX_SAFE_INTEGER);
    ring.admit(record("a"));
    expect(evicted).toEqual([]);
  });

  it("refuses a limit that is not a positive integer", () => {
    for (const limit of [0, -1, 2.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new DecodedMessages(limit, () => {})).toThrow(RangeError);
      expect(() => new Replica({ decodedMessageLimit: limit })).toThrow(RangeError);
    }
  });
});

describe("a replica with a bound of one decoded message", () => {
  it("answers every typed and untyped read exactly, and the same object to a caller that holds it", () => {
    const replica = new Replica({ decodedMessageLimit: 1 });
    const ids = Array.from({ length: 50 }, (_, i) => `s${i}`);
    replica.apply(snapshot(SESSION_TYPE, ids.map((id, i) => sessionRecord(id, BigInt(i + 1), `u-${id}`)), 100n));
    const held = new Map<string, unknown>();
    for (let round = 0; round < 3; round++) {
      for (const id of ids) {
        const typed = replica.getSession(id, { includeInvalid: true });
        const untyped = replica.get(SESSION_TYPE, id)?.message;
        expect(typed?.userId, `getSession(${id})`).toBe(`u-${id}`);
        // Both paths answer one object per record while a caller holds it, whatever was let go meanwhile.
        expect(untyped, `get(${id}).message is getSession's object`).toBe(typed);
        if (round === 0) held.set(id, typed);
        else expect(typed, `getSession(${id}) in round ${round} is the object held since round 0`).toBe(held.get(id));
      }
    }
  });
});
