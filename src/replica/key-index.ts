/**
 * A secondary index: key -> ids of the records holding that key.
 *
 * Most keys hold one id (a user's email, a user's one or two sessions), and a Set costs well over
 * 100 bytes even for one entry, so a key starts as a one-id set object and becomes a real Set on
 * its second id. Either way `get` hands out the stored object itself: no allocation on read.
 */

import { ShardedMap } from "./sharded-map.js";

const EMPTY: ReadonlySet<string> = Object.freeze(new Set<string>());

/** A read-only set of exactly one id. */
class SingleIdSet implements ReadonlySet<string> {
  constructor(readonly id: string) {}
  get size(): number {
    return 1;
  }
  has(value: string): boolean {
    return value === this.id;
  }
  forEach(fn: (value: string, key: string, set: ReadonlySet<string>) => void, thisArg?: unknown): void {
    fn.call(thisArg, this.id, this.id, this);
  }
  *values(): SetIterator<string> {
    yield this.id;
  }
  keys(): SetIterator<string> {
    return this.values();
  }
  *entries(): SetIterator<[string, string]> {
    yield [this.id, this.id];
  }
  [Symbol.iterator](): SetIterator<string> {
    return this.values();
  }
}

export class KeyIndex {
  // Sharded like the tables: a key index can reach 1M keys (users by email), and a Map that size
  // rehashes in one 100+ ms step as it grows.
  readonly #byKey = new ShardedMap<SingleIdSet | Set<string>>();

  add(key: string, id: string): void {
    const ids = this.#byKey.get(key);
    if (ids === undefined) this.#byKey.set(key, new SingleIdSet(id));
    else if (ids instanceof SingleIdSet) {
      if (ids.id !== id) this.#byKey.set(key, new Set([ids.id, id]));
    } else ids.add(id);
  }

  delete(key: string, id: string): void {
    const ids = this.#byKey.get(key);
    if (ids === undefined) return;
    if (ids instanceof SingleIdSet) {
      if (ids.id === id) this.#byKey.delete(key);
      return;
    }
    ids.delete(id);
    if (ids.size === 0) this.#byKey.delete(key);
  }

  /** The ids under `key`: the stored read-only view (no copy), empty when none. */
  get(key: string): ReadonlySet<string> {
    return this.#byKey.get(key) ?? EMPTY;
  }

  /** The number of distinct keys. */
  get keyCount(): number {
    return this.#byKey.size;
  }
}
