/**
 * Cuts gRPC messages out of a call's DATA as it arrives: each is a 5-octet prefix (a flags
 * octet, bit 0 for compression, then the length as a big-endian uint32) and that many octets. A
 * message within one chunk is handed out as a view of it; one split over chunks as a copy.
 */
const PREFIX_BYTES = 5;
const COMPRESSED_FLAG = 0x01;
const NO_PREFIX = -1;
const EMPTY = new Uint8Array(0);
const EMPTY_CHUNK = Buffer.alloc(0);
/** Read chunks kept at the array's front before it is compacted. */
const COMPACT_AFTER = 1024;

export class GrpcMessageAssembler {
  /**
   * Unread DATA: the chunks from #first on (the ones before are read; the array is compacted now
   * and then, not shifted per chunk, which would cost a copy of the rest each time), the read
   * position in the first, and the unread octets in all.
   */
  #chunks: Buffer[] = [];
  #first = 0;
  #offset = 0;
  #buffered = 0;
  /** Octets handed out (prefixes included) since `takeReadOctets` last asked. */
  #read = 0;
  /** The length of the message being read once its prefix has been; NO_PREFIX before. */
  #length = NO_PREFIX;
  /** Whether the message `next()` last returned was flagged compressed. */
  compressed = false;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /** The octets of the messages handed out since the last call: what a reader has taken. */
  takeReadOctets(): number {
    const n = this.#read;
    this.#read = 0;
    return n;
  }

  /** The next complete message's octets, or undefined until more DATA comes. */
  next(): Uint8Array | undefined {
    if (this.#length === NO_PREFIX) {
      if (this.#buffered < PREFIX_BYTES) return undefined;
      this.#readPrefix();
    }
    if (this.#buffered < this.#length) return undefined;
    const bytes = this.#take(this.#length);
    this.#length = NO_PREFIX;
    return bytes;
  }

  /** True when part of a message has come and the rest has not. */
  get midMessage(): boolean {
    return this.#buffered > 0 || this.#length !== NO_PREFIX;
  }

  clear(): void {
    this.#chunks = [];
    this.#first = 0;
    this.#offset = 0;
    this.#buffered = 0;
    this.#length = NO_PREFIX;
  }

  /**
   * Reads a message's 5-octet prefix: in place when it lies in one chunk (the usual case; no
   * view per message), else from a copy.
   */
  #readPrefix(): void {
    const first = this.#chunks[this.#first] as Buffer;
    const at = this.#offset;
    if (first.length - at > PREFIX_BYTES) {
      this.compressed = ((first[at] as number) & COMPRESSED_FLAG) !== 0;
      this.#length = first.readUInt32BE(at + 1);
      this.#offset += PREFIX_BYTES;
      this.#buffered -= PREFIX_BYTES;
      this.#read += PREFIX_BYTES;
      return;
    }
    const prefix = this.#take(PREFIX_BYTES);
    this.compressed = ((prefix[0] as number) & COMPRESSED_FLAG) !== 0;
    this.#length = (((prefix[1] as number) << 24) | ((prefix[2] as number) << 16) | ((prefix[3] as number) << 8) | (prefix[4] as number)) >>> 0;
  }

  /** The next `n` buffered octets: a view into one chunk when they lie in it, else a copy. */
  #take(n: number): Uint8Array {
    if (n === 0) return EMPTY;
    this.#buffered -= n;
    this.#read += n;
    const first = this.#chunks[this.#first] as Buffer;
    const start = this.#offset;
    if (first.length - start >= n) {
      this.#offset += n;
      if (this.#offset === first.length) this.#nextChunk();
      return first.subarray(start, start + n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[this.#first] as Buffer;
      const count = Math.min(chunk.length - this.#offset, n - filled);
      chunk.copy(out, filled, this.#offset, this.#offset + count);
      filled += count;
      this.#offset += count;
      if (this.#offset === chunk.length) this.#nextChunk();
    }
    return out;
  }

  /** Moves past the first chunk (read to its end). */
  #nextChunk(): void {
    this.#chunks[this.#first] = EMPTY_CHUNK;
    this.#first++;
    this.#offset = 0;
    if (this.#first === this.#chunks.length) {
      this.#chunks.length = 0;
      this.#first = 0;
    } else if (this.#first >= COMPACT_AFTER) {
      this.#chunks.splice(0, this.#first);
      this.#first = 0;
    }
  }
}
