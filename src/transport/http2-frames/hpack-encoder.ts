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

/** Writes an integer with an N-bit prefix whose high bits are `high` at `out[at]`; returns the next offset. */
function writeInteger(out: Uint8Array, at: number, value: number, prefixBits: number, high: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out[at] = high | value;
    return at + 1;
  }
  out[at++] = high | max;
  let rest = value - max;
  while (rest >= 128) {
    out[at++] = (rest % 128) | 128;
    rest = Math.floor(rest / 128);
  }
  out[at] = rest;
  return at + 1;
}

/** Writes a string literal (no Huffman) at `out[at]`; returns the next offset. */
function writeString(out: Uint8Array, at: number, text: string): number {
  at = writeInteger(out, at, text.length, 7, 0);
  for (let i = 0; i < text.length; i++) out[at++] = text.charCodeAt(i);
  return at;
}

/** Octets an integer takes with a prefix of `prefixBits` (at most 5 for the lengths sent here). */
const INTEGER_MAX_OCTETS = 6;

/** One field's representation. */
function encodeField(name: string, value: string): Uint8Array {
  for (const text of [name, value]) {
    for (let i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) > 0xff) throw new TypeError(`header ${JSON.stringify(name)} has a character that is not an octet`);
    }
  }
  const full = STATIC_FIELD_INDEX.get(`${name}\0${value}`);
  const out = new Uint8Array(3 * INTEGER_MAX_OCTETS + name.length + value.length);
  let at: number;
  if (full !== undefined) {
    at = writeInteger(out, 0, full, 7, 0x80);
  } else {
    const nameIndex = STATIC_NAME_INDEX.get(name);
    if (nameIndex !== undefined) {
      at = writeInteger(out, 0, nameIndex, 4, 0x00);
    } else {
      out[0] = 0x00;
      at = writeString(out, 1, name);
    }
    at = writeString(out, at, value);
  }
  return out.slice(0, at);
}

/**
 * Fields encoded before, keyed `name\0value`: a client sends the same few fields on every call
 * (the method's path, the protocol's fields, the token that changes once a second), and a
 * field's representation never changes, as the dynamic table is not used. Emptied when full, so
 * fields that never repeat (a request id) cost an insertion each and hold nothing for long.
 */
const encodedFields = new Map<string, Uint8Array>();
const ENCODED_FIELDS_LIMIT = 256;

/**
 * The header block for these fields, in order. Names must be lowercase and every character of
 * names and values below 0x100 (header values are octets).
 * @throws TypeError for a character above 0xff
 */
export function encodeHeaderBlock(fields: readonly (readonly [name: string, value: string])[]): Uint8Array {
  const parts: Uint8Array[] = new Array<Uint8Array>(fields.length);
  let total = 0;
  for (let i = 0; i < fields.length; i++) {
    const [name, value] = fields[i] as readonly [string, string];
    const key = `${name}\0${value}`;
    let bytes = encodedFields.get(key);
    if (bytes === undefined) {
      bytes = encodeField(name, value);
      if (encodedFields.size >= ENCODED_FIELDS_LIMIT) encodedFields.clear();
      encodedFields.set(key, bytes);
    }
    parts[i] = bytes;
    total += bytes.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
