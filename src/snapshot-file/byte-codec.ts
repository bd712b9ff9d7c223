/**
 * The primitive encodings of the snapshot format (FORMAT.md): unsigned LEB128 varints (bigint for
 * versions, which are uint64), length-prefixed UTF-8 strings and byte strings. The writer grows
 * one buffer; the reader throws {@link INCOMPLETE} when the bytes end inside a value, so a
 * streaming parser can wait for the next chunk and retry from the entry's start.
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Thrown by ByteReader when the input ends inside a value. */
export const INCOMPLETE = Symbol("incomplete");

/** A value that does not fit the format (a varint too long, bad UTF-8): the content is not ours. */
export class MalformedContentError extends Error {
  override readonly name = "MalformedContentError";
}

export class ByteWriter {
  #buffer: Uint8Array;
  #length = 0;

  constructor(capacity = 1024) {
    this.#buffer = new Uint8Array(capacity);
  }

  get length(): number {
    return this.#length;
  }

  #reserve(n: number): void {
    if (this.#length + n <= this.#buffer.length) return;
    let size = this.#buffer.length * 2;
    while (size < this.#length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = next;
  }

  byte(value: number): void {
    this.#reserve(1);
    this.#buffer[this.#length++] = value;
  }

  raw(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  /** A non-negative safe integer. */
  varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a non-negative safe integer: ${value}`);
    this.#reserve(8);
    while (value >= 0x80) {
      this.#buffer[this.#length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.#buffer[this.#length++] = value;
  }

  /** A uint64 (a version). */
  bigVarint(value: bigint): void {
    if (value < 0n || value >= 1n << 64n) throw new RangeError("not a uint64");
    if (value <= BigInt(Number.MAX_SAFE_INTEGER)) {
      this.varint(Number(value));
      return;
    }
    this.#reserve(10);
    while (value >= 0x80n) {
      this.#buffer[this.#length++] = Number(value & 0x7fn) | 0x80;
      value >>= 7n;
    }
    this.#buffer[this.#length++] = Number(value);
  }

  bytes(value: Uint8Array): void {
    this.varint(value.length);
    this.raw(value);
  }

  string(value: string): void {
    this.bytes(encoder.encode(value));
  }

  /** The bytes written so far (a view: valid until the next write or reset). */
  view(): Uint8Array {
    return this.#buffer.subarray(0, this.#length);
  }

  /** Takes the first `n` bytes out, keeping the rest. */
  take(n: number): Uint8Array {
    const out = this.#buffer.slice(0, n);
    this.#buffer.copyWithin(0, n, this.#length);
    this.#length -= n;
    return out;
  }

  reset(): void {
    this.#length = 0;
  }
}

export class ByteReader {
  offset = 0;

  constructor(readonly buffer: Uint8Array) {}

  get remaining(): number {
    return this.buffer.length - this.offset;
  }

  byte(): number {
    if (this.offset >= this.buffer.length) throw INCOMPLETE;
    return this.buffer[this.offset++]!;
  }

  raw(n: number): Uint8Array {
    if (this.offset + n > this.buffer.length) throw INCOMPLETE;
    const out = this.buffer.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) break;
        return value;
      }
      scale *= 0x80;
    }
    throw new MalformedContentError("varint out of range");
  }

  bigVarint(): bigint {
    let value = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      value |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) {
        if (value >= 1n << 64n) break;
        return value;
      }
      shift += 7n;
    }
    throw new MalformedContentError("uint64 varint out of range");
  }

  bytes(): Uint8Array {
    return this.raw(this.varint());
  }

  string(): string {
    const bytes = this.bytes();
    try {
      return decoder.decode(bytes);
    } catch {
      throw new MalformedContentError("a string is not UTF-8");
    }
  }
}
