/**
 * Slab accounting: which slab (byte-slab.ts) each held record's bytes are written to, how many
 * of a slab's bytes are still live, and the compaction that keeps the waste bounded.
 *
 * Invariants:
 * - change records' bytes go to the replica's own writer, in counted memory (byte-slab.ts: what
 *   changes write paces the full collections that free dropped slabs); each snapshot writes the
 *   records it brings into a writer of its own (`snapshotWriter`), in uncounted memory; a held
 *   record it lists unchanged keeps its bytes where they are (a resync that changes little copies
 *   little), except in a slab the swap would leave below half live, whose kept records are
 *   re-copied before the swap (`evacuateSparseSlabs`), so that slab is let go at the swap;
 * - every record the replica stops holding (replaced, deleted, dropped by a swap) has its bytes
 *   released from its slab's live count, once;
 * - a slab not being filled whose live bytes fall below half of what it holds is compacted, one
 *   slab per change event (bounded work): only records still held are re-copied; a slab with
 *   nothing live is let go (the GC takes it once callers let go of its records);
 * - after a swap, change records start a fresh slab: the one being filled may hold records the
 *   swap just dropped.
 */
import { SlabWriter, type ByteSlab } from "./byte-slab.js";
import { CachedRecord, moveRecordBytes, recordSlab } from "./cached-record.js";
import type { DecodedMessages } from "./decoded-messages.js";
import type { RawRecord } from "./replica-events.js";
import { SLICE_MASK } from "./sliced-work.js";
import type { TableMap } from "./table-map.js";

export class SlabAccounting {
  /** Where change records' bytes go (byte-slab.ts); each snapshot has a writer of its own. */
  readonly changeWriter: SlabWriter;
  readonly #slabBytes: number | undefined;
  /** The replica's bound on decoded messages, carried by every slab its writers start. */
  readonly #decoded: DecodedMessages;
  /** Slabs below half live, compacted one per change event. */
  readonly #sparse = new Set<ByteSlab>();
  /** The held tables: a record is re-copied by compaction only while it is the one held. */
  readonly #tables: TableMap;

  /**
   * @param slabBytes the size of the slabs (byte-slab.ts default when undefined)
   * @param decoded the replica's bound on decoded messages (decoded-messages.ts)
   */
  constructor(tables: TableMap, slabBytes: number | undefined, decoded: DecodedMessages) {
    this.#tables = tables;
    this.#slabBytes = slabBytes;
    this.#decoded = decoded;
    this.changeWriter = new SlabWriter(slabBytes, decoded);
  }

  /**
   * A writer for one snapshot's records, into memory V8 does not count toward starting full
   * collections (byte-slab.ts): a snapshot writes all its bytes at once, and counted they would
   * start one full collection per 64 MB written, none of which could free anything.
   */
  snapshotWriter(): SlabWriter {
    return new SlabWriter(this.#slabBytes, this.#decoded, "uncounted");
  }

  /** Change records start a fresh slab (after a swap: the one being filled may hold dropped records). */
  restartChangeWriter(): void {
    this.changeWriter.restart();
  }

  /** Accounts bytes that no held record uses any more; a slab below half live gets compacted. */
  released(slab: ByteSlab, bytes: number): void {
    slab.live -= bytes;
    if (slab.records === undefined || slab.filling) return;
    if (slab.live <= 0) {
      slab.records = undefined; // nothing held here: the GC takes it once callers let go
    } else if (belowHalfLive(slab, slab.live)) {
      this.#sparse.add(slab);
    }
  }

  /** Re-copies the held records of one sparse slab, if any, into the current one (bounded work). */
  compactOne(): void {
    if (this.#sparse.size === 0) return;
    const slab = this.#sparse.values().next().value;
    if (slab === undefined) return;
    this.#sparse.delete(slab);
    const records = slab.records;
    if (records === undefined) return; // already compacted or emptied
    slab.records = undefined;
    for (const record of records) {
      if (recordSlab(record) === slab && this.#tables.get(record.type)?.peek(record.id) === record) moveRecordBytes(record, this.changeWriter);
    }
  }
}

/** The compaction threshold: a slab whose live bytes would be `live` holds less than half live data. */
function belowHalfLive(slab: ByteSlab, live: number): boolean {
  return live * 2 < slab.used;
}

/** A record whose bytes are copied into `writer`'s slab (`data` may be a view into a network buffer). */
export function createRecord(raw: RawRecord, type: string, typeUrl: string, data: Uint8Array, writer: SlabWriter): CachedRecord {
  const place = writer.write(data);
  const slab = place.slab;
  const record = new CachedRecord(type, raw.id, raw.version, raw.modifiedAt, typeUrl, slab, place.offset, data.length);
  slab.records?.push(record);
  return record;
}

/**
 * Before a snapshot's swap, in slices: for each slab the swap would leave below half live (it
 * drops `dead.get(slab)` of its live bytes), re-copies the records still in it that the swap
 * keeps (`kept`) into the snapshot's writer. After the swap such a slab has nothing live and is
 * let go; every other slab stays at least half live, as compaction keeps slabs between swaps.
 * Moving bytes before the swap changes nothing a reader sees (the content is the same).
 */
export function* evacuateSparseSlabs(dead: ReadonlyMap<ByteSlab, number>, kept: (record: CachedRecord) => boolean, writer: SlabWriter): Generator<void, void, void> {
  let n = 0;
  for (const [slab, bytes] of dead) {
    const records = slab.records;
    if (records === undefined || slab.filling || !belowHalfLive(slab, slab.live - bytes)) continue;
    for (const record of records) {
      if ((++n & SLICE_MASK) === 0) yield;
      // Checked at the move: a change event between slices may have moved or dropped it.
      if (recordSlab(record) === slab && kept(record)) moveRecordBytes(record, writer);
    }
  }
}
