/**
 * One subscriber's bounded buffer of change batches, and its overflow policy.
 *
 * Policy: when a batch arrives and the buffer already holds `capacity` entries, everything
 * buffered is dropped and replaced by ONE {@link OverflowMarker}; newer batches queue behind it.
 * The marker means "you missed changes: re-read the cache" (its reads are always current), after
 * which the batches that follow it apply on top as usual (they carry final record states, so
 * applying one the re-read already reflects is harmless). Memory per subscriber is therefore
 * bounded by `capacity` batches (+1 marker), and the producer never waits.
 */
import type { ChangeBatch } from "../replica/change-batch.js";

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

export class ChangeBuffer {
  readonly #capacity: number;
  readonly #type: string | undefined;
  // A ring would avoid shift()'s cost; buffers are small and drained in bulk, so an array with a head index is enough.
  #items: CacheChange[] = [];
  #head = 0;

  constructor(capacity: number, type: string | undefined) {
    this.#capacity = capacity;
    this.#type = type;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Adds a batch; returns true when this push overflowed the buffer (batches were dropped). */
  push(batch: ChangeBatch): boolean {
    if (this.size < this.#capacity) {
      this.#items.push(batch);
      return false;
    }
    let dropped = 0;
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i]!;
      dropped += item.kind === "overflow" ? item.droppedBatches : 1;
    }
    this.#items = [{ kind: "overflow", type: this.#type, droppedBatches: dropped }, batch];
    this.#head = 0;
    return true;
  }

  shift(): CacheChange | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head]!;
    this.#items[this.#head] = undefined as unknown as CacheChange; // let it be collected
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    }
    return item;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}
