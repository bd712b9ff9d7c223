/**
 * The read-path warm-up a table's first snapshot runs before its swap (src/replica/read-warm-up.ts).
 * The warm-up's count is per process (per test file here), so the cases run in order on one count.
 */
import { toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import type { ChangeBatch } from "../../src/replica/change-batch.js";
import { transientMessage } from "../../src/replica/cached-record.js";
import { WARM_UP_DECODES, warmUpDecodesDone } from "../../src/replica/read-warm-up.js";
import { Replica } from "../../src/replica/replica.js";
import { raw, sessionRecord, snapshot, SV, userRecord } from "./replica-fixtures.js";

const sessions = (n: number, from = 0) => Array.from({ length: n }, (_, i) => sessionRecord(`s-${from + i}`, BigInt(from + i + 1), `u-${i % 7}`));

describe("read warm-up", () => {
  it("decodes a bounded number of a new table's records before the swap, in slices, and keeps none of them", () => {
    expect(warmUpDecodesDone(SESSION_TYPE)).toBe(0);
    const r = new Replica();
    const seen: ChangeBatch[] = [];
    r.subscribe((b) => seen.push(b));
    const builder = r.beginSnapshot(SESSION_TYPE);
    builder.add(sessions(WARM_UP_DECODES + 300));
    const completion = builder.finishInSteps({ serverVersion: SV, recordVersion: BigInt(WARM_UP_DECODES + 300) });
    // A zero budget takes one step per call: each warm-up decode is a step of its own.
    let steps = 0;
    while (!completion.prepare(0)) steps++;
    expect(steps).toBeGreaterThanOrEqual(WARM_UP_DECODES);
    expect(warmUpDecodesDone(SESSION_TYPE)).toBe(WARM_UP_DECODES);
    // Nothing is visible before the swap; the swap emits the one snapshot batch, as without warm-up.
    expect(r.size(SESSION_TYPE)).toBe(0);
    expect(seen).toEqual([]);
    completion.swap();
    expect(seen.map((b) => [b.kind, b.upserts.length])).toEqual([["snapshot", WARM_UP_DECODES + 300]]);

    // No record keeps a decode: two transient reads of an unread record are two decodes.
    for (const record of r.values(SESSION_TYPE)) {
      const a = transientMessage(record);
      expect(a).toBeDefined();
      expect(transientMessage(record)).not.toBe(a);
      expect(Object.isFrozen(a)).toBe(false);
    }
    // A real first read decodes and memoises as before.
    const read = r.getSession("s-5");
    expect(read?.userId).toBe("u-5");
    expect(r.getSession("s-5")).toBe(read);
    expect(transientMessage(r.get(SESSION_TYPE, "s-5")!)).toBe(read);
  });

  it("does no more for a type this process has warmed, in another replica or a resync", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, sessions(2000, 10_000), 20_000n));
    r.apply(snapshot(SESSION_TYPE, sessions(2000, 20_000), 30_000n, SV + 1n));
    expect(warmUpDecodesDone(SESSION_TYPE)).toBe(WARM_UP_DECODES);
    // Another type is warmed on its own count: all of a small table.
    r.apply(snapshot(USER_TYPE, [userRecord("u-1", 1n, "ada@example.com"), userRecord("u-2", 2n, "bob@example.com")], 2n));
    expect(warmUpDecodesDone(USER_TYPE)).toBe(2);
  });

  it("passes over malformed data and types the SDK does not know, as reads do", () => {
    const malformedUrl = "type.googleapis.com/google.protobuf.Any";
    const unknown = { ...sessionRecord("x-1", 1n, "u"), type: "example.Thing", typeUrl: "type.googleapis.com/example.Thing" };
    // Parses at the top level as an Any, fails to decode (bad UTF-8 in type_url).
    const malformed = { ...raw(AnySchema, "example.Any", "m-1", 2n, {}), typeUrl: malformedUrl, data: new Uint8Array([0x0a, 0x02, 0xff, 0xfe]) };
    const r = new Replica();
    expect(() => r.apply(snapshot("", [unknown, malformed], 2n))).not.toThrow();
    expect(warmUpDecodesDone("type.googleapis.com/example.Thing")).toBe(0);
    expect(warmUpDecodesDone(malformedUrl)).toBe(1);
    expect(r.getMessage("example.Thing", "x-1")).toBeUndefined();
    expect(r.getMessage("example.Any", "m-1")).toBeUndefined();
    expect(r.size("example.Any")).toBe(1);
    // A well-formed Any of the same type URL still decodes on its read.
    r.apply(snapshot("example.Any", [{ ...raw(AnySchema, "example.Any", "m-2", 3n, {}), data: toBinary(AnySchema, { $typeName: "google.protobuf.Any", typeUrl: "t", value: new Uint8Array() }) }], 3n));
    expect(r.getMessage("example.Any", "m-2")).toBeDefined();
  });
});
