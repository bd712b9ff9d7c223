/**
 * HPACK encoding for the header blocks this client sends (RFC 7541), in the simplest form every
 * decoder accepts: fields in the static table with their exact value as an index, and every other
 * field as a literal NOT added to the dynamic table (its name by static index where the table has
 * the name). The peer's decoder table is never used, so nothing has to be kept in step with it,
 * and no Huffman coding (request headers are few and short; the JWT, the longest, is base64url,
 * which Huffman coding would shrink by about a fifth).
 */
import { STATIC_NAME_INDEX, STATIC_TABLE } from "./hpack-static-table.js";

/** The static index of each field the table holds with a value, keyed `name\0value`. */
const STATIC_FIELD_INDEX: ReadonlyMap<string, number> = (() => {
  const byField = new Map<string, number>();
  STATIC_TABLE.forEach(([name, value], i) => {
    const key = `${name}\0${value}`;
    if (value !== "" && !byField.has(key)) byField.set(key, i + 1);
  });
  return byField;
})();

/** Appends an integer with an N-bit prefix whose high bits are `high`. */
function pushInteger(out: number[], value: number, prefixBits: number, high: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(high | value);
    return;
  }
  out.push(high | max);
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

/** Appends a string literal (no Huffman); characters above 0xff are refused by the caller. */
function pushString(out: number[], text: string): void {
  pushInteger(out, text.length, 7, 0);
  for (let i = 0; i < text.length; i++) out.push(text.charCodeAt(i));
}

/**
 * The header block for these fields, in order. Names must be lowercase and every character of
 * names and values below 0x100 (header values are octets).
 * @throws TypeError for a character above 0xff
 */
export function encodeHeaderBlock(fields: readonly (readonly [name: string, value: string])[]): Uint8Array {
  const out: number[] = [];
  for (const [name, value] of fields) {
    for (const text of [name, value]) {
      for (let i = 0; i < text.length; i++) {
        if (text.charCodeAt(i) > 0xff) throw new TypeError(`header ${JSON.stringify(name)} has a character that is not an octet`);
      }
    }
    const full = STATIC_FIELD_INDEX.get(`${name}\0${value}`);
    if (full !== undefined) {
      pushInteger(out, full, 7, 0x80);
      continue;
    }
    const nameIndex = STATIC_NAME_INDEX.get(name);
    if (nameIndex !== undefined) {
      pushInteger(out, nameIndex, 4, 0x00);
    } else {
      out.push(0x00);
      pushString(out, name);
    }
    pushString(out, value);
  }
  return Uint8Array.from(out);
}
