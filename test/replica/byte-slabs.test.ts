import { fromBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { SessionSchema } from "../../gen/session/session_pb.js";
import { seededRandom } from "../../src/demo/demo-records.js";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { recordBytes, recordSlab } from "../../src/replica/cached-record.js";
import { rawRecordView } from "../../src/replica/raw-record.js";
import { Replica } from "../../src/replica/replica.js";
import { create } from "@bufbuild/protobuf";
import { RecordSchema } from "../../gen/databroker/databroker_pb.js";
import { change, sessionRecord, snapshot, SV } from "./replica-fixtures.js";

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

  it("after a resync from another server the held records no longer point into the previous generation's slabs", () => {
    const r = new Replica({ slabBytes: SLAB });
    const first = Array.from({ length: 300 }, (_, i) => sessionRecord(`s${i}`, BigInt(i + 1), `u${i}`));
    r.apply(snapshot(SESSION_TYPE, first, 300n));
    const before = new Set([...r.values(SESSION_TYPE)].map((x) => recordSlab(x)));
    // The same content for half of them (same versions: reused, keeping their objects), new for the rest.
    const second = first.map((rec, i) => (i % 2 === 0 ? rec : sessionRecord(`s${i}`, BigInt(i + 1000), `v${i}`)));
    r.apply(snapshot(SESSION_TYPE, second, 2000n));
    for (const record of r.values(SESSION_TYPE)) expect(before.has(recordSlab(record))).toBe(false);
    expect(r.getSession("s2", { includeInvalid: true })?.userId).toBe("u2");
    expect(r.getSession("s3", { includeInvalid: true })?.userId).toBe("v3");
    expect(r.versions(SESSION_TYPE)?.serverVersion).toBe(SV);
  });
});
