import { describe, expect, it } from "vitest";
import { ShardedMap, shardOf } from "../../src/replica/sharded-map.js";

describe("ShardedMap", () => {
  it("behaves as a Map before and after it splits: size counts distinct keys, overwrite and delete of a missing key keep it right", () => {
    const m = new ShardedMap<number>();
    const reference = new Map<string, number>();
    for (let i = 0; i < 120_000; i++) {
      const key = `k${(i * 7919) % 50_021}`;
      if (i % 5 === 0) {
        expect(m.delete(key)).toBe(reference.delete(key));
      } else {
        m.set(key, i);
        reference.set(key, i);
      }
      if (i % 1000 === 0 || i > 119_990) expect(m.size).toBe(reference.size);
    }
    expect(m.size).toBeGreaterThan(8_192); // past the split
    for (const [k, v] of reference) expect(m.get(k)).toBe(v);
    expect([...m.values()].sort((a, b) => a - b)).toEqual([...reference.values()].sort((a, b) => a - b));
    expect(m.has("absent")).toBe(false);
    expect(m.get("")).toBeUndefined();
  });

  it("an iteration begun before the split still yields every entry there was when it began (a live index build relies on it)", () => {
    const m = new ShardedMap<number>();
    for (let i = 0; i < 1_000; i++) m.set(`k${i}`, i);
    const scan = m.values();
    const first = scan.next();
    for (let i = 1_000; i < 20_000; i++) m.set(`k${i}`, i); // splits on the way
    const seen = new Set<number>([first.value as number, ...scan]);
    for (let i = 0; i < 1_000; i++) expect(seen.has(i)).toBe(true);
    expect(m.size).toBe(20_000);
  });

  it("answers a key that is not a string (from an untyped caller) as absent, before and after the split, without throwing", () => {
    const m = new ShardedMap<number>();
    const odd = [undefined, null, 42, {}, Symbol("id")] as unknown as string[];
    for (const size of [10, 5_000]) {
      for (let i = m.size; i < size; i++) m.set(`k${i}`, i);
      for (const key of odd) {
        expect(m.get(key)).toBeUndefined();
        expect(m.has(key)).toBe(false);
        expect(m.delete(key)).toBe(false);
      }
      expect(m.size).toBe(size);
    }
  });

  it("spreads the id shapes we see (UUIDs, numbered ids, emails) over the shards, so no shard grows alone", () => {
    const shapes = [
      (i: number) => `${(i * 2654435761) >>> 0}`.padStart(10, "0") + "-4c1b-9a7e-3f2d1c0b9a88",
      (i: number) => `session-${i}`,
      (i: number) => `user.${i}@example.com`,
      (i: number) => `${["ada", "grace", "alan"][i % 3]}.${["lovelace", "hopper"][i % 2]}.${i}@corp.example.org`,
      (i: number) => `user-${i}`,
    ];
    // Shard i's share of the keys is proportional to 2^(i/64) (sharded-map.ts: shares spread
    // over a factor of two, so the shards' rehashes do not fall together).
    const weights = Array.from({ length: 64 }, (_, i) => 2 ** (i / 64));
    const total = weights.reduce((a, b) => a + b, 0);
    for (const shape of shapes) {
      const counts = new Array<number>(64).fill(0);
      for (let i = 0; i < 64_000; i++) counts[shardOf(shape(i))]!++;
      // None grows alone: each stays within 4x of its share (700 to 1,390 of 64,000).
      const worst = Math.max(...counts.map((c, i) => c / ((64_000 * weights[i]!) / total)));
      expect(worst, shape(1)).toBeLessThan(4);
    }
  });
});
