/**
 * Cuts gRPC messages out of a call's DATA as it arrives: each is a 5-octet prefix (a flags
 * octet, bit 0 for compression, then the length as a big-endian uint32) and that many octets. A
 * message within one chunk is handed out as a view of it; one split over chunks as a copy.
 */
const PREFIX_BYTES = 5;
const COMPRESSED_FLAG = 0x01;
const NO_PREFIX = -1;
const EMPTY = new Uint8Array(0);

export class GrpcMessageAssembler {
  /** Unread DATA: the chunks, the read position in the first, and the octets in all. */
  #chunks: Buffer[] = [];
  #offset = 0;
  #buffered = 0;
  /** The length of the message being read once its prefix has been; NO_PREFIX before. */
  #length = NO_PREFIX;
  /** Whether the message `next()` last returned was flagged compressed. */
  compressed = false;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
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
    this.#offset = 0;
    this.#buffered = 0;
    this.#length = NO_PREFIX;
  }

  /**
   * Reads a message's 5-octet prefix: in place when it lies in one chunk (the usual case; no
   * view per message), else from a copy.
   */
  #readPrefix(): void {
    const first = this.#chunks[0] as Buffer;
    const at = this.#offset;
    if (first.length - at > PREFIX_BYTES) {
      this.compressed = ((first[at] as number) & COMPRESSED_FLAG) !== 0;
      this.#length = first.readUInt32BE(at + 1);
      this.#offset += PREFIX_BYTES;
      this.#buffered -= PREFIX_BYTES;
      return;
    }
    const prefix = this.#take(PREFIX_BYTES);
    this.compressed = ((prefix[0] as number) & COMPRESSED_FLAG) !== 0;
    this.#length = (((prefix[1] as number) << 24) | ((prefix[2] as number) << 16) | ((prefix[3] as number) << 8) | (prefix[4] as number)) >>> 0;
  }

  /** The next `n` buffered octets: a view into one chunk when they lie in it, else a copy. */
  #take(n: number): Uint8Array {
    if (n === 0) return EMPTY;
    const first = this.#chunks[0] as Buffer;
    const start = this.#offset;
    this.#buffered -= n;
    if (first.length - start >= n) {
      this.#offset += n;
      if (this.#offset === first.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
      return first.subarray(start, start + n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0] as Buffer;
      const count = Math.min(chunk.length - this.#offset, n - filled);
      chunk.copy(out, filled, this.#offset, this.#offset + count);
      filled += count;
      this.#offset += count;
      if (this.#offset === chunk.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
    }
    return out;
  }
}
