/**
 * Reading strings from, and comparing, a range of a Uint8Array in place, without making a view
 * of the range first. A `subarray` view is a heap object of ~100 bytes; the replica reads index
 * keys and compares record bytes for every record it ingests or resyncs, so views there are
 * millions of short-lived objects.
 *
 * Node's Buffer methods do this natively and accept any Uint8Array as `this`:
 * - `latin1Slice(start, end)` and `utf8Slice(start, end)` are the (undocumented) methods behind
 *   `buf.toString(encoding, start, end)`; utf8Slice replaces each invalid sequence with U+FFFD
 *   and keeps a leading U+FEFF.
 * - `compare(target, targetStart, targetEnd, sourceStart, sourceEnd)` is documented.
 *
 * Each is checked once, at load, on inputs whose answers are known; one that is missing or
 * answers otherwise is exported as undefined, and callers use their portable path (a view and
 * TextDecoder or Buffer.compare), which gives the same results.
 */

type Slice = (this: Uint8Array, start: number, end: number) => string;
type CompareRange = (this: Uint8Array, target: Uint8Array, targetStart: number, targetEnd: number, sourceStart: number, sourceEnd: number) => number;

const methods = globalThis.Buffer?.prototype as { latin1Slice?: unknown; utf8Slice?: unknown; compare?: unknown } | undefined;

function checked<T>(method: unknown, works: (m: T) => boolean): T | undefined {
  if (typeof method !== "function") return undefined;
  try {
    return works(method as T) ? (method as T) : undefined;
  } catch {
    return undefined;
  }
}

// "xé\uFEFF" then an invalid byte, inside a larger plain Uint8Array.
const probe = new Uint8Array([0x21, 0x78, 0xc3, 0xa9, 0xef, 0xbb, 0xbf, 0xff, 0x21]);

/** Bytes [start, end) as Latin-1 (one character per byte); for bytes known to be ASCII. */
export const latin1Slice: Slice | undefined = checked<Slice>(methods?.latin1Slice, (m) => m.call(probe, 1, 2) === "x" && m.call(probe, 0, 2) === "!x");

/**
 * Bytes [start, end) as UTF-8, invalid sequences as U+FFFD, a leading BOM kept. A result without
 * U+FFFD came from valid UTF-8 and equals what a TextDecoder with `ignoreBOM: true` gives.
 */
export const utf8Slice: Slice | undefined = checked<Slice>(methods?.utf8Slice, (m) => m.call(probe, 1, 7) === "x\u00e9\uFEFF" && m.call(probe, 6, 8) === "\uFFFD\uFFFD" && m.call(probe, 3, 3) === "");

/** Compares `this[sourceStart, sourceEnd)` with `target[targetStart, targetEnd)`: -1, 0 or 1. */
export const compareRange: CompareRange | undefined = checked<CompareRange>(methods?.compare, (m) => {
  const other = new Uint8Array([0x78, 0xc3, 0x00]);
  return m.call(probe, other, 0, 2, 1, 3) === 0 && m.call(probe, other, 0, 3, 1, 4) === 1 && m.call(probe, other, 1, 2, 1, 2) === -1;
});

const utf8 = new TextDecoder("utf-8");

/**
 * Bytes [start, end) as UTF-8 exactly as `new TextDecoder("utf-8").decode(bytes.subarray(start,
 * end))` gives them (invalid sequences as U+FFFD, one leading BOM dropped), without the view when
 * the bytes are valid UTF-8 without a BOM.
 */
export function decodeUtf8Range(bytes: Uint8Array, start: number, end: number): string {
  if (start === end) return "";
  if (utf8Slice !== undefined) {
    const s = utf8Slice.call(bytes, start, end);
    if (s.charCodeAt(0) !== 0xfeff && s.indexOf("\uFFFD") < 0) return s;
  }
  return utf8.decode(bytes.subarray(start, end));
}

/** True when `a[aStart, aEnd)` and `b[bStart, bEnd)` hold the same bytes. */
export function sameByteRanges(a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false;
  if (compareRange !== undefined) return compareRange.call(a, b, bStart, bEnd, aStart, aEnd) === 0;
  return Buffer.compare(a.subarray(aStart, aEnd), b.subarray(bStart, bEnd)) === 0;
}
