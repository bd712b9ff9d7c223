/**
 * A list of records appended one at a time, for lists as long as a table: a snapshot's upserts,
 * a resync's deletes. Why not an array: a JS array grows by copying every element it holds into a
 * larger store, in one step, and at a table's size that step is an event-loop stall of its own (in
 * a 1M-session sync, the upserts array's growth took 14, 21 and 36 ms at 386k, 580k and 870k
 * records). Here records go into chunks of {@link CHUNK}, which are never copied; the flat array
 * a change batch carries is filled once, at its exact size, in slices ({@link listToArray}).
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

  /** A list of `records`, in their order. */
  static of(records: Iterable<CachedRecord>): RecordList {
    const list = new RecordList();
    for (const record of records) list.push(record);
    return list;
  }
}

/**
 * The records of `list` that `keep` accepts (every one without it), in order, as one array of
 * exactly their number (allocated once: never grown), filled in slices: a `yield` every
 * SLICE_MASK + 1 records. `keep` may change the replica's side state (it runs once per record, in
 * order, between slices). The allocation itself is one step: for a million records, 8 MB of fresh
 * memory (measured 7 ms in process, 24 ms inside the cache during a 1M sync), the longest step of
 * a snapshot's finish; the batch the cache publishes is one array per type.
 */
export function* listToArray(list: RecordList, keep?: (record: CachedRecord) => boolean): Generator<void, CachedRecord[], void> {
  const out = new Array<CachedRecord>(list.length);
  let kept = 0;
  let n = 0;
  for (const chunk of list.chunks()) {
    for (const record of chunk) {
      if ((++n & SLICE_MASK) === 0) yield;
      if (keep === undefined || keep(record)) out[kept++] = record;
    }
  }
  out.length = kept;
  return out;
}
