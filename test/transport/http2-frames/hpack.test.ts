import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HpackDecodeError, HpackDecoder, type HeaderField } from "../../../src/transport/http2-frames/hpack-decoder.js";
import { encodeHeaderBlock } from "../../../src/transport/http2-frames/hpack-encoder.js";
import { HUFFMAN_CODES, huffmanDecode, HuffmanDecodeError } from "../../../src/transport/http2-frames/hpack-huffman.js";

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ""), "hex"));

/** A Huffman encoder written from the protocol (codes MSB first, padded with ones), for the tests. */
function huffmanEncode(text: string): Uint8Array {
  const bits: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const { code, length } = HUFFMAN_CODES[text.charCodeAt(i)] as { code: number; length: number };
    for (let b = length - 1; b >= 0; b--) bits.push(Math.floor(code / 2 ** b) % 2);
  }
  while (bits.length % 8 !== 0) bits.push(1);
  const out = new Uint8Array(bits.length / 8);
  for (let i = 0; i < bits.length; i++) out[i >> 3] = (out[i >> 3] as number) | ((bits[i] as number) << (7 - (i % 8)));
  return out;
}

describe("HPACK Huffman code", () => {
  it("is a complete prefix code of 257 symbols whose longest code is EOS's 30 ones", () => {
    expect(HUFFMAN_CODES).toHaveLength(257);
    // Kraft's equality: a complete prefix code's lengths satisfy sum 2^-length = 1.
    expect(HUFFMAN_CODES.reduce((sum, { length }) => sum + 2 ** -length, 0)).toBe(1);
    expect(HUFFMAN_CODES[256]).toEqual({ code: 2 ** 30 - 1, length: 30 });
    // Codes the RFC's table lists: '0' is 00000 (5 bits), 'a' 00011, 'e' 00101, ' ' 010100 (6).
    expect(HUFFMAN_CODES["0".charCodeAt(0)]).toEqual({ code: 0b00000, length: 5 });
    expect(HUFFMAN_CODES["a".charCodeAt(0)]).toEqual({ code: 0b00011, length: 5 });
    expect(HUFFMAN_CODES["e".charCodeAt(0)]).toEqual({ code: 0b00101, length: 5 });
    expect(HUFFMAN_CODES[" ".charCodeAt(0)]).toEqual({ code: 0b010100, length: 6 });
  });

  it("decodes the RFC's examples", () => {
    const www = hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff");
    expect(huffmanDecode(www, 0, www.length)).toBe("www.example.com");
    const noCache = hex("a8eb 1064 9cbf");
    expect(huffmanDecode(noCache, 0, noCache.length)).toBe("no-cache");
  });

  it("decodes what the protocol's encoding of any octet string gives", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (octets) => {
        const text = String.fromCharCode(...octets);
        const encoded = huffmanEncode(text);
        expect(huffmanDecode(encoded, 0, encoded.length)).toBe(text);
      }),
    );
  });

  it("refuses padding of 8 bits or more, padding with a zero, and EOS inside the string", () => {
    // "0" is 00000: padded with 111 to one octet; an extra 0xff octet is 8 more bits of padding.
    expect(huffmanDecode(Uint8Array.of(0b00000111), 0, 1)).toBe("0");
    expect(() => huffmanDecode(Uint8Array.of(0b00000111, 0xff), 0, 2)).toThrow(HuffmanDecodeError);
    expect(() => huffmanDecode(Uint8Array.of(0b00000110), 0, 1)).toThrow(/padding/);
    // EOS (30 ones) then padding: 32 ones.
    expect(() => huffmanDecode(Uint8Array.of(0xff, 0xff, 0xff, 0xff), 0, 4)).toThrow(/EOS/);
  });
});

