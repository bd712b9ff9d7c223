/**
 * One record held by the replica. It keeps the ENCODED data bytes and decodes them only when
 * `message` is first read, then keeps the result: the hot set stays decoded, the cold majority
 * stays compact (a decoded demo session holds ~5.8 KB of heap; its encoded bytes are ~2 KB). A
 * replica bounds how many records keep their message (decoded-messages.ts): a record it lets go
 * holds the message through a WeakRef, so a reader still holding it gets that same object again,
 * and a message nobody holds is collected and decoded again on the next read.
 *
 * Instances are immutable per version: an update replaces the object, so a batch or a caller
 * holding one always sees a consistent record. Nothing a caller can reach changes the replica:
 * the instance is frozen (its public fields cannot be reassigned), the decoded message is
 * deep-frozen once when it is decoded (records/frozen-message.ts), and the bytes are private
 * (#slab); replica internals reach them through {@link recordBytes}, which src/index.ts does not
 * export.
 */
import type { DescMessage, Message } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { TimestampSchema, type Timestamp } from "@bufbuild/protobuf/wkt";
import { sameByteRanges } from "../records/buffer-slices.js";
import { coarseReading, tickCoarseClock, type Clock } from "../records/clock.js";
import { decodeRecordData } from "../records/decode-record-data.js";
import { deepFreezeMessage } from "../records/frozen-message.js";
import { schemaForTypeUrl } from "../records/record-registry.js";
import { scanStringField } from "../records/wire-scan.js";
import { ByteSlab, type SlabWriter } from "./byte-slab.js";

/** Holds the record's message strongly again (the one a reader may still hold, else a new decode). */
let loadOf: (record: CachedRecord, weak: WeakRef<Message> | undefined) => Message | undefined;
let weakenOf: (record: CachedRecord) => void;
let bytesOf: (record: CachedRecord) => Uint8Array;
let compareOf: (record: CachedRecord, other: CachedRecord | bigint) => number;
let moveOf: (record: CachedRecord, writer: SlabWriter) => void;
let slabOf: (record: CachedRecord) => ByteSlab;
let transientOf: (record: CachedRecord) => Message | undefined;
let isOfTypeOf: (record: CachedRecord, typeName: string, compute: (message: never) => number) => boolean;
let isPastLimitOf: (record: CachedRecord, clock: Clock | undefined) => boolean;
let copyLimitOf: (record: CachedRecord, to: Float64Array, at: number) => void;
let scanFieldOf: (record: CachedRecord, fieldNumber: number) => string | undefined;
let sameBytesOf: (record: CachedRecord, data: Uint8Array, start: number, end: number) => boolean;
let sameRecordBytesOf: (a: CachedRecord, b: CachedRecord) => boolean;

/** Marks a decode that failed (unknown type URL or malformed bytes), so it is not retried. */
const UNDECODABLE = null;

/**
 * Versions below this are held as a plain number. V8 keeps integers below 2^30 (2^31 without
 * pointer compression) in the field itself; a bigint is a separate heap object (24 bytes) that the
 * garbage collector marks and moves in every full collection. Record versions are a server's
 * change counter, so nearly every record's version is small; larger ones are kept as the bigint.
 */
const SMALL_VERSION_LIMIT = 0x40000000n;

/**
 * At most this many kinds are shared (see {@link kindOf}); past it, each record gets its own. A
 * replica sees a handful (its types, each with one data type URL); the bound only keeps a server
 * that sends ever new type URLs from growing the shared ones without end.
 */
const MAX_SHARED_KINDS = 1024;

/** What the records of one type with one data type URL share: one field of a record for both. */
class RecordKind {
  constructor(
    readonly type: string,
    readonly typeUrl: string,
  ) {
    Object.freeze(this);
  }
}

/** Shared kinds by type, then by type URL. */
const sharedKinds = new Map<string, Map<string, RecordKind>>();
let sharedKindCount = 0;

/** The kind asked for last: a sync brings records of one type and type URL in long runs. */
let lastKind: RecordKind | undefined;

