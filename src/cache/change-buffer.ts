/**
 * One subscriber's bounded buffer of change batches, and its overflow policy.
 *
 * Bounds: at most `maxBatches` batches, and at most `maxBytes` of the buffered batches' record
 * data (the encoded data bytes of every upsert and delete; a buffered batch keeps those records,
 * replaced ones included, and the slabs holding their bytes, alive).
 *
 * Policy: when a batch arrives at a non-empty buffer that it would take past either bound,
 * everything buffered is dropped and replaced by ONE {@link OverflowMarker}; the new batch queues
 * behind it. The marker means "you missed changes: re-read the cache" (its reads are always
 * current), after which the batches that follow it apply on top as usual (they carry final
 * record states, so applying one the re-read already reflects is harmless). So a subscriber's
 * buffer never holds more than the bounds plus one batch (a single batch larger than `maxBytes`,
 * such as a big snapshot, is still delivered when the buffer is empty), and the producer never
 * waits.
 */
import { forEachBatchRecord, type ChangeBatch } from "../replica/change-batch.js";

/** Delivered instead of batches that a slow subscriber's full buffer had to drop. */
export interface OverflowMarker {
  readonly kind: "overflow";
  /** The type the subscription covers; undefined for a subscription to every mirrored type. */
  readonly type: string | undefined;
  /** How many batches were dropped (in total, if several overflows merged into this marker). */
  readonly droppedBatches: number;
}

/** What changes$ and changes() deliver: a replica batch, or the overflow marker. */
export type CacheChange = ChangeBatch | OverflowMarker;

export const DEFAULT_SUBSCRIBER_BUFFER_SIZE = 1024;
/** 64 MiB: about 35k realistic sessions' worth of changes waiting for one subscriber. */
export const DEFAULT_SUBSCRIBER_BUFFER_BYTES = 64 * 1024 * 1024;

/** The data bytes a batch keeps alive: what the byte bound counts. */
export function batchDataBytes(batch: ChangeBatch): number {
  let bytes = 0;
  forEachBatchRecord(batch, (r) => {
    bytes += r.dataLength;
  });
  return bytes;
}

export interface ChangeBufferLimits {
  readonly maxBatches: number;
  readonly maxBytes: number;
}

export class ChangeBuffer {
  readonly #limits: ChangeBufferLimits;
  readonly #type: string | undefined;
  // A ring would avoid shift()'s cost; buffers are small and drained in bulk, so an array with a head index is enough.
  #items: CacheChange[] = [];
  #itemBytes: number[] = [];
  #head = 0;
  #bytes = 0;

  constructor(limits: ChangeBufferLimits, type: string | undefined) {
    this.#limits = limits;
    this.#type = type;
  }

  /** Buffered entries (batches and at most one marker). */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** The data bytes of the buffered batches (see {@link batchDataBytes}). */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Adds a batch whose data bytes are `bytes` (computed once per batch by the caller); returns
   * true when this push overflowed the buffer (batches were dropped).
   */
  push(batch: ChangeBatch, bytes = batchDataBytes(batch)): boolean {
    const size = this.size;
    if (size === 0 || (size < this.#limits.maxBatches && this.#bytes + bytes <= this.#limits.maxBytes)) {
      this.#items.push(batch);
      this.#itemBytes.push(bytes);
      this.#bytes += bytes;
      return false;
    }
    let dropped = 0;
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i]!;
      dropped += item.kind === "overflow" ? item.droppedBatches : 1;
    }
    const marker: OverflowMarker = Object.freeze({ kind: "overflow", type: this.#type, droppedBatches: dropped });
    this.#items = [marker, batch];
    this.#itemBytes = [0, bytes];
    this.#head = 0;
    this.#bytes = bytes;
    return true;
  }

  shift(): CacheChange | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head]!;
    this.#bytes -= this.#itemBytes[this.#head]!;
    this.#items[this.#head] = undefined as unknown as CacheChange; // let it be collected
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#itemBytes = [];
      this.#head = 0;
    }
    return item;
  }

  clear(): void {
    this.#items = [];
    this.#itemBytes = [];
    this.#head = 0;
    this.#bytes = 0;
  }
}
