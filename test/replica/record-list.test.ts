/**
 * A snapshot's lists of records (record-list.ts) never copy what they hold as they grow: a JS
 * array of a million records grows by copying all of them into a larger store in one step, an
 * event-loop stall of 14-36 ms in a 1M-session sync.
 */
import { getHeapSpaceStatistics } from "node:v8";
import { describe, expect, it } from "vitest";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { CachedRecord } from "../../src/replica/cached-record.js";
import { filterList, RecordList } from "../../src/replica/record-list.js";
import { Replica } from "../../src/replica/replica.js";
import { SV, sessionRecord } from "./replica-fixtures.js";

const record = (n: number) => new CachedRecord("t", `r${n}`, BigInt(n), undefined, "type.example/x", new Uint8Array([n & 255]));

function slices<T>(steps: Generator<void, T, void>): { value: T; pauses: number } {
  let pauses = 0;
  for (;;) {
    const r = steps.next();
    if (r.done === true) return { value: r.value, pauses };
    pauses++;
  }
}

describe("RecordList", () => {
  it("keeps records in push order across chunks, and its length", () => {
    const list = new RecordList();
    const records = Array.from({ length: 10_000 }, (_, n) => record(n));
    for (const r of records) list.push(r);
    expect(list.length).toBe(10_000);
    expect(list.chunks().flat()).toEqual(records);
    expect(RecordList.of(records).chunks().flat()).toEqual(records);
    expect(new RecordList().length).toBe(0);
  });

  it("toArray gives the records in order, in an array of exactly their number", () => {
    const records = Array.from({ length: 9_000 }, (_, n) => record(n));
    const array = RecordList.of(records).toArray();
    expect(array).toEqual(records);
    expect(array.length).toBe(9_000);
    expect(new RecordList().toArray()).toEqual([]);
  });

  it("filterList gives the accepted records in order in a new list, pausing every 256; without a filter, the list itself at once", () => {
    const records = Array.from({ length: 5_000 }, (_, n) => record(n));
    const list = RecordList.of(records);
    const all = slices(filterList(list));
    expect(all.value).toBe(list);
    expect(all.pauses).toBe(0);
    const seen: number[] = [];
    const odd = slices(
      filterList(list, (r) => {
        seen.push(Number(r.version));
        return r.version % 2n === 1n;
      }),
    );
    expect(odd.pauses).toBe(Math.floor(5_000 / 256));
    expect(seen).toEqual(records.map((r) => Number(r.version)));
    expect(odd.value).not.toBe(list);
    expect(odd.value.toArray().map((r) => r.id)).toEqual(records.filter((_, n) => n % 2 === 1).map((r) => r.id));
    expect(odd.value.length).toBe(2_500);
    expect(list.length).toBe(5_000);
  });
});

describe("a large snapshot", () => {
  it("adds each chunk of records without copying what it took in before (no large allocation that grows with the snapshot)", { timeout: 60_000 }, () => {
    const large = () => getHeapSpaceStatistics().find((s) => s.space_name === "large_object_space")!.space_used_size;
    const r = new Replica();
    const build = r.beginSnapshot(SESSION_TYPE);
    const N = 600_000;
    const BATCH = 1_000;
    let worst = 0;
    let worstAt = 0;
    for (let at = 0; at < N; at += BATCH) {
      const records = Array.from({ length: BATCH }, (_, k) => sessionRecord(`s${at + k}`, BigInt(at + k + 1), `u${(at + k) % 1000}`));
      const before = large();
      build.add(records);
      const grown = large() - before;
      if (grown > worst) [worst, worstAt] = [grown, at];
    }
    build.finish({ serverVersion: SV, recordVersion: BigInt(N) });
    expect(r.size(SESSION_TYPE)).toBe(N);
    expect(r.getSession(`s${N - 1}`)?.userId).toBe(`u${(N - 1) % 1000}`);
    // One array of every record added so far, grown as a JS array grows, allocates a new store of
    // 1.5 times its length when full: 4.6 MB at 386k records (8 bytes per pointer); the id map's
    // 64 shards, were their rehashes to fall together, 2-4 MB in one add. What one add may allocate
    // in large objects here: the read front's tables and key copies, once (2.3 MB), or a shard's rehash (0.5 MB).
    expect(worst, `most large-object bytes allocated by one add (at ${worstAt} records)`).toBeLessThan(2_500_000);
  });
});
