import { fromBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { SessionSchema } from "../../gen/session/session_pb.js";
import { seededRandom } from "../../src/demo/demo-records.js";
import { SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import { recordBytes, recordSlab } from "../../src/replica/cached-record.js";
import type { ByteSlab } from "../../src/replica/byte-slab.js";
import { rawRecordView } from "../../src/replica/raw-record.js";
import { Replica } from "../../src/replica/replica.js";
import { create } from "@bufbuild/protobuf";
import { RecordSchema } from "../../gen/databroker/databroker_pb.js";
import { change, sessionRecord, snapshot, SV, userRecord } from "./replica-fixtures.js";

const SLAB = 4096;

/** Bytes of the slabs the held records point into, against the bytes they use. */
function footprint(r: Replica): { live: number; referenced: number } {
  let live = 0;
  const slabs = new Set<{ bytes: Uint8Array }>();
  for (const record of r.values(SESSION_TYPE)) {
    live += record.dataLength;
    slabs.add(recordSlab(record));
  }
  let referenced = 0;
  for (const slab of slabs) referenced += slab.bytes.length;
  return { live, referenced };
}

describe("records' bytes in shared slabs", () => {
  it("a long run of updates never pins more than about twice the live bytes, and every record keeps its content", () => {
    const random = seededRandom(7);
    const r = new Replica({ slabBytes: SLAB });
    const N = 400;
    const userOf = new Map<string, string>();
    const initial = Array.from({ length: N }, (_, i) => {
      userOf.set(`s${i}`, `u${i}`);
      return sessionRecord(`s${i}`, BigInt(i + 1), `u${i}`);
    });
    r.apply(snapshot(SESSION_TYPE, initial, BigInt(N)));
    let version = BigInt(N);
    let worst = 0;
    for (let round = 0; round < 300; round++) {
      const records = [];
      for (let k = 0; k < 20; k++) {
        const id = `s${Math.floor(random() * N)}`;
        const user = `u${Math.floor(random() * 1e6)}-${"x".repeat(Math.floor(random() * 200))}`;
        userOf.set(id, user);
        records.push(sessionRecord(id, ++version, user));
      }
      r.apply(change(records));
      const { live, referenced } = footprint(r);
      worst = Math.max(worst, referenced / live);
      // Non-fill slabs are at least half live; the two being filled (snapshot's, changes') may not be.
      expect(referenced).toBeLessThanOrEqual(2 * live + 3 * SLAB);
    }
    expect(worst).toBeGreaterThan(1); // slabs were shared and partly dead at times: the bound was exercised
    for (const record of r.values(SESSION_TYPE)) {
      const session = fromBinary(SessionSchema, recordBytes(record));
      expect(session.id).toBe(record.id);
      expect(session.userId).toBe(userOf.get(record.id));
    }
  });

  it("copies the bytes it keeps: a reused network buffer does not change a held record", () => {
    const r = new Replica();
    const wire = new Uint8Array(recordBytes(new Replica().apply(snapshot(SESSION_TYPE, [sessionRecord("a", 1n, "alice")], 1n))[0]!.upserts[0]!));
    const network = new Uint8Array(wire.length + 10);
    network.set(wire, 5);
    const decoded = create(RecordSchema, { type: SESSION_TYPE, id: "a", version: 1n, data: { typeUrl: SESSION_TYPE, value: network.subarray(5, 5 + wire.length) } });
    r.apply(snapshot(SESSION_TYPE, [rawRecordView(decoded)], 1n));
    network.fill(0); // the transport reuses its buffer
    expect(r.getSession("a", { includeInvalid: true })?.userId).toBe("alice");
  });

  it("a resync that lists every record unchanged copies no bytes: each held record keeps its object and its place", () => {
    const r = new Replica({ slabBytes: SLAB });
    const first = Array.from({ length: 300 }, (_, i) => sessionRecord(`s${i}`, BigInt(i + 1), `u${i}`));
    r.apply(snapshot(SESSION_TYPE, first, 300n));
    const before = new Map([...r.values(SESSION_TYPE)].map((x) => [x.id, { record: x, slab: recordSlab(x), bytes: recordBytes(x) }]));
    r.apply(snapshot(SESSION_TYPE, first, 300n));
    for (const record of r.values(SESSION_TYPE)) {
      const was = before.get(record.id)!;
      expect(record).toBe(was.record);
      expect(recordSlab(record)).toBe(was.slab);
      expect(recordBytes(record).byteOffset).toBe(was.bytes.byteOffset);
    }
  });

  it("after each resync every slab a held record points into is at least half live, and every record keeps its content", () => {
    const random = seededRandom(11);
    const r = new Replica({ slabBytes: SLAB });
    const N = 300;
    // The model: the record each session id is listed with (none: deleted), and its user.
    const current = new Map(Array.from({ length: N }, (_, i) => [`s${i}`, sessionRecord(`s${i}`, BigInt(i + 1), `u${i}`)]));
    const userOf = new Map(Array.from({ length: N }, (_, i) => [`s${i}`, `u${i}`]));
    let version = BigInt(N);
    r.apply(snapshot(SESSION_TYPE, [...current.values()], version));
    let evacuated = 0;
    let stayed = 0;
    for (let round = 0; round < 40; round++) {
      // Each round changes a different share of the records (0-100 %), deletes some, brings some back.
      const share = random();
      const placeBefore = new Map([...r.values(SESSION_TYPE)].map((x) => [x, recordSlab(x)]));
      for (let i = 0; i < N; i++) {
        const id = `s${i}`;
        const roll = random();
        if (current.has(id) && roll < share / 4) {
          current.delete(id);
          userOf.delete(id);
        } else if (roll < share) {
          const user = `w${round}-${i}-${"x".repeat(Math.floor(random() * 300))}`;
          current.set(id, sessionRecord(id, ++version, user));
          userOf.set(id, user);
        }
      }
      const listed = [...current.values()];
      r.apply(snapshot(SESSION_TYPE, listed, version));
      const liveIn = new Map<ByteSlab, number>();
      for (const record of r.values(SESSION_TYPE)) {
        expect(fromBinary(SessionSchema, recordBytes(record)).userId).toBe(userOf.get(record.id));
        const slab = recordSlab(record);
        liveIn.set(slab, (liveIn.get(slab) ?? 0) + record.dataLength);
        const was = placeBefore.get(record);
        if (was !== undefined) was === slab ? stayed++ : evacuated++;
      }
      expect(r.size(SESSION_TYPE)).toBe(userOf.size);
      for (const [slab, live] of liveIn) expect(live * 2).toBeGreaterThanOrEqual(slab.used);
    }
    // Both paths ran: kept records stayed in place, and some were moved out of a slab left sparse.
    expect(stayed).toBeGreaterThan(0);
    expect(evacuated).toBeGreaterThan(0);
  });

  it("a resync of one type leaves the slabs it shares with other types at least half live, and their records intact", () => {
    const r = new Replica({ slabBytes: SLAB });
    // One snapshot of every type: sessions and users interleaved in the same slabs.
    // Sessions several times larger than users, so dropping sessions leaves slabs mostly empty.
    const mixed = Array.from({ length: 300 }, (_, i) =>
      i % 3 === 0 ? userRecord(`u${i}`, BigInt(i + 1), `u${i}@example.com`) : sessionRecord(`s${i}`, BigInt(i + 1), `u${i}-${"x".repeat(200)}`),
    );
    r.apply(snapshot("", mixed, 300n));
    const users = [...r.values(USER_TYPE)];
    const userSlabs = new Set(users.map((u) => recordSlab(u)));
    // A sessions-only resync that keeps one session in ten: most shared slabs fall below half live.
    const kept = mixed.filter((rec, i) => rec.type === SESSION_TYPE && i % 10 === 1);
    r.apply(snapshot(SESSION_TYPE, kept, 300n));
    expect(r.size(SESSION_TYPE)).toBe(kept.length);
    const liveIn = new Map<ByteSlab, number>();
    for (const record of [...r.values(SESSION_TYPE), ...r.values(USER_TYPE)]) {
      const slab = recordSlab(record);
      liveIn.set(slab, (liveIn.get(slab) ?? 0) + record.dataLength);
    }
    for (const [slab, live] of liveIn) expect(live * 2).toBeGreaterThanOrEqual(slab.used);
    // The users are the same objects with the same content, some of them moved out of sparse slabs.
    expect([...r.values(USER_TYPE)]).toEqual(users);
    for (const user of users) expect(r.getUser(user.id)?.email).toBe(`${user.id}@example.com`);
    expect(users.some((u) => !userSlabs.has(recordSlab(u)))).toBe(true);
  });
});
