/**
 * A list of records appended one at a time, for lists as long as a table: a snapshot's upserts,
 * a resync's deletes. Why not an array: a JS array grows by copying every element it holds into a
 * larger store, in one step, and at a table's size that step is an event-loop stall of its own (in
 * a 1M-session sync, the upserts array's growth took 14, 21 and 36 ms at 386k, 580k and 870k
 * records). Here records go into chunks of {@link CHUNK}, which are never copied. A change batch
 * carries such lists and makes the flat array a subscriber reads only when one reads it
 * (change-batch.ts): a million records' array is 8 MB of fresh memory allocated in one step
 * (measured 7 ms in process, 24 ms inside the cache during a 1M sync).
 */
import type { CachedRecord } from "./cached-record.js";
import { SLICE_MASK } from "./sliced-work.js";

/** Records per chunk: a chunk's own growth copies at most this many (32 KB of pointers). */
const CHUNK = 4096;

export class RecordList {
  /** The chunks in order; every one but the last holds CHUNK records. */
  readonly #chunks: CachedRecord[][] = [[]];

  get length(): number {
    const chunks = this.#chunks;
    return (chunks.length - 1) * CHUNK + (chunks[chunks.length - 1] as CachedRecord[]).length;
  }

  push(record: CachedRecord): void {
    const chunks = this.#chunks;
    let last = chunks[chunks.length - 1] as CachedRecord[];
    if (last.length === CHUNK) chunks.push((last = []));
    last.push(record);
  }

  /** Calls `fn` with each record, in order (for work done in one go). */
  forEach(fn: (record: CachedRecord) => void): void {
    for (const chunk of this.#chunks) for (const record of chunk) fn(record);
  }

  /** The chunks, in order (for loops that pause between records; do not change them). */
  chunks(): readonly (readonly CachedRecord[])[] {
    return this.#chunks;
  }

  /** The records in order, as one array of exactly their number (allocated once, never grown). */
  toArray(): CachedRecord[] {
    const out = new Array<CachedRecord>(this.length);
    let n = 0;
    for (const chunk of this.#chunks) for (const record of chunk) out[n++] = record;
    return out;
  }

  /** A list of `records`, in their order. */
  static of(records: Iterable<CachedRecord>): RecordList {
    const list = new RecordList();
    for (const record of records) list.push(record);
    return list;
  }
}

/**
 * The records of `list` that `keep` accepts, in order, in a new list (`list` itself without
 * `keep`), in slices: a `yield` every SLICE_MASK + 1 records. `keep` may change the replica's side
 * state (it runs once per record, in order, between slices).
 */
export function* filterList(list: RecordList, keep?: (record: CachedRecord) => boolean): Generator<void, RecordList, void> {
  if (keep === undefined) return list;
  const out = new RecordList();
  let n = 0;
  for (const chunk of list.chunks()) {
    for (const record of chunk) {
      if ((++n & SLICE_MASK) === 0) yield;
      if (keep(record)) out.push(record);
    }
  }
  return out;
}
