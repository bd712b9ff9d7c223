/**
 * The bound on decoded messages a replica keeps. A record's data is decoded on its first read
 * (cached-record.ts); a decoded demo session holds ~5.8 KB of heap against its ~1.9 KB of
 * encoded bytes, so a replica that kept every message it ever decoded would grow to about three
 * times its data once a service had read every record (at a million sessions, more than Node's
 * default heap). Instead the replica keeps the messages of the last `limit` records decoded, in
 * a ring: the oldest is let go when a new one comes in.
 *
 * Letting go does not break "every reader gets the same object": an evicted record keeps its
 * message through a WeakRef, so while any caller still holds the message, the record's next read
 * returns that very object (and keeps it again); only a message nobody holds is collected, and a
 * later read decodes an equal one, which no caller can tell apart from the first.
 *
 * Invariants (decoded-messages.test.ts, held-decoded-messages.test.ts):
 * - a record is in the ring exactly while it holds its message strongly, so it is never in the
 *   ring twice and the ring holds at most `limit` messages;
 * - a record the ring lets go holds its message only weakly, and `onEvicted` hears of it (the
 *   replica drops what its read fronts hold of that record's message, record-front.ts), so the
 *   replica as a whole keeps at most `limit` decoded messages besides those callers hold.
 */
import { weakenMessage, type CachedRecord } from "./cached-record.js";

/** Decoded messages a replica keeps by default: ~95 MB of demo sessions; a hot set of 4,096 ids fits four times over. */
export const DEFAULT_DECODED_MESSAGE_LIMIT = 16_384;

export class DecodedMessages {
  /**
   * The records holding their message strongly, oldest at `#next` once the ring is full. It grows
   * to `#limit` as records come in (a large limit costs nothing until it is used).
   */
  readonly #ring: CachedRecord[] = [];
  readonly #limit: number;
  #next = 0;
  readonly #onEvicted: (record: CachedRecord) => void;

  /**
   * @param limit how many records may hold their decoded message strongly (a positive integer)
   * @param onEvicted called for each record let go, once it holds its message only weakly
   */
  constructor(limit: number, onEvicted: (record: CachedRecord) => void) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError("the decoded message limit must be a positive integer");
    this.#limit = limit;
    this.#onEvicted = onEvicted;
  }

  /** How many records it may hold. */
  get limit(): number {
    return this.#limit;
  }

  /**
   * Takes in a record that has just come to hold its message strongly; once full, lets go of the
   * oldest to make room: that one holds its message only weakly from then on, and `onEvicted`
   * hears of it.
   */
  admit(record: CachedRecord): void {
    const ring = this.#ring;
    if (ring.length < this.#limit) {
      ring.push(record);
      return;
    }
    const at = this.#next;
    const out = ring[at] as CachedRecord;
    ring[at] = record;
    this.#next = at + 1 === ring.length ? 0 : at + 1;
    weakenMessage(out);
    this.#onEvicted(out);
  }
}
