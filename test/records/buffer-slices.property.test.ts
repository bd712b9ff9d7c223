import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareRange, decodeUtf8Range, latin1Slice, sameByteRanges, utf8Slice } from "../../src/records/buffer-slices.js";
import { scanStringField } from "../../src/records/wire-scan.js";

// The references are the portable definitions: a view of the range, then the WHATWG decoder or a
// byte-by-byte comparison.
const referenceDecoder = new TextDecoder("utf-8");

function referenceSame(a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false;
  for (let i = 0; i < aEnd - aStart; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  return true;
}

/** Bytes biased towards UTF-8 edge cases: BOMs, multi-byte sequences, lone continuation bytes, surrogates. */
const utf8ishBytes = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 255 }).map((b) => [b]),
      fc.constantFrom([0xef, 0xbb, 0xbf], [0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xf0, 0x9f, 0x98, 0x80], [0xed, 0xa0, 0x80], [0x80], [0xc3], [0xf4, 0x90, 0x80, 0x80]),
      fc.string({ unit: "grapheme", maxLength: 6 }).map((s) => [...new TextEncoder().encode(s)]),
    ),
    { maxLength: 24 },
  )
  .map((parts) => new Uint8Array(parts.flat()));

/** A buffer and a range [start, end) inside it. */
const bytesWithRange = utf8ishBytes.chain((bytes) =>
  fc.tuple(fc.integer({ min: 0, max: bytes.length }), fc.integer({ min: 0, max: bytes.length })).map(([x, y]) => ({ bytes, start: Math.min(x, y), end: Math.max(x, y) })),
);

describe("buffer-slices", () => {
  it("finds Node's in-place methods on this runtime (so the tests below exercise the fast path)", () => {
    expect(latin1Slice).toBeTypeOf("function");
    expect(utf8Slice).toBeTypeOf("function");
    expect(compareRange).toBeTypeOf("function");
  });

  it("decodeUtf8Range gives what TextDecoder gives for the same range, for any bytes", () => {
    fc.assert(
      fc.property(bytesWithRange, ({ bytes, start, end }) => {
        expect(decodeUtf8Range(bytes, start, end)).toBe(referenceDecoder.decode(bytes.subarray(start, end)));
      }),
      { numRuns: 5000 },
    );
  });

  it("decodeUtf8Range drops exactly one leading BOM and keeps later ones, as TextDecoder does", () => {
    const bom = [0xef, 0xbb, 0xbf];
    const bytes = new Uint8Array([0x41, ...bom, ...bom, 0x42, ...bom]);
    expect(decodeUtf8Range(bytes, 1, bytes.length)).toBe("\uFEFFB\uFEFF");
    expect(decodeUtf8Range(bytes, 0, bytes.length)).toBe("A\uFEFF\uFEFFB\uFEFF");
  });

  it("sameByteRanges agrees with a byte-by-byte comparison, equal ranges included", () => {
    fc.assert(
      fc.property(bytesWithRange, bytesWithRange, fc.boolean(), (a, b, copy) => {
        // Half the cases compare a range with a copy of itself placed elsewhere.
        const target = copy ? { bytes: new Uint8Array([7, ...a.bytes.subarray(a.start, a.end), 9]), start: 1, end: 1 + a.end - a.start } : b;
        const expected = referenceSame(a.bytes, a.start, a.end, target.bytes, target.start, target.end);
        expect(sameByteRanges(a.bytes, a.start, a.end, target.bytes, target.start, target.end)).toBe(expected);
        if (copy) expect(expected).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it("scanStringField over a window of a larger buffer reads what it reads from a copy of the window", () => {
    // Values under 128 bytes: their length prefix is one byte.
    const field = fc.record({ number: fc.integer({ min: 1, max: 5 }), value: utf8ishBytes.map((b) => b.subarray(0, 127)) });
    fc.assert(
      fc.property(fc.array(field, { maxLength: 6 }), utf8ishBytes, utf8ishBytes, fc.integer({ min: 1, max: 5 }), (fields, before, after, wanted) => {
        const message = fields.flatMap((f) => [(f.number << 3) | 2, f.value.length, ...f.value]);
        const buffer = new Uint8Array([...before, ...message, ...after]);
        const from = before.length;
        const to = from + message.length;
        expect(scanStringField(buffer, wanted, from, to)).toBe(scanStringField(new Uint8Array(message), wanted));
        const last = fields.filter((f) => f.number === wanted).at(-1);
        expect(scanStringField(new Uint8Array(message), wanted)).toBe(last === undefined ? undefined : referenceDecoder.decode(last.value));
      }),
      { numRuns: 3000 },
    );
  });
});
