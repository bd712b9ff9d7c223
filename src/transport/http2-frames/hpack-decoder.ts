/**
 * An HPACK decoder (RFC 7541): turns the header blocks a peer sends into name/value pairs, and
 * keeps the dynamic table the peer's encoder fills. One decoder per connection: the table is
 * shared by every header block received on it, in the order they arrive.
 *
 * A header block is a sequence of representations, each told apart by its first bits:
 * - `1xxxxxxx` an indexed field: the entry at the index (7-bit prefix integer);
 * - `01xxxxxx` a literal added to the dynamic table: name by index (6-bit prefix, 0 = a literal
 *   name follows), then the value;
 * - `001xxxxx` a dynamic table size update (5-bit prefix), only at the start of a block and at
 *   most the size this side allows (SETTINGS_HEADER_TABLE_SIZE);
 * - `0000xxxx` a literal not added, `0001xxxx` a literal never to be added by any hop (4-bit
 *   prefix name index).
 *
 * An integer with an N-bit prefix is the prefix's value when below 2^N - 1, else that plus the
 * following octets' low 7 bits, least significant group first, while the high bit is set. A
 * string is a Huffman flag (the high bit), a 7-bit prefix length, then that many octets. Indexes
 * 1-61 are the static table, 62 on the dynamic table's entries, newest first. An entry's size is
 * its name's and value's octets plus 32; adding one evicts the oldest entries until the table is
 * within its size, and an entry larger than the whole table empties it.
 *
 * Any violation is a compression error (HPACK errors end the connection: the two sides' tables
 * can no longer agree).
 */
import { huffmanDecode, HuffmanDecodeError } from "./hpack-huffman.js";
import { STATIC_TABLE } from "./hpack-static-table.js";

/** The size of an entry beyond its name and value octets. */
const ENTRY_OVERHEAD = 32;
/** Integers past this are refused: no length, index or size of ours comes near. */
const MAX_INTEGER = 2 ** 28;

/** A header block this side cannot decode: the connection must end with COMPRESSION_ERROR. */
export class HpackDecodeError extends Error {
  constructor(message: string) {
    super(`HPACK: ${message}`);
    this.name = "HpackDecodeError";
  }
}

export type HeaderField = readonly [name: string, value: string];

export class HpackDecoder {
  /** The most this side lets the peer's table hold (what it advertised). */
  readonly #limit: number;
  /** The table's size as the peer last set it (at most #limit). */
  #maxSize: number;
  #size = 0;
  /** Dynamic entries, oldest first (index 62 is the last). */
  #entries: HeaderField[] = [];
  /** Position after the last integer or string read. */
  #pos = 0;

  /** @param maxTableSize the SETTINGS_HEADER_TABLE_SIZE this side advertises (HTTP/2's default is 4,096) */
  constructor(maxTableSize = 4096) {
    this.#limit = maxTableSize;
    this.#maxSize = maxTableSize;
  }

  /** The dynamic table's current size in HPACK's accounting (for tests). */
  get tableSize(): number {
    return this.#size;
  }

  /** The dynamic table's entries, newest first (for tests). */
  get dynamicEntries(): readonly HeaderField[] {
    return [...this.#entries].reverse();
  }

  /**
   * Decodes one complete header block (the HEADERS frame's fragment and its CONTINUATIONs, joined).
   * @throws HpackDecodeError when the block is malformed
   */
  decode(block: Uint8Array): HeaderField[] {
    const fields: HeaderField[] = [];
    const end = block.length;
    let pos = 0;
    let fieldsSeen = false;
    try {
      while (pos < end) {
        const first = block[pos] as number;
        if ((first & 0x80) !== 0) {
          const index = this.#integer(block, pos, 7);
          pos = this.#pos;
          fields.push(this.#entry(index));
        } else if ((first & 0xc0) === 0x40) {
          const field = this.#literal(block, pos, 6);
          pos = this.#pos;
          fields.push(field);
          this.#add(field);
        } else if ((first & 0xe0) === 0x20) {
          if (fieldsSeen) throw new HpackDecodeError("dynamic table size update after a header field");
          const size = this.#integer(block, pos, 5);
          pos = this.#pos;
          if (size > this.#limit) throw new HpackDecodeError(`dynamic table size ${size} over the ${this.#limit} allowed`);
          this.#maxSize = size;
          this.#evict(0);
          continue;
        } else {
          const field = this.#literal(block, pos, 4);
          pos = this.#pos;
          fields.push(field);
        }
        fieldsSeen = true;
      }
    } catch (error) {
      if (error instanceof HuffmanDecodeError) throw new HpackDecodeError(error.message);
      throw error;
    }
    return fields;
  }

  #entry(index: number): HeaderField {
    if (index === 0) throw new HpackDecodeError("index 0");
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1] as HeaderField;
    const at = this.#entries.length - 1 - (index - STATIC_TABLE.length - 1);
    if (at < 0) throw new HpackDecodeError(`index ${index} past the dynamic table's ${this.#entries.length} entries`);
    return this.#entries[at] as HeaderField;
  }

  /** A literal field whose name index has an N-bit prefix at `pos`; leaves #pos after it. */
  #literal(block: Uint8Array, pos: number, prefixBits: number): HeaderField {
    const nameIndex = this.#integer(block, pos, prefixBits);
    let name: string;
    if (nameIndex === 0) {
      name = this.#string(block, this.#pos);
    } else {
      name = this.#entry(nameIndex)[0];
    }
    const value = this.#string(block, this.#pos);
    return [name, value];
  }

  #add(field: HeaderField): void {
    const size = field[0].length + field[1].length + ENTRY_OVERHEAD;
    if (size > this.#maxSize) {
      this.#entries = [];
      this.#size = 0;
      return;
    }
    this.#evict(size);
    this.#entries.push(field);
    this.#size += size;
  }

  /** Evicts the oldest entries until `room` more octets fit. */
  #evict(room: number): void {
    let drop = 0;
    while (this.#size + room > this.#maxSize && drop < this.#entries.length) {
      const [name, value] = this.#entries[drop] as HeaderField;
      this.#size -= name.length + value.length + ENTRY_OVERHEAD;
      drop++;
    }
    if (drop > 0) this.#entries.splice(0, drop);
  }

  /** An integer with an N-bit prefix starting at `pos`; sets #pos after it. */
  #integer(block: Uint8Array, pos: number, prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let value = (block[pos] as number) & max;
    pos++;
    if (value === max) {
      let shift = 1;
      for (;;) {
        if (pos >= block.length) throw new HpackDecodeError("integer cut short");
        const octet = block[pos++] as number;
        value += (octet & 0x7f) * shift;
        if (value > MAX_INTEGER) throw new HpackDecodeError("integer too large");
        if ((octet & 0x80) === 0) break;
        shift *= 128;
      }
    }
    this.#pos = pos;
    return value;
  }

  /** A string literal at `pos`; sets #pos after it. */
  #string(block: Uint8Array, pos: number): string {
    if (pos >= block.length) throw new HpackDecodeError("string cut short");
    const huffman = ((block[pos] as number) & 0x80) !== 0;
    const length = this.#integer(block, pos, 7);
    const start = this.#pos;
    const end = start + length;
    if (end > block.length) throw new HpackDecodeError("string cut short");
    this.#pos = end;
    if (huffman) return huffmanDecode(block, start, end);
    let out = "";
    for (let i = start; i < end; i++) out += String.fromCharCode(block[i] as number);
    return out;
  }
}
