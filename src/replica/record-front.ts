/**
 * A small direct-mapped table in front of a type table's id lookup: the records read recently,
 * one per slot, by a cheap hash of the id. Why: a lookup in the sharded id map costs a hash of
 * the id, a Map probe and a comparison with the stored key, each on its own cache lines (over a
 * large heap: several cache and TLB misses per read); a hit here is one hash, two array reads and
 * one comparison.
 *
 * Invariant (what makes a hit correct): a slot that holds a key holds the record the table holds
 * under that key. The table keeps it by telling the front of every change to its id map
 * ({@link RecordFront.forget} on put and delete) before its next read; a slot is only ever filled
 * from the table's own answer. Keys stored are the table's own id strings (never a caller's
 * string, which might pin a larger string it was sliced from).
 *
 * The front grows with the table, in steps of 4x up to {@link MAX_FRONT_SLOTS}; growing drops
 * what it held (it refills on the next reads).
 */
import type { CachedRecord } from "./cached-record.js";

/** 16,384 slots (256 KB of slot arrays): room for a hot set of several thousand ids with few collisions. */
export const MAX_FRONT_SLOTS = 1 << 14;
const MIN_FRONT_BITS = 6;

/**
 * The slot of an id: its length and up to eight of its characters (the first two, two in the
 * middle, the last four), mixed. Ids differ at the end (counters), all over (UUIDs) or at the
 * start (emails); ids that differ only elsewhere share a slot and take turns in it, never wrong.
 */
export function frontHash(id: string): number {
  const n = id.length;
  let h = Math.imul(n, 0x9e3779b1);
  if (n >= 4) {
    const m = n >>> 1;
    h = Math.imul(h ^ id.charCodeAt(0) ^ (id.charCodeAt(1) << 8) ^ (id.charCodeAt(m - 1) << 16) ^ (id.charCodeAt(m) << 24), 0x85ebca6b);
    h = Math.imul(h ^ id.charCodeAt(n - 4) ^ (id.charCodeAt(n - 3) << 8) ^ (id.charCodeAt(n - 2) << 16) ^ (id.charCodeAt(n - 1) << 24), 0xc2b2ae35);
  } else {
    for (let i = 0; i < n; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 12);
}

export class RecordFront {
  #keys: Array<string | undefined>;
  #records: Array<CachedRecord | undefined>;
  #shift: number;
  readonly #maxBits: number;

  /** @param maxSlots the most slots it grows to (a power of two); tests use tiny fronts to force collisions. */
  constructor(maxSlots: number = MAX_FRONT_SLOTS) {
    this.#maxBits = Math.max(1, Math.round(Math.log2(maxSlots)));
    const bits = Math.min(MIN_FRONT_BITS, this.#maxBits);
    this.#shift = 32 - bits;
    this.#keys = new Array<string | undefined>(1 << bits).fill(undefined);
    this.#records = new Array<CachedRecord | undefined>(1 << bits).fill(undefined);
  }

  /** How many slots it has now. */
  get slots(): number {
    return this.#keys.length;
  }

  /** The record held for `id`, or undefined when the slot holds another id (or none). */
  get(id: string): CachedRecord | undefined {
    const slot = frontHash(id) >>> this.#shift;
    return this.#keys[slot] === id ? this.#records[slot] : undefined;
  }

  /** Remembers the table's answer for its key `record.id`. */
  fill(record: CachedRecord): void {
    const slot = frontHash(record.id) >>> this.#shift;
    this.#keys[slot] = record.id;
    this.#records[slot] = record;
  }

  /** The table's record for `id` changed or went: nothing is held for it any more. */
  forget(id: string): void {
    const slot = frontHash(id) >>> this.#shift;
    if (this.#keys[slot] === id) {
      this.#keys[slot] = undefined;
      this.#records[slot] = undefined;
    }
  }

  /** Called with the table's size after it grew: four times the slots once the table outgrows them. */
  fit(tableSize: number): void {
    const bits = 32 - this.#shift;
    if (bits >= this.#maxBits || tableSize <= 1 << bits) return;
    const next = Math.min(this.#maxBits, bits + 2);
    this.#shift = 32 - next;
    this.#keys = new Array<string | undefined>(1 << next).fill(undefined);
    this.#records = new Array<CachedRecord | undefined>(1 << next).fill(undefined);
  }
}