describe("HpackDecoder", () => {
  it("decodes the RFC's request examples with Huffman coding, keeping the dynamic table as it says", () => {
    const decoder = new HpackDecoder();
    expect(decoder.decode(hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"))).toEqual([
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
    ]);
    expect(decoder.tableSize).toBe(57);
    expect(decoder.decode(hex("8286 84be 5886 a8eb 1064 9cbf"))).toEqual([
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
      ["cache-control", "no-cache"],
    ]);
    expect(decoder.tableSize).toBe(110);
    expect(decoder.decode(hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"))).toEqual([
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ]);
    expect(decoder.dynamicEntries).toEqual([
      ["custom-key", "custom-value"],
      ["cache-control", "no-cache"],
      [":authority", "www.example.com"],
    ]);
    expect(decoder.tableSize).toBe(164);
  });

  it("evicts the oldest entries to make room, and empties the table for an entry larger than it", () => {
    // A 100-octet table: entries of 32 + name + value octets.
    const decoder = new HpackDecoder(100);
    const add = (name: string, value: string) => encodeIncremental(name, value);
    decoder.decode(add("a", "1".repeat(30))); // 63
    decoder.decode(add("b", "2")); // 34: 97 in all
    expect(decoder.dynamicEntries.map(([n]) => n)).toEqual(["b", "a"]);
    decoder.decode(add("c", "3")); // 34 more: "a" goes
    expect(decoder.dynamicEntries.map(([n]) => n)).toEqual(["c", "b"]);
    expect(decoder.tableSize).toBe(68);
    // The newest entry is index 62.
    expect(decoder.decode(Uint8Array.of(0x80 | 62, 0x80 | 63))).toEqual([
      ["c", "3"],
      ["b", "2"],
    ]);
    decoder.decode(add("d", "4".repeat(80)));
    expect(decoder.dynamicEntries).toEqual([]);
    expect(decoder.tableSize).toBe(0);
  });

  it("applies a table size update at a block's start, and refuses one later or over the limit", () => {
    const decoder = new HpackDecoder(4096);
    decoder.decode(encodeIncremental("x", "y"));
    // 001xxxxx with 0: the table is emptied.
    expect(decoder.decode(Uint8Array.of(0x20, 0x82))).toEqual([[":method", "GET"]]);
    expect(decoder.tableSize).toBe(0);
    expect(() => decoder.decode(Uint8Array.of(0x82, 0x20))).toThrow(HpackDecodeError);
    // 4097 with a 5-bit prefix: 0x3f then 4097 - 31 = 4066 = 0xe2 0x1f.
    expect(() => decoder.decode(Uint8Array.of(0x3f, 0xe2, 0x1f))).toThrow(/over the 4096 allowed/);
  });

  it("refuses index 0, an index past the table, and a block cut short", () => {
    const decoder = new HpackDecoder();
    expect(() => decoder.decode(Uint8Array.of(0x80))).toThrow(/index 0/);
    expect(() => decoder.decode(Uint8Array.of(0x80 | 62))).toThrow(/past the dynamic table/);
    expect(() => decoder.decode(Uint8Array.of(0x00, 0x05, 0x61))).toThrow(/cut short/);
    expect(() => decoder.decode(Uint8Array.of(0xff))).toThrow(/cut short/);
  });

  it("decodes every block our encoder writes to the same fields, leaving the table untouched", () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
    const value = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 300 });
    const pseudo = fc.constantFrom<HeaderField>([":method", "POST"], [":scheme", "http"], [":path", "/"], [":authority", ""], ["content-type", "application/grpc"]);
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.tuple(name, value), pseudo), { maxLength: 12 }), (fields) => {
        const decoder = new HpackDecoder();
        expect(decoder.decode(encodeHeaderBlock(fields))).toEqual(fields);
        expect(decoder.tableSize).toBe(0);
      }),
    );
  });

  it("encodes a length past its prefix as an HPACK integer: 1337 with a 7-bit prefix is 7f ba 09", () => {
    // A name literal of 1337 octets: 0x00, then the length with a 7-bit prefix: 7f, then 1337 - 127 = 1210 = ba 09.
    const block = encodeHeaderBlock([["x".repeat(1337), "v"]]);
    expect([...block.subarray(0, 4)]).toEqual([0x00, 0x7f, 0xba, 0x09]);
    expect(new HpackDecoder().decode(block)).toEqual([["x".repeat(1337), "v"]]);
  });
});

/** A literal field added to the table (01000000, then name and value literals, no Huffman). */
function encodeIncremental(name: string, value: string): Uint8Array {
  const plain = encodeHeaderBlock([[name, value]]);
  // encodeHeaderBlock writes a new-name literal without indexing (0x00 ...): flip it to 0x40.
  expect(plain[0]).toBe(0x00);
  const out = Uint8Array.from(plain);
  out[0] = 0x40;
  return out;
}
