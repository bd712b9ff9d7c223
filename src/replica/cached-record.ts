/**
 * One record held by the replica. It keeps the ENCODED data bytes and decodes them only when
 * `message` is first read, then memoises the result: the hot set stays decoded, the cold majority
 * stays compact (performance-facts.md: ~5.8 KB per decoded session vs ~2 KB as bytes).
 *
 * Instances are immutable per version: an update replaces the object, so a batch or a caller
 * holding one always sees a consistent record. The bytes are private (#data); replica internals
 * reach them through {@link recordBytes}, which src/index.ts does not export.
 */
import type { Message } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { TimestampSchema, type Timestamp } from "@bufbuild/protobuf/wkt";
import { decodeRecordData } from "../records/decode-record-data.js";

let bytesOf: (record: CachedRecord) => Uint8Array;
let transientOf: (record: CachedRecord) => Message | undefined;
let invalidAfterOf: <M extends Message>(record: CachedRecord, message: M, compute: (message: M) => number) => number;

/** Marks a decode that failed (unknown type URL or malformed bytes), so it is not retried. */
const UNDECODABLE = null;

export class CachedRecord {
  readonly type: string;
  readonly id: string;
  readonly version: bigint;
  /** The data's type URL (Any.type_url). */
  readonly typeUrl: string;
  #data: Uint8Array;
  #message: Message | typeof UNDECODABLE | undefined = undefined;
  // modified_at as two numbers (NaN seconds = unset): a kept Timestamp message costs ~100 bytes.
  #modifiedSeconds: number;
  #modifiedNanos: number;
  // The validity limit derived from the decoded message (NaN = not computed yet).
  #invalidAfterMs = Number.NaN;

  constructor(type: string, id: string, version: bigint, modifiedAt: Timestamp | undefined, typeUrl: string, data: Uint8Array) {
    this.type = type;
    this.id = id;
    this.version = version;
    this.typeUrl = typeUrl;
    this.#data = data;
    this.#modifiedSeconds = modifiedAt === undefined ? Number.NaN : Number(modifiedAt.seconds);
    this.#modifiedNanos = modifiedAt === undefined ? 0 : modifiedAt.nanos;
  }

  /** When the server last wrote the record; a new Timestamp on each read. */
  get modifiedAt(): Timestamp | undefined {
    if (Number.isNaN(this.#modifiedSeconds)) return undefined;
    return create(TimestampSchema, { seconds: BigInt(this.#modifiedSeconds), nanos: this.#modifiedNanos });
  }

  /**
   * The decoded data, or undefined when its type URL is unknown to the SDK or the bytes are
   * malformed. Decoded once, on first read. Treat it as read-only: it is shared by every reader.
   */
  get message(): Message | undefined {
    let m = this.#message;
    if (m === undefined) {
      m = decodeRecordData(this.typeUrl, this.#data) ?? UNDECODABLE;
      this.#message = m;
    }
    return m ?? undefined;
  }

  /** The number of encoded data bytes held. */
  get dataLength(): number {
    return this.#data.length;
  }

  static {
    bytesOf = (record) => record.#data;
    // Full scans (free-text queries) must not decode and pin every record: decode without memoising.
    transientOf = (record) => {
      const m = record.#message;
      if (m !== undefined) return m ?? undefined;
      return decodeRecordData(record.typeUrl, record.#data);
    };
    invalidAfterOf = (record, message, compute) => {
      let limit = record.#invalidAfterMs;
      if (Number.isNaN(limit)) record.#invalidAfterMs = limit = compute(message);
      return limit;
    };
  }
}

/** Internal: the encoded data bytes of a record (never hand these to callers). */
export function recordBytes(record: CachedRecord): Uint8Array {
  return bytesOf(record);
}

/** Internal: the decoded message if memoised, else a throwaway decode that is not kept. */
export function transientMessage(record: CachedRecord): Message | undefined {
  return transientOf(record);
}

/**
 * Internal: the instant after which the record's (decoded, memoised) message is invalid,
 * computed with `compute` on first use and kept, like the message itself (records are
 * immutable per version).
 */
export function invalidAfterMs<M extends Message>(record: CachedRecord, message: M, compute: (message: M) => number): number {
  return invalidAfterOf(record, message, compute);
}

/** True when two records carry the same version, type URL and data bytes. */
export function sameContent(a: CachedRecord, b: CachedRecord): boolean {
  if (a.version !== b.version || a.typeUrl !== b.typeUrl) return false;
  const x = bytesOf(a);
  const y = bytesOf(b);
  // Native memcmp: a resync compares every held record, ~2 KB each.
  return x.length === y.length && Buffer.compare(x, y) === 0;
}
