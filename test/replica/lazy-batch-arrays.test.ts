/**
 * A snapshot's batch lists a whole table. Its flat arrays are made when first read
 * (change-batch.ts): a million records' array is 8 MB of fresh memory in one step, which a
 * finish nobody reads the batch of must not pay for.
 */
import { getHeapSpaceStatistics } from "node:v8";
import { describe, expect, it } from "vitest";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import type { ChangeBatch } from "../../src/replica/change-batch.js";
import { Replica } from "../../src/replica/replica.js";
import { SV, sessionRecord } from "./replica-fixtures.js";

/** Bytes in V8's large-object spaces (old and young): where any array of more than ~16k elements goes. */
const largeObjectBytes = () => {
  let bytes = 0;
  for (const space of getHeapSpaceStatistics()) if (space.space_name === "large_object_space" || space.space_name === "new_large_object_space") bytes += space.space_used_size;
  return bytes;
};

function loaded(r: Replica, n: number, version: (k: number) => bigint, ids = (k: number) => `s${k}`) {
  const build = r.beginSnapshot(SESSION_TYPE);
  for (let at = 0; at < n; at += 1_000) build.add(Array.from({ length: Math.min(1_000, n - at) }, (_, k) => sessionRecord(ids(at + k), version(at + k), `u${(at + k) % 100}`)));
  return build;
}

describe("a snapshot's change batch", () => {
  it("is finished without an array of the table's size; reading it makes one, in order, frozen, the same on every read", { timeout: 60_000 }, () => {
    const N = 600_000;
    const r = new Replica();
    const batches: ChangeBatch[] = [];
    r.subscribe((batch) => batches.push(batch));
    const build = loaded(r, N, (k) => BigInt(k + 1));
    const before = largeObjectBytes();
    build.finish({ serverVersion: SV, recordVersion: BigInt(N) });
    const grown = largeObjectBytes() - before;
    // An array of 600k records is 4.8 MB; the batch holds it as chunks of 32 KB (none large).
    expect(grown, "large-object bytes the finish allocated (the batch is held)").toBeLessThan(1_000_000);
    expect(batches).toHaveLength(1);
    const batch = batches[0]!;
    expect(batch.kind).toBe("snapshot");
    const atRead = largeObjectBytes();
    const upserts = batch.upserts;
    expect(largeObjectBytes() - atRead).toBeGreaterThanOrEqual(N * 8);
    expect(upserts).toHaveLength(N);
    expect(upserts[0]?.id).toBe("s0");
    expect(upserts[N - 1]?.id).toBe(`s${N - 1}`);
    expect(upserts.every((record, k) => record === r.get(SESSION_TYPE, `s${k}`))).toBe(true);
    expect(Object.isFrozen(upserts)).toBe(true);
    expect(batch.upserts).toBe(upserts);
    expect(batch.deletes).toEqual([]);
    expect(Object.isFrozen(batch.deletes)).toBe(true);
  });

  it("of a resync holds only the differences, as arrays like any field (spread, compared, serialised)", () => {
    const r = new Replica();
    const batches: ChangeBatch[] = [];
    loaded(r, 3_000, (k) => BigInt(k + 1)).finish({ serverVersion: SV, recordVersion: 3_000n });
    r.subscribe((batch) => batches.push(batch));
    // The same 3,000 ids but for the first 1,000 (deleted), 1,000 new ones, and s2000-s2999
    // changed (a new version of the same bytes is no difference).
    const build = r.beginSnapshot(SESSION_TYPE);
    build.add(Array.from({ length: 3_000 }, (_, k) => (k < 1_000 ? sessionRecord(`n${k}`, BigInt(k + 10_000), "u") : sessionRecord(`s${k}`, k < 2_000 ? BigInt(k + 1) : BigInt(k + 10_000), k < 2_000 ? `u${k % 100}` : "changed"))));
    build.finish({ serverVersion: SV, recordVersion: 20_000n });
    const [batch] = batches;
    expect(batch?.kind).toBe("resync");
    const copy = { ...batch! };
    expect(copy.upserts.map((record) => record.id)).toEqual([...Array.from({ length: 1_000 }, (_, k) => `n${k}`), ...Array.from({ length: 1_000 }, (_, k) => `s${k + 2_000}`)]);
    // Deletes come in the held table's order.
    expect(new Set(copy.deletes.map((record) => record.id))).toEqual(new Set(Array.from({ length: 1_000 }, (_, k) => `s${k}`)));
    expect(copy.deletes).toHaveLength(1_000);
    expect(Object.keys(batch!)).toEqual(["kind", "type", "serverVersion", "recordVersion", "upserts", "deletes"]);
    const json = JSON.parse(JSON.stringify(batch, (_, value: unknown) => (typeof value === "bigint" ? value.toString() : value))) as { upserts: unknown[]; deletes: unknown[] };
    expect(json.upserts).toHaveLength(2_000);
    expect(json.deletes).toHaveLength(1_000);
  });
});
