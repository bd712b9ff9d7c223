/**
 * Shared storage for the records' encoded bytes. A copied Uint8Array per record costs an
 * ArrayBuffer, a backing store and a typed-array object each (~200 B beside the data), 1M small
 * mallocs that fragment RSS, and a GC that has to track 1M array buffers. Instead the bytes are
 * copied straight out of the network buffer into large slabs, and a record keeps (slab, offset,
 * length); views are made when the bytes are read.
 *
 * Bounded waste: a slab counts its live bytes; when a change replaces or deletes a record, its
 * bytes stop being live, and a slab (not the one being filled) whose live bytes fall below half
 * of what it holds is compacted: the records the replica still holds are re-copied into the
 * current slab, and the old slab is left to the GC (a caller still holding a replaced record
 * keeps only that slab alive). A snapshot writes the records it brings into slabs of its own; the
 * held records it lists unchanged keep their bytes where they are, unless the swap would leave
 * their slab below half live (then they are re-copied before the swap, and the slab let go).
 * Moving bytes is always safe: the content is identical and records are single-threaded.
 *
 * Where a slab's memory comes from ({@link SlabMemory}) decides how often V8 runs full
 * collections. V8 counts the bytes of ordinary ArrayBuffers as the isolate's "external memory"
 * and starts a full (mark-compact) collection each time that grows by 64 MB past what it was
 * after the last one; the memory of a SharedArrayBuffer it does not count per isolate. A snapshot
 * writes every record's bytes in one go: ~1.8 GB at a million sessions, which counted would start
 * ~28 full collections of a growing heap during the sync, none of which can free anything (every
 * byte is held), each one an event-loop stall at its end and CPU taken from the sync. So a
 * snapshot's slabs are shared memory (never shared with anything: only the kind of buffer
 * differs). Change slabs stay counted: the bytes that changes bring, and the records compaction
 * re-copies out of sparse slabs, keep pacing full collections as before, and those are what free
 * the slabs the replica let go of (a snapshot's slabs included). Either way a slab's bytes never
 * reach a caller: decoded bytes fields are copies (records/frozen-message.ts).
 */
import type { CachedRecord } from "./cached-record.js";
import type { DecodedMessages } from "./decoded-messages.js";

export const DEFAULT_SLAB_BYTES = 1 << 20;
/** A writer's first slab; each next one doubles up to the full size, so a small table stays small. */
const FIRST_SLAB_BYTES = 1 << 14;

export class ByteSlab {
  /** The whole slab; a record's bytes are `bytes[offset, offset + length)`. */
  readonly bytes: Uint8Array;
  /** Bytes written so far. */
  used = 0;
  /** Bytes of records not yet released. */
  live = 0;
  /** The records written here, for compaction; undefined for a record's own (unshared) bytes. */
  records: CachedRecord[] | undefined;
  /** A writer (the replica's or a snapshot's) is filling it: never compacted meanwhile. */
  filling = false;
  /**
   * The bound on decoded messages of the replica whose records these bytes belong to
   * (decoded-messages.ts); undefined for a record's own bytes (a record outside any replica keeps
   * its decoded message as long as it lives). Records find their replica's bound here, so a record
   * carries no field of its own for it.
   */
  readonly decoded: DecodedMessages | undefined;

  constructor(bytes: Uint8Array, shared: boolean, decoded: DecodedMessages | undefined) {
    this.bytes = bytes;
    this.records = shared ? [] : undefined;
    this.decoded = decoded;
  }

  /** A slab holding one record's own bytes, as they are (no copy). */
  static own(data: Uint8Array): ByteSlab {
    const slab = new ByteSlab(data, false, undefined);
    slab.used = slab.live = data.length;
    return slab;
  }
}

/**
 * Where a writer's slabs take their memory (see the file comment): "counted", ordinary
 * ArrayBuffers V8 counts toward starting full collections; "uncounted", SharedArrayBuffers it does
 * not. Where SharedArrayBuffer is missing, "uncounted" falls back to counted memory.
 */
export type SlabMemory = "counted" | "uncounted";

const sharedMemory = typeof SharedArrayBuffer === "function";

/**
 * A slab's memory as a plain Uint8Array (a Buffer's subarray() goes through Node's slower Buffer
 * path). Counted memory is not zero-filled (every byte is written before it is read); a
 * SharedArrayBuffer always is (fresh pages from the system, zero already).
 */
function slabMemory(size: number, memory: SlabMemory): Uint8Array {
  if (memory === "uncounted" && sharedMemory) return new Uint8Array(new SharedArrayBuffer(size));
  const buffer = Buffer.allocUnsafeSlow(size);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, size);
}

/** Where a write went; reused by every write (read it before the next one). */
export interface SlabPlace {
  slab: ByteSlab;
  offset: number;
}

/** Appends bytes to a chain of slabs, one being filled at a time. */
export class SlabWriter {
  readonly #slabBytes: number;
  readonly #decoded: DecodedMessages | undefined;
  readonly #memory: SlabMemory;
  #nextBytes: number;
  #fill: ByteSlab | undefined;
  readonly #place: SlabPlace = { slab: undefined as unknown as ByteSlab, offset: 0 };

  /**
   * @param decoded the bound on decoded messages of the replica the slabs' records belong to
   * @param memory where the slabs' memory comes from (see {@link SlabMemory})
   */
  constructor(slabBytes = DEFAULT_SLAB_BYTES, decoded?: DecodedMessages, memory: SlabMemory = "counted") {
    this.#slabBytes = slabBytes;
    this.#decoded = decoded;
    this.#memory = memory;
    this.#nextBytes = Math.min(FIRST_SLAB_BYTES, slabBytes);
  }

  /** Starts a new slab on the next write; the current one becomes compactable. */
  restart(): void {
    if (this.#fill !== undefined) this.#fill.filling = false;
    this.#fill = undefined;
  }

  /** Copies `data` in (`data` may be a view into a network buffer) and says where it went. */
  write(data: Uint8Array, record?: CachedRecord): SlabPlace {
    const length = data.length;
    let slab = this.#fill;
    if (length > this.#slabBytes >>> 2) {
      // A large record gets a slab of its own, so it never strands a mostly empty slab.
      slab = new ByteSlab(slabMemory(length, this.#memory), true, this.#decoded);
    } else if (slab === undefined || slab.used + length > slab.bytes.length) {
      if (slab !== undefined) slab.filling = false;
      while (this.#nextBytes < length) this.#nextBytes *= 2;
      slab = this.#fill = new ByteSlab(slabMemory(this.#nextBytes, this.#memory), true, this.#decoded);
      slab.filling = true;
      this.#nextBytes = Math.min(this.#nextBytes * 2, this.#slabBytes);
    }
    const offset = slab.used;
    slab.bytes.set(data, offset);
    slab.used = offset + length;
    slab.live += length;
    if (record !== undefined) slab.records?.push(record);
    this.#place.slab = slab;
    this.#place.offset = offset;
    return this.#place;
  }
}
