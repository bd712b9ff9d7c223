/**
 * A minimal protobuf wire-format scanner. Index keys need one or two string fields of a record's
 * data; scanning for them is several times cheaper than a full decode and allocates only the
 * resulting string (measured on the bench machine: ~1.4M records/s scanned vs ~100k/s decoded).
 *
 * All functions take a [start, end) window of a buffer so nested messages scan in place.
 */
import { decodeUtf8Range } from "./buffer-slices.js";

/** Octets of the varint encoding of a non-negative integer below 2^53. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_START_GROUP = 3;
export const WIRE_END_GROUP = 4;
export const WIRE_FIXED32 = 5;

/** Thrown on bytes that are not valid wire format. Internal: callers turn it into "no value". */
export class MalformedWireError extends Error {
  override readonly name = "MalformedWireError";
}

/** One field occurrence found by {@link nextField}. Reused by the caller to avoid allocation. */
export interface WireField {
  fieldNumber: number;
  wireType: number;
  /** For LEN: the payload window. For VARINT/FIXED: the bytes of the value. */
  valueStart: number;
  valueEnd: number;
}

export function newWireField(): WireField {
  return { fieldNumber: 0, wireType: 0, valueStart: 0, valueEnd: 0 };
}

/** Reads a varint's end position (value not needed); throws on truncation. */
function skipVarint(bytes: Uint8Array, pos: number, end: number): number {
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new MalformedWireError("truncated varint");
    if ((bytes[pos++] as number) < 0x80) return pos;
  }
  throw new MalformedWireError("varint too long");
}

/** Reads a varint up to 2^53 as a number (tags and lengths are far smaller). */
function readVarint(bytes: Uint8Array, pos: number, end: number, out: { pos: number }): number {
  let result = 0;
  let factor = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new MalformedWireError("truncated varint");
    const b = bytes[pos++] as number;
    result += (b & 0x7f) * factor;
    if (b < 0x80) {
      out.pos = pos;
      return result;
    }
    factor *= 128;
  }
  throw new MalformedWireError("varint too long");
}

const cursor = { pos: 0 };

/**
 * Reads the field at `pos` into `field` and returns the position after it.
 * @throws MalformedWireError
 */
export function nextField(bytes: Uint8Array, pos: number, end: number, field: WireField): number {
  const tag = readVarint(bytes, pos, end, cursor);
  pos = cursor.pos;
  const fieldNumber = Math.floor(tag / 8);
  const wireType = tag & 7;
  if (fieldNumber === 0) throw new MalformedWireError("field number 0");
  field.fieldNumber = fieldNumber;
  field.wireType = wireType;
  switch (wireType) {
    case WIRE_VARINT:
      field.valueStart = pos;
      pos = skipVarint(bytes, pos, end);
      break;
    case WIRE_FIXED64:
      field.valueStart = pos;
      pos += 8;
      break;
    case WIRE_FIXED32:
      field.valueStart = pos;
      pos += 4;
      break;
    case WIRE_LEN: {
      const len = readVarint(bytes, pos, end, cursor);
      field.valueStart = cursor.pos;
      pos = cursor.pos + len;
      break;
    }
    case WIRE_START_GROUP:
      field.valueStart = pos;
      pos = skipGroup(bytes, pos, end, fieldNumber);
      break;
    default:
      throw new MalformedWireError(`unexpected wire type ${wireType}`);
  }
  if (pos > end) throw new MalformedWireError("truncated field");
  field.valueEnd = pos;
  return pos;
}

function skipGroup(bytes: Uint8Array, pos: number, end: number, fieldNumber: number): number {
  const inner = newWireField();
  while (pos < end) {
    const tag = readVarint(bytes, pos, end, cursor);
    if ((tag & 7) === WIRE_END_GROUP) {
      if (Math.floor(tag / 8) !== fieldNumber) throw new MalformedWireError("mismatched end group");
      return cursor.pos;
    }
    pos = nextField(bytes, pos, end, inner);
  }
  throw new MalformedWireError("unterminated group");
}

/** True when the value bytes of a VARINT/FIXED occurrence are all zero (the proto3 default). */
export function isZeroScalar(bytes: Uint8Array, field: WireField): boolean {
  if (field.wireType === WIRE_LEN) return field.valueStart === field.valueEnd;
  if (field.wireType === WIRE_VARINT) {
    // A zero varint may be over-long (0x80 0x00) but every payload bit is still 0.
    for (let i = field.valueStart; i < field.valueEnd; i++) if (((bytes[i] as number) & 0x7f) !== 0) return false;
    return true;
  }
  for (let i = field.valueStart; i < field.valueEnd; i++) if (bytes[i] !== 0) return false;
  return true;
}

const scratch = newWireField();

/**
 * The last occurrence of a top-level string field (protobuf's "last one wins"), or undefined when
 * absent, not length-delimited, or the bytes are malformed. An empty string counts as present.
 * The message is `bytes[from, to)` (all of `bytes` by default), read in place.
 */
export function scanStringField(bytes: Uint8Array, fieldNumber: number, from = 0, to = bytes.length): string | undefined {
  let pos = from;
  const end = to;
  let start = -1;
  let stop = -1;
  try {
    while (pos < end) {
      pos = nextField(bytes, pos, end, scratch);
      if (scratch.fieldNumber === fieldNumber && scratch.wireType === WIRE_LEN) {
        start = scratch.valueStart;
        stop = scratch.valueEnd;
      }
    }
  } catch (err) {
    if (err instanceof MalformedWireError) return undefined;
    throw err;
  }
  return start < 0 ? undefined : decodeUtf8Range(bytes, start, stop);
}

/**
 * True when the bytes parse as a sequence of top-level fields (every tag, length and group
 * well-formed). Nested messages are not descended into: this is the index scan's own check, the
 * cheap way to refuse garbage at ingest without a full decode.
 */
export function isWellFormedWire(bytes: Uint8Array): boolean {
  let pos = 0;
  const end = bytes.length;
  try {
    while (pos < end) pos = nextField(bytes, pos, end, scratch);
  } catch (err) {
    if (err instanceof MalformedWireError) return false;
    throw err;
  }
  return true;
}