/** The kind of records of `type` whose data is a `typeUrl`: the shared one while there is room. */
function kindOf(type: string, typeUrl: string): RecordKind {
  // Every record created goes through here (the sync's apply loop): the last kind answers
  // without the two Map lookups below.
  const last = lastKind;
  if (last !== undefined && last.type === type && last.typeUrl === typeUrl) return last;
  let byUrl = sharedKinds.get(type);
  let kind = byUrl?.get(typeUrl);
  if (kind !== undefined) return (lastKind = kind);
  kind = new RecordKind(type, typeUrl);
  if (sharedKindCount < MAX_SHARED_KINDS) {
    if (byUrl === undefined) sharedKinds.set(type, (byUrl = new Map()));
    byUrl.set(typeUrl, kind);
    sharedKindCount++;
    lastKind = kind;
  }
  return kind;
}

export class CachedRecord {
  readonly id: string;
  // The record's type and its data's type URL, shared with the records of the same kind (one
  // field for two: 8 bytes per record held).
  readonly #kind: RecordKind;
  // The encoded data: bytes [#offset, #offset + #length) of a slab shared with other records
  // (byte-slab.ts), or of the record's own slab.
  #slab: ByteSlab;
  // The version: a number when below SMALL_VERSION_LIMIT, else the bigint (see `version`).
  #version: number | bigint;
  #offset: number;
  #length: number;
  // The decoded message: undefined until first read; the message itself while the replica's
  // bound keeps it (or for good, for a record outside a replica); a WeakRef to it once the bound
  // let it go; UNDECODABLE when decoding failed.
  #message: Message | WeakRef<Message> | typeof UNDECODABLE | undefined = undefined;
  // modified_at as two numbers (nanos -1 = unset): a kept Timestamp message costs ~100 bytes.
  // No NaN sentinel: a field that ever holds a non-integer is boxed (a 16-byte HeapNumber per
  // record); seconds up to 2038 stay small integers stored in the field itself.
  #modifiedSeconds: number;
  #modifiedNanos: number;
  // The validity limit derived from the decoded message (see isOfType); undefined = not computed
  // yet. Not a NaN sentinel: a field that starts as a double is boxed in every record (16 B each),
  // this way only records read through a typed read pay for one.
  #invalidAfterMs: number | undefined = undefined;

  /**
   * @param data the encoded bytes, kept as they are (no copy); or a shared slab holding them at
   *   `offset` (replica internals, see byte-slab.ts)
   */
  constructor(
    type: string,
    id: string,
    version: bigint,
    modifiedAt: Timestamp | undefined,
    typeUrl: string,
    data: Uint8Array | ByteSlab,
    offset = 0,
    length = data instanceof ByteSlab ? data.used - offset : data.length,
  ) {
    this.#kind = kindOf(type, typeUrl);
    this.id = id;
    this.#version = version >= 0n && version < SMALL_VERSION_LIMIT ? Number(version) : version;
    this.#slab = data instanceof ByteSlab ? data : ByteSlab.own(data);
    this.#offset = offset;
    this.#length = length;
    this.#modifiedSeconds = modifiedAt === undefined ? 0 : Number(modifiedAt.seconds);
    this.#modifiedNanos = modifiedAt === undefined ? -1 : modifiedAt.nanos;
    // Private fields (the decoded message, the bytes' place) stay writable: freezing covers
    // only the public properties.
    Object.freeze(this);
  }

  /** The record's type (the databroker's record type). */
  get type(): string {
    return this.#kind.type;
  }

  /** The data's type URL (Any.type_url). */
  get typeUrl(): string {
    return this.#kind.typeUrl;
  }

  /** The record's version (record_version): the server's change counter when it was last written. */
  get version(): bigint {
    const v = this.#version;
    return typeof v === "number" ? BigInt(v) : v;
  }

