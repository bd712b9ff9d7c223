/** The per-subscriber buffer's overflow policy, alone. */
import { describe, expect, it } from "vitest";
import { ChangeBuffer, type CacheChange } from "../../src/cache/change-buffer.js";
import type { ChangeBatch } from "../../src/replica/change-batch.js";

const batch = (n: number): ChangeBatch => ({
  kind: "change",
  type: "t",
  serverVersion: 1n,
  recordVersion: BigInt(n),
  upserts: [],
  deletes: [],
});

function drain(buffer: ChangeBuffer): CacheChange[] {
  const out: CacheChange[] = [];
  for (let item = buffer.shift(); item !== undefined; item = buffer.shift()) out.push(item);
  return out;
}

describe("ChangeBuffer", () => {
  it("keeps batches in order while under capacity", () => {
    const buffer = new ChangeBuffer({ maxBatches: 3, maxBytes: Number.MAX_SAFE_INTEGER }, "t");
    expect([buffer.push(batch(1)), buffer.push(batch(2)), buffer.push(batch(3))]).toEqual([false, false, false]);
    expect(drain(buffer).map((b) => (b as ChangeBatch).recordVersion)).toEqual([1n, 2n, 3n]);
    expect(buffer.size).toBe(0);
  });

  it("on overflow drops everything buffered for one marker, then queues newer batches behind it", () => {
    const buffer = new ChangeBuffer({ maxBatches: 3, maxBytes: Number.MAX_SAFE_INTEGER }, "t");
    for (let i = 1; i <= 3; i++) buffer.push(batch(i));
    expect(buffer.push(batch(4))).toBe(true);
    expect(buffer.size).toBe(2);
    buffer.push(batch(5));
    expect(drain(buffer)).toEqual([{ kind: "overflow", type: "t", droppedBatches: 3 }, batch(4), batch(5)]);
  });

  it("merges repeated overflows into one marker that counts every dropped batch", () => {
    const buffer = new ChangeBuffer({ maxBatches: 2, maxBytes: Number.MAX_SAFE_INTEGER }, undefined);
    for (let i = 1; i <= 100; i++) buffer.push(batch(i));
    expect(buffer.size).toBeLessThanOrEqual(2);
    const items = drain(buffer);
    expect(items[0]).toEqual({ kind: "overflow", type: undefined, droppedBatches: 99 });
    expect(items.slice(1)).toEqual([batch(100)]);
  });
});
