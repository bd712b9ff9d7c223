/**
 * The compiled record data decoder against protobuf-es's fromBinary, its reference: for random
 * messages of every registered record type (and test types with the field kinds those lack), the
 * fast path takes them and builds exactly fromBinary's objects; for mutated, truncated and
 * concatenated encodings, the answer is fromBinary's, or both throw.
 */
import { create, fromBinary, ScalarType, toBinary, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SessionSchema } from "../../gen/session/session_pb.js";
import { UserSchema } from "../../gen/user/user_pb.js";
import { DemoRecords } from "../../src/demo/demo-records.js";
import { decodeRecordData } from "../../src/records/decode-record-data.js";
import { decodeMessageData, fastDecodeMessageData } from "../../src/records/record-data-decoder.js";
import { recordRegistry } from "../../src/records/record-registry.js";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { KitchenSchema, LegacySchema, WithWrapperSchema } from "./decoder-test-schemas.js";
import { messageInit } from "./message-arbitrary.js";
import { strictMessageDifference } from "./strict-message-difference.js";

const registered: DescMessage[] = [];
for (const type of recordRegistry) if (type.kind === "message") registered.push(type);
const schemas: DescMessage[] = [...registered, KitchenSchema];

/** fromBinary's outcome: the message, or the fact that it threw. */
function reference(schema: DescMessage, bytes: Uint8Array): { message: Message } | { threw: true } {
  try {
    return { message: fromBinary(schema, bytes) };
  } catch {
    return { threw: true };
  }
}

/** Asserts decodeMessageData and the fast path agree with fromBinary on `bytes`. */
function expectSameAsFromBinary(schema: DescMessage, bytes: Uint8Array): void {
  const expected = reference(schema, bytes);
  const fast = fastDecodeMessageData(schema, bytes);
  if ("threw" in expected) {
    expect(fast, "the fast path accepted bytes fromBinary rejects").toBeUndefined();
    expect(() => decodeMessageData(schema, bytes)).toThrow();
    return;
  }
  if (fast !== undefined) expect(strictMessageDifference(fast, expected.message)).toBeUndefined();
  expect(strictMessageDifference(decodeMessageData(schema, bytes), expected.message)).toBeUndefined();
}

/** A valid encoding of a random message of `schema` (toBinary may refuse a lone surrogate). */
function encoding(schema: DescMessage): fc.Arbitrary<Uint8Array> {
  return messageInit(schema)
    .map((init): Uint8Array | undefined => {
      try {
        return toBinary(schema, create(schema, init as never));
      } catch {
        return undefined;
      }
    })
    .filter((b): b is Uint8Array => b !== undefined);
}

type Mutation = { kind: "set"; at: number; value: number } | { kind: "truncate"; at: number } | { kind: "insert"; at: number; value: number } | { kind: "delete"; at: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x80, 0xff, 0x0a, 0x12, 0x08, 0x00, 0x7f, 0xc0)) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
);

function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let b = [...bytes];
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % (b.length + (m.kind === "insert" ? 1 : 0));
    if (m.kind === "set" && b.length > 0) b[at] = m.value;
    else if (m.kind === "truncate") b = b.slice(0, at);
    else if (m.kind === "insert") b.splice(at, 0, m.value);
    else if (m.kind === "delete") b.splice(at, 1);
  }
  return new Uint8Array(b);
}

