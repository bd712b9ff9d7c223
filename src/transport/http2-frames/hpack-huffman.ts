/**
 * HPACK's Huffman code for header strings (RFC 7541, section 5.2 and appendix B), decoding side.
 *
 * The code is canonical: ordering the 257 symbols (the 256 octets, then EOS) by code length and,
 * within one length, by symbol, each code is the previous one plus one, shifted left by the
 * growth in length; the first is all zeros. So the code lengths below, which are the RFC's
 * table, define every code; EOS is the one 30-bit code of all ones.
 *
 * A Huffman-coded string is its symbols' codes, most significant bit first, padded to a whole
 * octet with the high bits of EOS (ones). Padding longer than 7 bits, padding that is not all
 * ones, and an EOS inside the string are decoding errors.
 */

/** The code length in bits of each octet 0-255, in order. */
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
];
const EOS = 256;
const EOS_LENGTH = 30;

/** Every symbol's code (EOS last), as the canonical order assigns them; codes fit in 30 bits. */
export const HUFFMAN_CODES: readonly { readonly code: number; readonly length: number }[] = (() => {
  const lengths = [...CODE_LENGTHS, EOS_LENGTH];
  const order = lengths.map((_, symbol) => symbol).sort((a, b) => (lengths[a] as number) - (lengths[b] as number) || a - b);
  const codes = new Array<{ code: number; length: number }>(lengths.length);
  let code = 0;
  let previous = lengths[order[0] as number] as number;
  for (let k = 0; k < order.length; k++) {
    const symbol = order[k] as number;
    const length = lengths[symbol] as number;
    if (k > 0) code = (code + 1) * 2 ** (length - previous);
    previous = length;
    codes[symbol] = { code, length };
  }
  return codes;
})();

/**
 * The decoding tree: node n's children are TREE[2n] (bit 0) and TREE[2n + 1] (bit 1); a child
 * value > 0 is another node, a value < 0 the leaf of symbol -(value + 1), 0 a branch no code
 * takes (there is none: the code is complete). Node 0 is the root; 257 leaves make 256 inner
 * nodes.
 */
const TREE = ((): Int32Array => {
  const tree = new Int32Array(2 * EOS);
  let nodes = 1;
  HUFFMAN_CODES.forEach(({ code, length }, symbol) => {
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const slot = 2 * node + (Math.floor(code / 2 ** bit) % 2);
      if (bit === 0) {
        tree[slot] = -(symbol + 1);
      } else {
        if (tree[slot] === 0) tree[slot] = nodes++;
        node = tree[slot] as number;
      }
    }
  });
  return tree;
})();

/** Why a Huffman-coded string was refused. */
export class HuffmanDecodeError extends Error {
  constructor(message: string) {
    super(`HPACK Huffman string: ${message}`);
    this.name = "HuffmanDecodeError";
  }
}

/**
 * Decodes the Huffman-coded octets `bytes[start, end)` into a string of one character per
 * decoded octet (latin1: header values are octets).
 * @throws HuffmanDecodeError on an EOS inside the string or invalid padding
 */
export function huffmanDecode(bytes: Uint8Array, start: number, end: number): string {
  let out = "";
  let node = 0;
  // Bits read since the last complete symbol, and whether all of them were ones (the padding).
  let pending = 0;
  let allOnes = true;
  for (let i = start; i < end; i++) {
    const octet = bytes[i] as number;
    for (let bit = 7; bit >= 0; bit--) {
      const one = (octet >> bit) & 1;
      const next = TREE[2 * node + one] as number;
      pending++;
      if (one === 0) allOnes = false;
      if (next < 0) {
        const symbol = -next - 1;
        if (symbol === EOS) throw new HuffmanDecodeError("EOS inside the string");
        out += String.fromCharCode(symbol);
        node = 0;
        pending = 0;
        allOnes = true;
      } else {
        node = next;
      }
    }
  }
  if (pending > 7) throw new HuffmanDecodeError("padding longer than 7 bits");
  if (!allOnes) throw new HuffmanDecodeError("padding is not the high bits of EOS");
  return out;
}
