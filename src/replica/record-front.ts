/**
 * A small two-way set-associative table in front of a type table's id lookup: the records read
 * recently, by a cheap hash of the id. Why: a lookup in the sharded id map costs a hash of the
 * id, a Map probe and a comparison with the stored key, each on its own cache lines (over a large
 * heap: several cache and TLB misses per read); a hit here is one hash, a few reads of adjacent
 * array slots and one comparison.
 *
 * A typed read (getSession and the like) also keeps, per slot, the record's decoded message and
 * its validity limit, so a hit never touches the record: both are fixed for a record (decoded
 * once, the limit a function of the message), and go with the slot whenever the record does.
 *
 * Invariant (what makes a hit correct): a slot that holds a key holds the record the table holds
 * under that key (and that record's message and limit, if typed). The table keeps it by telling
 * the front of every change to its id map ({@link RecordFront.forget} on put and delete) before
 * its next read; a slot is only ever filled from the table's own answer. A slot's typed message
 * is one the replica's bound on decoded messages keeps (decoded-messages.ts): it is filled right
 * after the record's read made the bound keep it, and dropped when the bound lets it go
 * ({@link RecordFront.dropMessage}), so the front never keeps a message alive past the bound.
 * Keys stored are the table's own id strings, or copies the front made of them (never a caller's
 * string, which might pin a larger string it was sliced from).
 *
 * Where the keys lie matters more than the lookup: a hit compares the caller's id with the slot's
 * key, so it reads the key's memory, and the table's id strings were allocated as the records
 * arrived, scattered among a million other objects (one page, one TLB entry and one cache miss per
 * read). So a slot given a typed answer takes a flat copy of its key (front-keys.ts): the
 * keys of the ids read often are allocated one after another, close together. The copies are kept
 * by key (key-copies.ts: at most one per two slots, the oldest dropped first, in tables allocated
 * with the front, so keeping one never rehashes anything), so an id whose slot is filled again, as
 * ids sharing a bucket take turns, reuses its copy: once an id was read, a read of it allocates
 * nothing, hit or miss. Measured on 4,096 random hot ids, replica alone: 124 -> 38 ns per
 * getSession at 1M sessions, 61 -> 43 ns at 100k. A typed miss looks its copy up (~150 ns to make
 * one the first time), beside the lookup in the id map it costs anyway.
 *
 * Each hash bucket has two slots: a new id goes into the first, moving the one there to the
 * second. A slot's key and typed message sit side by side in one array (a bucket's four entries
 * share a cache line or two adjacent ones), so a typed hit reads that line, the limit, and the two
 * strings it compares; the records (for untyped reads) are kept apart. The front grows with the
 * table, in steps of 4x up to {@link MAX_FRONT_SLOTS}, keeping at least twice as many slots as
 * records; growing drops what it held (it refills on the next reads), except the newest key copies.
 */
import type { Message } from "@bufbuild/protobuf";
import { coarseReading, tickCoarseClock, type Clock } from "../records/clock.js";
import { copyValidityLimit, type CachedRecord } from "./cached-record.js";
import { frontHash } from "./front-keys.js";
import { KeyCopies } from "./key-copies.js";

/** What {@link RecordFront.readTyped} answers when it holds no typed answer for the id. */
export const FRONT_MISS: unique symbol = Symbol("front miss");

/** A typed read's rule: the validity limit (ms since the epoch) of a decoded message. */
export type ValidityLimit = (message: never) => number;

/**
 * 65,536 slots (2 MB of slot arrays at 8 bytes per pointer): a hot set of up to ~16,000 ids fits
 * with few collisions. With 16,384 slots, 4,096 random hot ids left ~9 % of them in buckets of
 * three or more, which take turns and miss on most reads.
 */
export const MAX_FRONT_SLOTS = 1 << 16;
const MIN_FRONT_SLOTS = 64;

export class RecordFront {
  /** Per slot `s`: its key at `2s`, its typed message at `2s + 1` (undefined when none). */
  #entries: Array<string | Message | undefined> = [];
  #records: Array<CachedRecord | undefined> = [];
  #limits = new Float64Array(0);
  /**
   * Flat copies of the keys of typed answers, at most one per two slots: twice the hot set the
   * front is sized for, in 1 MB of arrays at its full size (made again at each growth, keeping the newest).
   */
  #keyCopies = new KeyCopies(1);
  /** The rule the typed answers were made with (one typed reader per table). */
  #typedBy: ValidityLimit | undefined = undefined;
  /** Buckets minus one: `hash & mask` is the bucket, `<< 1` its first slot. */
  #mask = 0;
  readonly #maxSlots: number;

  /** @param maxSlots the most slots it grows to (a power of two, at least 2); tests use tiny fronts to force collisions. */
  constructor(maxSlots: number = MAX_FRONT_SLOTS) {
    this.#maxSlots = Math.max(2, maxSlots);
    this.#allocate(Math.min(MIN_FRONT_SLOTS, this.#maxSlots));
  }

