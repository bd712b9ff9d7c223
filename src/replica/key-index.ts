/**
 * A secondary index: key -> ids of the records holding that key.
 *
 * Most keys hold one id (a user's email, a user's one or two sessions), and a Set costs well over
 * 100 bytes even for one entry, so a key starts as a one-id set object and becomes a many-id one
 * on its second id, whose ids are an exactly sized array until there are more than
 * {@link MAX_ARRAY_IDS} of them, then a Set. Either way `get` hands out the stored object itself
 * (no allocation on read), and that object is a read-only view a caller cannot change: it is not
 * a Set (casting and calling `add` fails), its ids are in a private field, and it is frozen. Only
 * KeyIndex changes a many-id view's ids, so a view a caller holds shows the index as it is when
 * read.
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

/**
 * Up to this many ids, a many-id view keeps them in a plain array of exactly that length (a key's
 * ids in an index are usually a user's few sessions); past it, in a Set. Why: a Set is a table of
 * at least 4 entries of 2 words each plus buckets and its own object, ~350 bytes for 10 ids; an
 * array of 10 is ~130 bytes, and in an index of a million sessions by user that is ~20 bytes per
 * session. Membership in an array is a scan, which at 32 entries costs about what a Set's hash
 * lookup does.
 */
export const MAX_ARRAY_IDS = 32;

let addTo: (view: ManyIdSet, id: string) => void;
let removeFrom: (view: ManyIdSet, id: string) => number;

/**
 * A read-only view of several ids; what holds them is private to this module. The array form is
 * replaced, never changed in place (copy on write): an iteration started before a change goes on
 * over the ids as they were when it started, so it never skips one nor sees one twice (a Set's
 * iteration sees the changes instead; either way it never sees an id that was never there).
 */
class ManyIdSet implements ReadonlySet<string> {
  #ids: readonly string[] | Set<string>;
  /** @param ids distinct ids, in a new array the view keeps (not copied) */
  constructor(ids: readonly string[]) {
    this.#ids = ids.length > MAX_ARRAY_IDS ? new Set(ids) : ids;
    Object.freeze(this);
  }
  get size(): number {
    const ids = this.#ids;
    return ids instanceof Set ? ids.size : ids.length;
  }
  has(value: string): boolean {
    return this.#ids instanceof Set ? this.#ids.has(value) : this.#ids.includes(value);
  }
  forEach(fn: (value: string, key: string, set: ReadonlySet<string>) => void, thisArg?: unknown): void {
    for (const id of this.#ids) fn.call(thisArg, id, id, this);
  }
  values(): SetIterator<string> {
    return this.#ids.values() as SetIterator<string>;
  }
  keys(): SetIterator<string> {
    return this.values();
  }
  entries(): SetIterator<[string, string]> {
    const ids = this.#ids;
    return ids instanceof Set ? ids.entries() : pairs(ids);
  }
  [Symbol.iterator](): SetIterator<string> {
    return this.values();
  }
  static {
    addTo = (view, id) => {
      const ids = view.#ids;
      if (ids instanceof Set) {
        ids.add(id);
        return;
      }
      if (ids.includes(id)) return;
      if (ids.length >= MAX_ARRAY_IDS) {
        view.#ids = new Set(ids).add(id);
        return;
      }
      const next = new Array<string>(ids.length + 1);
      for (let i = 0; i < ids.length; i++) next[i] = ids[i] as string;
      next[ids.length] = id;
      view.#ids = next;
    };
    removeFrom = (view, id) => {
      const ids = view.#ids;
      if (ids instanceof Set) {
        ids.delete(id);
        return ids.size;
      }
      const at = ids.indexOf(id);
      if (at < 0) return ids.length;
      const next = new Array<string>(ids.length - 1);
      for (let i = 0, j = 0; i < ids.length; i++) if (i !== at) next[j++] = ids[i] as string;
      view.#ids = next;
      return next.length;
    };
  }
}

function* pairs(ids: readonly string[]): SetIterator<[string, string]> {
  for (const id of ids) yield [id, id];
  return undefined;
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
    } else addTo(ids, id);
  }

  delete(key: string, id: string): void {
    const ids = this.#byKey.get(key);
    if (ids === undefined) return;
    if (ids instanceof SingleIdSet) {
      if (ids.id === id) this.#byKey.delete(key);
      return;
    }
    if (removeFrom(ids, id) === 0) this.#byKey.delete(key);
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
