/**
 * The flat copies of ids a record front keeps (record-front.ts says why it copies keys): at most
 * `capacity` of them, found by value, the oldest let go first when a new one needs room.
 *
 * Why not a Map: a Map grows by rehashing into a table twice its size, in one step, and the front
 * makes its copies during first reads. In a 1M-session cache the first reads numbered 256, 512,
 * ..., 8,192 were among the slowest of 10,000 (0.05-1.7 ms each, at exactly those counts in both
 * runs): the Map of copies doubling. At its full size it also rebuilt itself once per as many
 * replaced copies as it held (its deleted entries filled it): 2-4 ms in one read, again and again.
 * Here every array is allocated at its full size with the front (a front grows in a few 4x steps
 * as its table grows, not as it is read), so keeping a copy allocates nothing beyond the copy.
 *
 * The copies sit in an open-addressing table at most half full, by linear probing from a hash of
 * the id (the front's hash, remixed: the front buckets ids by its low bits, so ids sharing a bucket
 * would otherwise share a run here); letting one go shifts the entries after it back so that no
 * probe run has a hole. A ring keeps the order the copies were made in.
 *
 * Invariants (key-copies.test.ts): no two kept copies are equal, and at most `capacity` are kept;
 * `copyOf(id)` returns a string equal to `id`, the same string object for as long as that copy is
 * kept; a copy is kept until `capacity` newer copies were made after it.
 */
import { compactKey, frontHash } from "./front-keys.js";

/**
 * An id's hash here: the front's hash remixed (the front buckets ids by its low bits), as an
 * int32; its top bits are the id's home in the table.
 */
function hashOf(id: string): number {
  return Math.imul(frontHash(id), 0x9e3779b1) | 0;
}

export class KeyCopies {
  /** The copies by hash; undefined = empty. Its length is a power of two, at least twice the capacity. */
  readonly #table: Array<string | undefined>;
  /**
   * Each entry's full hash (the mixed front hash), beside it: a probe compares hashes before it
   * reads a string's characters (another id of a probe run is mostly another cache line), and a
   * removal finds where an entry belongs without hashing it again.
   */
  readonly #hashes: Int32Array;
  /** The copies in the order they were made: the oldest at `#next` once `#count` is the capacity. */
  readonly #order: Array<string | undefined>;
  /** 32 minus log2 of the table's length: a hash's top bits are its position. */
  readonly #shift: number;
  #count = 0;
  #next = 0;

  /**
   * @param capacity how many copies it keeps at most (at least 1)
   * @param carried copies to keep from a smaller or equal set (a front that grew): its newest,
   *   as many as fit, in the order they were made
   */
  constructor(capacity: number, carried?: KeyCopies) {
    const bits = Math.max(1, 32 - Math.clz32(Math.max(1, capacity) * 2 - 1));
    this.#table = new Array<string | undefined>(1 << bits).fill(undefined);
    this.#hashes = new Int32Array(1 << bits);
    this.#order = new Array<string | undefined>(Math.max(1, capacity)).fill(undefined);
    this.#shift = 32 - bits;
    if (carried !== undefined) for (const copy of carried.#newest(this.#order.length)) this.#keep(copy, hashOf(copy));
  }

  /** How many copies it keeps now. */
  get size(): number {
    return this.#count;
  }

  /** Whether a copy of `id` is kept. */
  has(id: string): boolean {
    return this.#find(id, hashOf(id)) !== undefined;
  }

  /** The kept copy of `id`, else a new one (kept in place of the oldest when full). */
  copyOf(id: string): string {
    const hash = hashOf(id);
    const kept = this.#find(id, hash);
    if (kept !== undefined) return kept;
    const copy = compactKey(id);
    this.#keep(copy, hash);
    return copy;
  }

  /** The kept copy equal to `id` (whose hash is `hash`), or undefined. */
  #find(id: string, hash: number): string | undefined {
    const table = this.#table;
    const hashes = this.#hashes;
    const mask = table.length - 1;
    for (let i = hash >>> this.#shift; ; i = (i + 1) & mask) {
      const kept = table[i];
      if (kept === undefined) return undefined;
      if (hashes[i] === hash && kept === id) return kept;
    }
  }

  /** The newest `n` copies at most, oldest first. */
  *#newest(n: number): Generator<string> {
    const order = this.#order;
    const count = this.#count;
    const skip = Math.max(0, count - n);
    // While the ring is not yet full its oldest entry is at 0, after that at #next.
    const oldest = count < order.length ? 0 : this.#next;
    for (let k = skip; k < count; k++) yield order[(oldest + k) % order.length] as string;
  }

  /** Keeps `copy` (not kept yet; its hash is `hash`), letting the oldest go first when full. */
  #keep(copy: string, hash: number): void {
    const order = this.#order;
    if (this.#count < order.length) {
      order[this.#count++] = copy;
    } else {
      const at = this.#next;
      this.#remove(order[at] as string);
      order[at] = copy;
      this.#next = at + 1 === order.length ? 0 : at + 1;
    }
    const table = this.#table;
    const mask = table.length - 1;
    let i = hash >>> this.#shift;
    while (table[i] !== undefined) i = (i + 1) & mask;
    table[i] = copy;
    this.#hashes[i] = hash;
  }

  /** Lets a kept copy go, closing its hole: each later entry of the run that may move back does. */
  #remove(copy: string): void {
    const table = this.#table;
    const hashes = this.#hashes;
    const mask = table.length - 1;
    const shift = this.#shift;
    let hole = hashOf(copy) >>> shift;
    while (table[hole] !== copy) hole = (hole + 1) & mask;
    table[hole] = undefined;
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const kept = table[j];
      if (kept === undefined) return;
      const home = (hashes[j] as number) >>> shift;
      // `kept` may fill the hole unless its home lies cyclically in (hole, j]: then the hole is
      // before its home, and a probe for it would never pass the hole.
      const homeAfterHole = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!homeAfterHole) {
        table[hole] = kept;
        hashes[hole] = hashes[j] as number;
        table[j] = undefined;
        hole = j;
      }
    }
  }
}