  /** How many slots it has now. */
  get slots(): number {
    return this.#records.length;
  }

  /** How many key copies it keeps (at most half its {@link slots}). */
  get keyCopies(): number {
    return this.#keyCopies.size;
  }

  /** The slot holding `id`, or -1. */
  #find(id: string): number {
    const first = (frontHash(id) & this.#mask) << 1;
    const entries = this.#entries;
    if (entries[first << 1] === id) return first;
    return entries[(first << 1) + 2] === id ? first + 1 : -1;
  }

  /** The record held for `id`, or undefined when none is. */
  get(id: string): CachedRecord | undefined {
    const slot = this.#find(id);
    return slot < 0 ? undefined : this.#records[slot];
  }

  /** Remembers the table's answer for its key `record.id` (in its bucket's first slot). */
  fill(record: CachedRecord): void {
    const first = (frontHash(record.id) & this.#mask) << 1;
    const entries = this.#entries;
    const at = first << 1;
    if (entries[at] === record.id) {
      this.#records[first] = record;
      entries[at + 1] = undefined;
      return;
    }
    // The first slot's id moves to the second, over whatever was there (if that was this id,
    // the two swap: an id is never held twice).
    entries[at + 2] = entries[at];
    entries[at + 3] = entries[at + 1];
    this.#records[first + 1] = this.#records[first];
    this.#limits[first + 1] = this.#limits[first] as number;
    entries[at] = record.id;
    entries[at + 1] = undefined;
    this.#records[first] = record;
  }

  /**
   * The typed answer for `id`: its message, or undefined when past its limit (unless
   * `includeInvalid`); {@link FRONT_MISS} when none is held. The clock as in the replica's typed
   * reads: `clock` when given, else the coarse system clock.
   */
  readTyped(id: string, rule: ValidityLimit, includeInvalid: boolean, clock: Clock | undefined): Message | undefined | typeof FRONT_MISS {
    const slot = this.#find(id);
    if (slot < 0 || this.#typedBy !== rule) return FRONT_MISS;
    const message = this.#entries[(slot << 1) + 1] as Message | undefined;
    if (message === undefined) return FRONT_MISS;
    if (includeInvalid) return message;
    if (clock !== undefined) return clock.now() > (this.#limits[slot] as number) ? undefined : message;
    tickCoarseClock();
    return (coarseReading[0] as number) > (this.#limits[slot] as number) ? undefined : message;
  }

  /**
   * Keeps the typed answer for a record the table holds (and the front holds for its id): its
   * message and the limit `isOfType` memoised on it under `rule`.
   */
  fillTyped(record: CachedRecord, rule: ValidityLimit, message: Message): void {
    if (this.#typedBy !== rule) {
      if (this.#typedBy !== undefined) return;
      this.#typedBy = rule;
    }
    const slot = this.#find(record.id);
    if (slot < 0 || this.#records[slot] !== record) return;
    // The front's flat copy of the id (see the class comment): any string equal to the id is a
    // valid key, so a copy never goes stale (a record replaced or deleted leaves a spare copy).
    this.#entries[slot << 1] = this.#keyCopies.copyOf(record.id);
    this.#entries[(slot << 1) + 1] = message;
    copyValidityLimit(record, this.#limits, slot);
  }

  /**
   * The replica's bound on decoded messages let go of `record`'s message (decoded-messages.ts):
   * its slot lets go of it too, keeping the record (its next typed read fills the slot again).
   */
  dropMessage(record: CachedRecord): void {
    const slot = this.#find(record.id);
    if (slot >= 0 && this.#records[slot] === record) this.#entries[(slot << 1) + 1] = undefined;
  }

  /** The table's record for `id` changed or went: nothing is held for it any more. */
  forget(id: string): void {
    const slot = this.#find(id);
    if (slot < 0) return;
    this.#entries[slot << 1] = undefined;
    this.#entries[(slot << 1) + 1] = undefined;
    this.#records[slot] = undefined;
  }

  /** Called with the table's size after it grew: four times the slots once the table has more than half as many records. */
  fit(tableSize: number): void {
    const slots = this.#records.length;
    if (slots >= this.#maxSlots || tableSize * 2 <= slots) return;
    this.#allocate(Math.min(this.#maxSlots, slots * 4));
  }

  #allocate(slots: number): void {
    this.#mask = (slots >>> 1) - 1;
    this.#entries = new Array<string | Message | undefined>(slots * 2).fill(undefined);
    this.#records = new Array<CachedRecord | undefined>(slots).fill(undefined);
    this.#limits = new Float64Array(slots);
    this.#keyCopies = new KeyCopies(Math.max(1, slots >>> 1), this.#keyCopies);
  }
}
