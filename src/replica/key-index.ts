/**
 * A secondary index: key -> ids of the records holding that key.
 *
 * Most keys hold one id (a user's email, a user's one or two sessions), and a Set costs well over
 * 100 bytes even for one entry, so a key starts as a one-id set object and becomes a many-id one
 * on its second id. Either way `get` hands out the stored object itself (no allocation on read),
 * and that object is a read-only view a caller cannot change: it is not a Set (casting and
 * calling `add` fails), its ids are in a private field, and it is frozen. Only KeyIndex changes
 * a many-id view's ids, so a view a caller holds shows the index as it is when read.
 */

import { ShardedMap } from "./sharded-map.js";

/** A read-only set of exactly one id. */
class SingleIdSet implements ReadonlySet<string> {
  readonly #id: string;
  constructor(id: string) {
    this.#id = id;
    Object.freeze(this);
  }
  get id(): string {
    return this.#id;
  }
  get size(): number {
    return 1;
  }
  has(value: string): boolean {
    return value === this.#id;
  }
  forEach(fn: (value: string, key: string, set: ReadonlySet<string>) => void, thisArg?: unknown): void {
    fn.call(thisArg, this.#id, this.#id, this);
  }
  *values(): SetIterator<string> {
    yield this.#id;
  }
  keys(): SetIterator<string> {
    return this.values();
  }
  *entries(): SetIterator<[string, string]> {
    yield [this.#id, this.#id];
  }
  [Symbol.iterator](): SetIterator<string> {
    return this.values();
  }
}

let idsOf: (view: ManyIdSet) => Set<string>;

/** A read-only view of several ids; the Set holding them is private to this module. */
class ManyIdSet implements ReadonlySet<string> {
  readonly #ids: Set<string>;
  constructor(ids: Iterable<string>) {
    this.#ids = new Set(ids);
    Object.freeze(this);
  }
  get size(): number {
    return this.#ids.size;
  }
  has(value: string): boolean {
    return this.#ids.has(value);
  }
  forEach(fn: (value: string, key: string, set: ReadonlySet<string>) => void, thisArg?: unknown): void {
    for (const id of this.#ids) fn.call(thisArg, id, id, this);
  }
  values(): SetIterator<string> {
    return this.#ids.values();
  }
  keys(): SetIterator<string> {
    return this.#ids.values();
  }
  entries(): SetIterator<[string, string]> {
    return this.#ids.entries();
  }
  [Symbol.iterator](): SetIterator<string> {
    return this.#ids.values();
  }
  static {
    idsOf = (view) => view.#ids;
  }
}
// Nobody can swap a method under every reader either.
Object.freeze(SingleIdSet.prototype);
Object.freeze(ManyIdSet.prototype);

/** The empty answer: never stored in an index, so never changed. */
export const EMPTY_IDS: ReadonlySet<string> = new ManyIdSet([]);

export class KeyIndex {
  // Sharded like the tables: a key index can reach 1M keys (users by email), and a Map that size
  // rehashes in one 100+ ms step as it grows.
  readonly #byKey = new ShardedMap<SingleIdSet | ManyIdSet>();

  add(key: string, id: string): void {
    const ids = this.#byKey.get(key);
    if (ids === undefined) this.#byKey.set(key, new SingleIdSet(id));
    else if (ids instanceof SingleIdSet) {
      if (ids.id !== id) this.#byKey.set(key, new ManyIdSet([ids.id, id]));
    } else idsOf(ids).add(id);
  }

  delete(key: string, id: string): void {
    const ids = this.#byKey.get(key);
    if (ids === undefined) return;
    if (ids instanceof SingleIdSet) {
      if (ids.id === id) this.#byKey.delete(key);
      return;
    }
    const set = idsOf(ids);
    set.delete(id);
    if (set.size === 0) this.#byKey.delete(key);
  }

  /** The ids under `key`: the stored read-only view (no copy), empty when none. */
  get(key: string): ReadonlySet<string> {
    return this.#byKey.get(key) ?? EMPTY_IDS;
  }

  /** The number of distinct keys. */
  get keyCount(): number {
    return this.#byKey.size;
  }
}
