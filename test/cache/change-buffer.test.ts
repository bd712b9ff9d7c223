/** The per-subscriber buffer's overflow policy, alone and under the hub. */
import { setImmediate as nextTurn } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { batchDataBytes, ChangeBuffer, DEFAULT_SUBSCRIBER_BUFFER_SIZE, type CacheChange } from "../../src/cache/change-buffer.js";
import { ChangeHub } from "../../src/cache/change-hub.js";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { CachedRecord } from "../../src/replica/cached-record.js";
import type { ChangeBatch } from "../../src/replica/change-batch.js";
import { until } from "../support/wait-until.js";

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

/** `count` records of `bytes` data bytes each (one shared array: the buffer only reads dataLength). */
function records(count: number, bytes: number, prefix: string): CachedRecord[] {
  const data = new Uint8Array(bytes);
  return Array.from({ length: count }, (_, i) => new CachedRecord(SESSION_TYPE, `${prefix}-${i}`, BigInt(i + 1), undefined, SESSION_TYPE, data));
}

const bigBatch = (n: number, upserts: readonly CachedRecord[], deletes: readonly CachedRecord[] = []): ChangeBatch => ({
  kind: "change",
  type: SESSION_TYPE,
  serverVersion: 1n,
  recordVersion: BigInt(n),
  upserts,
  deletes,
});

describe("ChangeBuffer bounded in bytes", () => {
  const RECORDS = 10_000;
  const RECORD_BYTES = 200; // 2 MB of record data per batch
  const BOUND = 16 * 1024 * 1024;

  it("a stalled subscriber, 200 batches of 10k records published: the buffered data never exceeds the bound plus one batch", () => {
    const upserts = records(RECORDS, RECORD_BYTES, "u");
    const deletes = records(RECORDS / 10, RECORD_BYTES, "d");
    const batchBytes = (RECORDS + RECORDS / 10) * RECORD_BYTES;
    const buffer = new ChangeBuffer({ maxBatches: DEFAULT_SUBSCRIBER_BUFFER_SIZE, maxBytes: BOUND }, SESSION_TYPE);
    let overflows = 0;
    let most = 0;
    for (let i = 1; i <= 200; i++) {
      if (buffer.push(bigBatch(i, upserts, deletes))) overflows++;
      most = Math.max(most, buffer.bytes);
      expect(buffer.bytes).toBeLessThanOrEqual(BOUND + batchBytes);
    }
    expect(overflows).toBeGreaterThan(0);
    // What a consumer finally pulls is the same size the buffer accounted for, and ends with the newest batch.
    const pulled = drain(buffer);
    const pulledBytes = pulled.reduce((sum, item) => sum + (item.kind === "overflow" ? 0 : batchDataBytes(item)), 0);
    expect(pulledBytes).toBeLessThanOrEqual(BOUND + batchBytes);
    expect(pulled[0]).toMatchObject({ kind: "overflow", type: SESSION_TYPE });
    const dropped = (pulled[0] as { droppedBatches: number }).droppedBatches;
    expect(dropped + pulled.length - 1).toBe(200);
    expect((pulled.at(-1) as ChangeBatch).recordVersion).toBe(200n);
    expect(most).toBeGreaterThan(BOUND - batchBytes);
    expect(buffer.bytes).toBe(0);
  });

  it("still delivers a single batch larger than the bound to an empty buffer, and drops it for a marker when another arrives", () => {
    const huge = bigBatch(1, records(1000, 100, "h")); // 100 kB
    const buffer = new ChangeBuffer({ maxBatches: 1024, maxBytes: 10_000 }, SESSION_TYPE);
    expect(buffer.push(huge)).toBe(false);
    expect(buffer.bytes).toBe(100_000);
    const small = bigBatch(2, records(1, 100, "s"));
    expect(buffer.push(small)).toBe(true);
    expect(drain(buffer)).toEqual([{ kind: "overflow", type: SESSION_TYPE, droppedBatches: 1 }, small]);
  });
});

describe("ChangeHub with a stalled subscriber", () => {
  it("keeps at most the byte bound plus one batch for an iterator that never pulls, while an Observer gets every batch", async () => {
    const BOUND = 4 * 1024 * 1024;
    const BATCH_BYTES = 10_000 * 100;
    const upserts = records(10_000, 100, "u");
    let overflows = 0;
    const hub = new ChangeHub({ maxBatches: 1024, maxBytes: BOUND }, () => overflows++);
    const stalled = hub.iterable(SESSION_TYPE)[Symbol.asyncIterator](); // subscribed, never pulls
    let observed = 0;
    const subscription = hub.observable(undefined).subscribe(() => observed++);
    for (let i = 1; i <= 200; i++) {
      hub.publish(bigBatch(i, upserts));
      await nextTurn(); // the Observer drains each turn; the iterator never does
    }
    await until(() => observed === 200, "the Observer to see all 200 batches");
    subscription.unsubscribe();
    hub.close(); // the iterator still hands out what it buffered, then ends
    const pulled: CacheChange[] = [];
    for (let item = await stalled.next(); item.done !== true; item = await stalled.next()) pulled.push(item.value);
    const bytes = pulled.reduce((sum, item) => sum + (item.kind === "overflow" ? 0 : batchDataBytes(item)), 0);
    expect(bytes).toBeLessThanOrEqual(BOUND + BATCH_BYTES);
    expect(pulled[0]).toMatchObject({ kind: "overflow", type: SESSION_TYPE });
    expect((pulled.at(-1) as ChangeBatch).recordVersion).toBe(200n);
    expect(overflows).toBeGreaterThan(0);
  });
});
