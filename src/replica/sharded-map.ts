/**
 * A string-keyed Map that splits itself into shards once it is large, by a cheap hash of a
 * sample of the key's characters. Why: a JS Map grows by rehashing every entry in one
 * synchronous step (measured ~100-300 ms at 0.5-1M entries on the bench machine), an event-loop
 * stall during a large snapshot; with 64 shards each rehash moves about 1/64 of the entries, and
 * the shards' unequal shares (SHARE_OF) keep their rehashes from falling together. Small maps
 * (up to SPLIT_AT entries) stay one Map and pay no hashing on reads. Iteration goes shard by shard (not
 * global insertion order).
 */
const SHARD_BITS = 6;
const SHARDS = 1 << SHARD_BITS;
/**
 * Past this size the map splits, once: every entry moves in one step, so the split is an
 * event-loop stall of its own, and the code doing it runs once per map, before V8 optimises it.
 * Measured in a 100k sync in one process: at 8,192 entries the split took 11-24 ms of CPU inside
 * one batch (the longest stall of the sync); at 1,024, 1-2 ms. A shard then grows by
 * rehashes of 1/64 of the entries each.
 */
const SPLIT_AT = 1_024;

/**
 * Which shard each value of a key's hash (its top SHARE_BITS) goes to: shard i takes a share of
 * the keys proportional to 2^(i/64), so the last shard's share is twice the first's. Why not equal
 * shares: a Map grows by doubling its table, so equal shards all reach their next size within a
 * few hundred keys of each other, and the add that crosses it rehashes many shards in one go (in a
 * 600k-record snapshot, one add of 1,000 records rehashed 9 shards of 8,192 entries: 4 MB
 * allocated and ~74,000 entries moved in one step). With shares spread over a factor of two, each
 * size is reached shard after shard, spread evenly over the map's growth.
 */
const SHARE_BITS = 12;
const SHARE_OF = ((): Uint8Array => {
  const slots = 1 << SHARE_BITS;
  const weights = Array.from({ length: SHARDS }, (_, i) => 2 ** (i / SHARDS));
  const total = weights.reduce((a, b) => a + b, 0);
  const table = new Uint8Array(slots);
  let from = 0;
  let sum = 0;
  for (let i = 0; i < SHARDS; i++) {
    sum += weights[i] as number;
    const to = i === SHARDS - 1 ? slots : Math.round((slots * sum) / total);
    table.fill(i, from, to);
    from = to;
  }
  return table;
})();

/**
 * The shard of a key: its length, first four, two at a quarter, two at three eighths, two in the
 * middle and last four characters, mixed. Ids differ at the end (counters), all over (UUIDs) or at
 * the start or middle (emails: `user.12345@example.com` differs at 5-9 of 22). Keys that
 * differ only where no sample falls share a shard: a plain Map again, never wrong.
 */
export function shardOf(key: string): number {
  const n = key.length;
  let h = Math.imul(n, 0x9e3779b1);
  if (n >= 8) {
    const m = n >>> 1;
    const q = n >>> 2;
    h = Math.imul(h ^ key.charCodeAt(0) ^ (key.charCodeAt(1) << 8) ^ (key.charCodeAt(2) << 16) ^ (key.charCodeAt(3) << 24), 0x85ebca6b);
    const e = (q + m) >>> 1;
    h = Math.imul(h ^ key.charCodeAt(q) ^ (key.charCodeAt(q + 1) << 8) ^ (key.charCodeAt(m - 1) << 16) ^ (key.charCodeAt(m) << 24), 0xc2b2ae35);
    h = Math.imul(h ^ key.charCodeAt(e) ^ (key.charCodeAt(e + 1) << 8), 0x165667b1);
    h = Math.imul(h ^ key.charCodeAt(n - 4) ^ (key.charCodeAt(n - 3) << 8) ^ (key.charCodeAt(n - 2) << 16) ^ (key.charCodeAt(n - 1) << 24), 0x27d4eb2f);
  } else {
    for (let i = 0; i < n; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return SHARE_OF[(h ^ (h >>> 12)) >>> (32 - SHARE_BITS)] as number;
}

export class ShardedMap<V> {
  /** The one Map while small; undefined once split. */
  #single: Map<string, V> | undefined = new Map();
  #shards: Map<string, V>[] = [];
  #size = 0;

  get size(): number {
    return this.#single?.size ?? this.#size;
  }

  // Reads and deletes take any key from untyped callers: a key that is not a string is never
  // held (a plain Map answers so by itself; a split map must not hash it).
  get(key: string): V | undefined {
    const single = this.#single;
    if (single !== undefined) return single.get(key);
    return typeof key === "string" ? (this.#shards[shardOf(key)] as Map<string, V>).get(key) : undefined;
  }

  has(key: string): boolean {
    const single = this.#single;
    if (single !== undefined) return single.has(key);
    return typeof key === "string" && (this.#shards[shardOf(key)] as Map<string, V>).has(key);
  }

  set(key: string, value: V): void {
    const single = this.#single;
    if (single !== undefined) {
      single.set(key, value);
      if (single.size > SPLIT_AT) this.#split(single);
      return;
    }
    const shard = this.#shards[shardOf(key)] as Map<string, V>;
    const before = shard.size;
    shard.set(key, value);
    this.#size += shard.size - before;
  }

  delete(key: string): boolean {
    const single = this.#single;
    if (single !== undefined) return single.delete(key);
    if (typeof key !== "string") return false;
    const removed = (this.#shards[shardOf(key)] as Map<string, V>).delete(key);
    if (removed) this.#size--;
    return removed;
  }

  *values(): Generator<V, undefined, undefined> {
    const single = this.#single;
    if (single !== undefined) yield* single.values();
    else for (const shard of this.#shards) yield* shard.values();
    return undefined;
  }

  #split(single: Map<string, V>): void {
    for (let i = 0; i < SHARDS; i++) this.#shards.push(new Map());
    for (const [key, value] of single) (this.#shards[shardOf(key)] as Map<string, V>).set(key, value);
    this.#size = single.size;
    this.#single = undefined;
  }
}