  /** When the server last wrote the record; a new Timestamp on each read. */
  get modifiedAt(): Timestamp | undefined {
    if (this.#modifiedNanos < 0) return undefined;
    return create(TimestampSchema, { seconds: BigInt(this.#modifiedSeconds), nanos: this.#modifiedNanos });
  }

  /**
   * The decoded data, or undefined when its type URL is unknown to the SDK or the bytes are
   * malformed. Decoded on first read and deep-frozen then: every reader gets the same object and
   * none can change it (assignments throw in strict mode); bytes fields read as a fresh copy each
   * time. To change a message, copy it first (`clone(Schema, message)` from `@bufbuild/protobuf`).
   * The replica keeps the messages of the records it decoded last; a message nobody holds any
   * more may be collected, and is decoded again (equal, frozen) when next read.
   */
  get message(): Readonly<Message> | undefined {
    const m = this.#message;
    if (m === undefined || m instanceof WeakRef) return loadOf(this, m);
    return m ?? undefined;
  }

  /** The number of encoded data bytes held. */
  get dataLength(): number {
    return this.#length;
  }

  static {
    // A function here, not a private method: a class with private methods gives every instance
    // a brand slot (8 bytes per record held).
    loadOf = (record, weak) => {
      let message = weak?.deref();
      if (message === undefined) {
        const decoded = decodeRecordData(record.typeUrl, bytesOf(record));
        if (decoded === undefined) {
          record.#message = UNDECODABLE;
          return undefined;
        }
        // The schema that decoded it: decodeRecordData found it by the same type URL.
        message = deepFreezeMessage(schemaForTypeUrl(record.typeUrl) as DescMessage, decoded);
      }
      record.#message = message;
      record.#slab.decoded?.admit(record);
      return message;
    };
    // In the ring means held strongly (decoded-messages.ts): the field holds the message itself.
    weakenOf = (record) => {
      record.#message = new WeakRef(record.#message as Message);
    };
    bytesOf = (record) => {
      const bytes = record.#slab.bytes;
      const offset = record.#offset;
      const length = record.#length;
      return offset === 0 && length === bytes.length ? bytes : bytes.subarray(offset, offset + length);
    };
    // A number and a bigint compare exactly with < and > (no conversion, no allocation).
    compareOf = (record, other) => {
      const a = record.#version;
      const b = typeof other === "bigint" ? other : other.#version;
      return a < b ? -1 : a > b ? 1 : 0;
    };
    moveOf = (record, writer) => {
      const from = record.#slab;
      const place = writer.write(from.bytes.subarray(record.#offset, record.#offset + record.#length), record);
      from.live -= record.#length;
      record.#slab = place.slab;
      record.#offset = place.offset;
    };
    slabOf = (record) => record.#slab;
    // In place in the slab: a view per call would be a heap object per record ingested.
    scanFieldOf = (record, fieldNumber) => scanStringField(record.#slab.bytes, fieldNumber, record.#offset, record.#offset + record.#length);
    sameBytesOf = (record, data, start, end) => sameByteRanges(record.#slab.bytes, record.#offset, record.#offset + record.#length, data, start, end);
    sameRecordBytesOf = (a, b) => sameBytesOf(a, b.#slab.bytes, b.#offset, b.#offset + b.#length);
    // Full scans (free-text queries) must not decode and pin every record: decode without memoising.
    transientOf = (record) => {
      const m = record.#message;
      const held = m instanceof WeakRef ? m.deref() : m;
      if (held !== undefined) return held ?? undefined;
      return decodeRecordData(record.typeUrl, bytesOf(record));
    };
    // Both return booleans and compare inside: a double returned by a call that is not inlined
    // is boxed (a 16-byte allocation per read).
    isOfTypeOf = (record, typeName, compute) => {
      if (record.#invalidAfterMs === undefined) {
        const message = record.message;
        record.#invalidAfterMs = message !== undefined && message.$typeName === typeName ? compute(message as never) : NOT_OF_TYPE;
      }
      return record.#invalidAfterMs !== NOT_OF_TYPE;
    };
    // Stores the double without returning it (a returned double may be boxed).
    copyLimitOf = (record, to, at) => {
      to[at] = record.#invalidAfterMs as number;
    };
    isPastLimitOf = (record, clock) => {
      if (clock !== undefined) return clock.now() > (record.#invalidAfterMs as number);
      tickCoarseClock();
      return (coarseReading[0] as number) > (record.#invalidAfterMs as number);
    };
  }
}
// `type`, `typeUrl`, `version`, `message` are getters here: frozen, so nobody can swap one under
// every reader (the replica's own code reads them too).
Object.freeze(CachedRecord.prototype);

/**
 * Internal, for the replica's bound on decoded messages: the record, which holds its message
 * strongly, holds it through a WeakRef from now on (its next read takes it back if a reader still
 * holds it, else decodes again).
 */
export function weakenMessage(record: CachedRecord): void {
  weakenOf(record);
}

/** Internal: the encoded data bytes of a record (never hand these to callers). */
export function recordBytes(record: CachedRecord): Uint8Array {
  return bytesOf(record);
}

/**
 * Internal: -1, 0 or 1 as the record's version is below, equal to or above `other` (a version, or
 * another record's). Reads the held form directly: `record.version` would make a bigint for each
 * comparison, and the replica compares held versions for every change and every resynced record.
 */
export function compareVersion(record: CachedRecord, other: CachedRecord | bigint): number {
  return compareOf(record, other);
}

/**
 * Internal: the last top-level string field `fieldNumber` of the record's data, read in place
 * (see wire-scan.ts scanStringField; undefined when absent or malformed).
 */
export function scanRecordStringField(record: CachedRecord, fieldNumber: number): string | undefined {
  return scanFieldOf(record, fieldNumber);
}

/** Internal: the decoded message if the record holds one, else a throwaway decode that is not kept. */
export function transientMessage(record: CachedRecord): Message | undefined {
  return transientOf(record);
}

/** The validity limit of a record whose data is not of the asked type (or does not decode). */
const NOT_OF_TYPE = Number.NEGATIVE_INFINITY;

/**
 * Internal, for the typed reads (getSession, getUser, getServiceAccount): true when the record's
 * data is a `typeName` message. The first call reads the message and computes its validity limit
 * with `compute` (the instant after which it is invalid, in ms; +Infinity for never; never NaN or
 * -Infinity), kept for as long as the record lives (a number, unlike the message, which the
 * replica may let go): records are immutable per version, and a record is only read through its
 * own type's typed read, so one slot serves every type.
 */
export function isOfType<M extends Message>(record: CachedRecord, typeName: M["$typeName"], compute: (message: M) => number): boolean {
  return isOfTypeOf(record, typeName, compute as (message: never) => number);
}

/**
 * Internal: true when the clock reads strictly after the record's validity limit (call
 * {@link isOfType} first). Without a clock, the coarse system clock (records/clock.ts).
 */
export function isPastLimit(record: CachedRecord, clock: Clock | undefined): boolean {
  return isPastLimitOf(record, clock);
}

/** Internal: writes the validity limit isOfType memoised into `to[at]` (call isOfType first). */
export function copyValidityLimit(record: CachedRecord, to: Float64Array, at: number): void {
  copyLimitOf(record, to, at);
}

/** Internal: re-copies a record's bytes through `writer` (same content; see byte-slab.ts). */
export function moveRecordBytes(record: CachedRecord, writer: SlabWriter): void {
  moveOf(record, writer);
}

/** Internal: the slab holding a record's bytes. */
export function recordSlab(record: CachedRecord): ByteSlab {
  return slabOf(record);
}

/** True when two records carry the same version, type URL and data bytes. */
export function sameContent(a: CachedRecord, b: CachedRecord): boolean {
  if (compareOf(a, b) !== 0 || a.typeUrl !== b.typeUrl) return false;
  return sameRecordBytes(a, b);
}

/** True when two records' data bytes are equal (compared in place, in their slabs). */
export function sameRecordBytes(a: CachedRecord, b: CachedRecord): boolean {
  return sameRecordBytesOf(a, b);
}

/** True when a record's data bytes equal `data`. */
export function sameBytes(record: CachedRecord, data: Uint8Array): boolean {
  // Native memcmp, in place: a resync compares every held record, ~2 KB each.
  return sameBytesOf(record, data, 0, data.length);
}
