/**
 * fast-check arbitraries for random messages of any schema, driven by its descriptor: random
 * field presence, strings with non-ASCII and empty ones, extreme and negative integers, floats
 * with NaN and -0, repeated and map fields with several entries, oneof cases, nested messages to
 * a bounded depth, Struct/Value trees. Values are init shapes for `create(schema, init)`.
 */
import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import fc from "fast-check";

const MAX_DEPTH = 2;

const text: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom("é", "日本語", "\uFEFFbom", "emoji 😀", "\uFFFD", "a\u0000b", "__proto__", "constructor", "12", "x".repeat(40), "ü".repeat(70)) },
  { weight: 1, arbitrary: fc.string({ minLength: 17, maxLength: 300 }) },
);

const int32 = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.constantFrom(0, 1, -1, 127, 128, 2 ** 31 - 1, -(2 ** 31)));
const uint32 = fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.constantFrom(0, 1, 127, 128, 2 ** 32 - 1));
const int64 = fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.bigInt({ min: -1000n, max: 1000n }), fc.constantFrom(0n, -1n, 2n ** 49n, 2n ** 63n - 1n, -(2n ** 63n)));
const uint64 = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 1000n }), fc.constantFrom(0n, 2n ** 49n - 1n, 2n ** 49n, 2n ** 64n - 1n));
const double = fc.oneof(fc.double(), fc.constantFrom(0, -0, Number.NaN, Number.POSITIVE_INFINITY, 1.5));
const float = fc.oneof(fc.float(), fc.constantFrom(0, -0, Number.NaN, 1.5));

function scalar(type: ScalarType, longAsString: boolean): fc.Arbitrary<unknown> {
  switch (type) {
    case ScalarType.STRING:
      return text;
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 24 });
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.DOUBLE:
      return double;
    case ScalarType.FLOAT:
      return float;
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return int32;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return uint32;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return longAsString ? int64.map(String) : int64;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return longAsString ? uint64.map(String) : uint64;
  }
}

/** A map key as protobuf-es holds it: the key's string form. */
function mapKey(type: ScalarType): fc.Arbitrary<string> {
  switch (type) {
    case ScalarType.STRING:
      return text;
    case ScalarType.BOOL:
      return fc.constantFrom("true", "false");
    default:
      return scalar(type, false).map(String);
  }
}

const jsonValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    text,
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(text, tie("value"), { maxKeys: 3 }),
  ),
})).value;
const jsonObject = fc.dictionary(text, jsonValue, { maxKeys: 4 });

const isJsonStruct = (field: DescField) => field.message?.typeName === "google.protobuf.Struct" && field.parent.typeName !== "google.protobuf.Value";

function enumValue(field: DescField): fc.Arbitrary<number> {
  const values = (field.enum?.values ?? []).map((v) => v.number);
  return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...values) }, { weight: 1, arbitrary: int32 });
}

/** One value of `field` (a list element or map value for repeated kinds). */
function single(field: DescField, depth: number): fc.Arbitrary<unknown> {
  if (field.message !== undefined) return isJsonStruct(field) ? jsonObject : messageInit(field.message, depth + 1);
  if (field.enum !== undefined) return enumValue(field);
  const longAsString = (field.fieldKind === "scalar" || field.fieldKind === "list") && field.longAsString;
  return scalar(field.scalar as ScalarType, longAsString);
}

/** A random init object for `create(desc, init)`. */
export function messageInit(desc: DescMessage, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      const cases = member.fields.filter((f) => f.message === undefined || depth < MAX_DEPTH);
      parts[member.localName] = fc.oneof(fc.constant({ case: undefined }), ...cases.map((f) => single(f, depth).map((value) => ({ case: f.localName, value }))));
      continue;
    }
    switch (member.fieldKind) {
      case "message":
        parts[member.localName] = depth < MAX_DEPTH ? fc.option(single(member, depth), { nil: undefined, freq: 2 }) : fc.constant(undefined);
        break;
      case "list":
        parts[member.localName] = member.listKind === "message" && depth >= MAX_DEPTH ? fc.constant([]) : fc.array(single(member, depth), { maxLength: member.listKind === "message" ? 2 : 4 });
        break;
      case "map": {
        const values = member.mapKind === "message" && depth >= MAX_DEPTH ? fc.constant(undefined) : single(member, depth);
        parts[member.localName] = depth >= MAX_DEPTH && member.mapKind === "message" ? fc.constant({}) : fc.dictionary(mapKey(member.mapKey), values, { maxKeys: member.mapKind === "message" ? 2 : 4 });
        break;
      }
      default:
        parts[member.localName] = member.presence === 2 ? single(member, depth) : fc.option(single(member, depth), { nil: undefined });
    }
  }
  return fc.record(parts).map((init) => Object.fromEntries(Object.entries(init).filter(([, v]) => v !== undefined)));
}