describe("record data decoder", () => {
  it("takes the fast path for every registered record type and the test kitchen type", () => {
    for (const schema of schemas) {
      expect(fastDecodeMessageData(schema, new Uint8Array(0)), schema.typeName).toBeDefined();
      expectSameAsFromBinary(schema, new Uint8Array(0));
    }
  });

  it.each(schemas.map((s) => [s.typeName, s] as const))("decodes random %s messages exactly as fromBinary does", (_, schema) => {
    fc.assert(
      fc.property(encoding(schema), (bytes) => {
        const fast = fastDecodeMessageData(schema, bytes);
        expect(fast, "a valid encoding fell back").toBeDefined();
        expect(strictMessageDifference(fast, fromBinary(schema, bytes))).toBeUndefined();
      }),
      { numRuns: schema === KitchenSchema || schema === SessionSchema ? 200 : 40 },
    );
  });

  it.each(schemas.map((s) => [s.typeName, s] as const))("answers as fromBinary does for mutated and truncated %s encodings", (_, schema) => {
    fc.assert(
      fc.property(encoding(schema), fc.array(mutation, { minLength: 1, maxLength: 3 }), (bytes, mutations) => {
        expectSameAsFromBinary(schema, mutate(bytes, mutations));
      }),
      { numRuns: schema === KitchenSchema || schema === SessionSchema ? 300 : 40 },
    );
  });

  it.each([SessionSchema, KitchenSchema].map((s) => [s.typeName, s] as const))("answers as fromBinary does for two %s encodings concatenated (fromBinary merges)", (_, schema) => {
    fc.assert(
      fc.property(encoding(schema), encoding(schema), (a, b) => {
        const both = new Uint8Array(a.length + b.length);
        both.set(a);
        both.set(b, a.length);
        expectSameAsFromBinary(schema, both);
      }),
      { numRuns: 150 },
    );
  });

  it("decodes the demo sessions and users exactly as fromBinary does, bytes viewed inside a larger block", () => {
    const demo = new DemoRecords({ seed: 7, nowMs: 1_900_000_000_000 });
    const encoded = [
      ...Array.from({ length: 50 }, (_, i) => [SessionSchema, toBinary(SessionSchema, demo.session(`session-${i}`, i, i % 2 === 0 ? 3600_000 : -5))] as const),
      ...Array.from({ length: 20 }, (_, i) => [UserSchema, toBinary(UserSchema, demo.user(i))] as const),
    ];
    const block = new Uint8Array(encoded.reduce((n, [, b]) => n + b.length + 3, 0));
    let at = 3;
    for (const [schema, bytes] of encoded) {
      block.set(bytes, at);
      const view = block.subarray(at, at + bytes.length);
      at += bytes.length + 3;
      const fast = fastDecodeMessageData(schema, view);
      expect(fast).toBeDefined();
      expect(strictMessageDifference(fast, fromBinary(schema, view))).toBeUndefined();
    }
  });

  it("keeps bytes fields as views of the input, Buffers when the input is one", () => {
    const bytes = toBinary(KitchenSchema, create(KitchenSchema, { fBytes: new Uint8Array([1, 2, 3]), rBytes: [new Uint8Array([4])] } as never));
    const buffer = Buffer.from(bytes);
    const fast = fastDecodeMessageData(KitchenSchema, buffer) as unknown as { fBytes: Uint8Array; rBytes: Uint8Array[] };
    expect(fast.fBytes).toBeInstanceOf(Buffer);
    expect(fast.fBytes.buffer).toBe(buffer.buffer);
    expect(strictMessageDifference(fast, fromBinary(KitchenSchema, buffer))).toBeUndefined();
  });

  it("accepts unpacked encodings of packed repeated fields and packed ones of unpacked fields", () => {
    // r_int32 (21) is packed by default; r_sint64_unpacked (29) is declared unpacked.
    const unpacked = new Uint8Array([0xa8, 0x01, 0x05, 0xa8, 0x01, 0x7f]); // 21: 5, 21: 127
    const packed = new Uint8Array([0xea, 0x01, 0x02, 0x03, 0x04]); // 29 packed: sint64 -2, 2
    for (const bytes of [unpacked, packed]) {
      expect(fastDecodeMessageData(KitchenSchema, bytes)).toBeDefined();
      expectSameAsFromBinary(KitchenSchema, bytes);
    }
  });

  it("fills in fromBinary's defaults for map entries without a key or a value, and for an empty Value in a JSON Struct", () => {
    const mapFields = KitchenSchema.fields.filter((f) => f.fieldKind === "map");
    expect(mapFields.length).toBeGreaterThan(5);
    const parts: number[] = [];
    for (const f of mapFields) {
      const tag = varint((f.number << 3) | 2);
      parts.push(...tag, 0x00); // an empty entry: the key's zero and the value's default
      const value = valueOnlyEntry(f);
      parts.push(...tag, value.length, ...value);
    }
    // f_struct (43) = { "a": <Value with no kind> }, held as JSON: { a: null }
    const entry = [0x0a, 0x01, 0x61, 0x12, 0x00];
    parts.push(...varint((43 << 3) | 2), entry.length + 2, 0x0a, entry.length, ...entry);
    const bytes = new Uint8Array(parts);
    expect(fastDecodeMessageData(KitchenSchema, bytes)).toBeDefined();
    expectSameAsFromBinary(KitchenSchema, bytes);
  });

  it("falls back to fromBinary for unknown fields, invalid UTF-8, merges and over-long varints", () => {
    const session = toBinary(SessionSchema, new DemoRecords({ seed: 3 }).session("s", 1));
    const cases: [string, Uint8Array][] = [
      ["unknown field", new Uint8Array([...session, 0xf8, 0x07, 0x01])],
      ["invalid UTF-8", new Uint8Array([0x12, 0x02, 0xc3, 0x28])],
      ["singular message twice (merged)", new Uint8Array([0x22, 0x02, 0x08, 0x01, 0x22, 0x02, 0x10, 0x02])],
      ["11-byte varint", new Uint8Array([0x98, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])],
      ["wrong wire type", new Uint8Array([0x10, 0x01])],
      ["group", new Uint8Array([0x0b, 0x0c])],
    ];
    for (const [name, bytes] of cases) {
      expect(fastDecodeMessageData(SessionSchema, bytes), name).toBeUndefined();
      expectSameAsFromBinary(SessionSchema, bytes);
    }
    expect(decodeRecordData(SESSION_TYPE, new Uint8Array([0x12, 0x02, 0xc3, 0x28]))).toBeUndefined();
  });

  it("keeps a leading U+FEFF and a literal U+FFFD in strings, as fromBinary does", () => {
    const bytes = toBinary(SessionSchema, create(SessionSchema, { id: "\uFEFFid", userId: "a\uFFFDb".repeat(10) }));
    const fast = fastDecodeMessageData(SessionSchema, bytes) as unknown as { id: string; userId: string };
    expect(fast.id).toBe("\uFEFFid");
    expect(fast.userId).toBe("a\uFFFDb".repeat(10));
  });

  it("leaves schemas it does not model to fromBinary: wrapper fields, proto2 defaults", () => {
    const wrapped = toBinary(WithWrapperSchema, create(WithWrapperSchema, { name: "x" } as never));
    expect(fastDecodeMessageData(WithWrapperSchema, wrapped)).toBeUndefined();
    expect(strictMessageDifference(decodeMessageData(WithWrapperSchema, wrapped), fromBinary(WithWrapperSchema, wrapped))).toBeUndefined();
    const legacy = new Uint8Array([0x12, 0x01, 0x61]);
    expect(fastDecodeMessageData(LegacySchema, legacy)).toBeUndefined();
    expect(strictMessageDifference(decodeMessageData(LegacySchema, legacy), fromBinary(LegacySchema, legacy))).toBeUndefined();
  });

  it("stops at fromBinary's nesting limit exactly: takes what it accepts, falls back where it throws", () => {
    // ListValue > Value > ListValue > ... nested k times, with an empty Struct as the innermost
    // value or not: fromBinary throws past 100 levels, between k = 49 and k = 50.
    const schema = recordRegistry.getMessage("google.protobuf.ListValue") as DescMessage;
    let accepted = 0;
    for (let k = 47; k <= 52; k++) {
      for (const leaf of [[], [0x0a, 0x02, 0x2a, 0x00]]) {
        let inner = new Uint8Array(leaf);
        for (let i = 0; i < k; i++) {
          const value = new Uint8Array([0x32, ...varint(inner.length), ...inner]);
          inner = new Uint8Array([0x0a, ...varint(value.length), ...value]);
        }
        const expected = reference(schema, inner);
        expect(fastDecodeMessageData(schema, inner) !== undefined, `k=${k}`).toBe("message" in expected);
        expectSameAsFromBinary(schema, inner);
        if ("message" in expected) accepted++;
      }
    }
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(12);
  });
});

/** A map entry with only a value (a zero one) of the field's value type. */
function valueOnlyEntry(field: DescField): number[] {
  if (field.fieldKind !== "map") throw new Error("not a map");
  if (field.mapKind !== "scalar") return field.mapKind === "enum" ? [0x10, 0x01] : [0x12, 0x00];
  switch (field.scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return [0x12, 0x00];
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return [0x11, 0, 0, 0, 0, 0, 0, 0, 0];
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return [0x15, 0, 0, 0, 0];
    default:
      return [0x10, 0x00];
  }
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
