/**
 * A fast decoder for record data (the bytes of a record's Any value), used by decodeRecordData.
 * protobuf-es's fromBinary is reflective: a ~1.8 KB session costs ~10-30 us, most of a replica's
 * first-touch read. This decoder compiles, once per schema (DescMessage), a plan built from the
 * descriptor (field readers by field number, create()'s recipe for the zero message) and reads
 * the wire format directly with it; Timestamp, Value, ListValue and Struct (most of a session's
 * objects) have hand-written readers, and short ASCII strings are interned. No eval.
 *
 * Contract: for every input, decodeMessageData(schema, bytes) returns what
 * `fromBinary(schema, bytes)` returns, or throws what it throws. The fast path builds exactly the
 * objects fromBinary builds: same `$typeName`, every field present with create()'s defaults,
 * the same key order (create()'s member order, then explicit-presence and message fields in wire
 * order), `{ case, value }` oneofs, arrays, maps as plain objects (numeric and bool keys as
 * strings, `__proto__` as an own property), bigint 64-bit integers (strings under
 * jstype=JS_STRING), google.protobuf.Struct fields as JsonObject (except Value.struct_value),
 * and bytes fields as subarray views of the input.
 *
 * Fallback rule: anything else falls back to fromBinary for the WHOLE message, so results and
 * errors are always fromBinary's. That covers unknown field numbers (fromBinary keeps them in
 * `$unknown`), a wire type that does not match the field, a singular message field or a oneof
 * message case occurring twice (fromBinary merges), a repeated key or value inside a map entry,
 * groups, truncation or a length running past its enclosing message, over-long varints (or a
 * tenth varint byte above 1, whose bits fromBinary drops), tags longer than 4 bytes, invalid
 * UTF-8 in a validated string, nesting deeper than fromBinary's recursion limit, and packed data
 * whose last element overruns. Schemas this decoder does not model at all (proto2 or editions
 * messages that need create()'s prototype chain, custom defaults, closed enums, delimited
 * encoding, unwrapped wrapper fields) always take fromBinary.
 */
import { create, fromBinary, ScalarType, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { ListValueSchema, StructSchema, TimestampSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { latin1Slice, utf8Slice } from "./buffer-slices.js";
import { holdsStructAsJson, holdsUnwrapped } from "./field-representation.js";

type Slots = Record<string, unknown>;

/** fromBinary's default recursion limit: a message nested deeper throws there. */
const RECURSION_LIMIT = 100;
const EDITION_PROTO3 = 999;
const EDITION_PROTO2 = 998;
const IMPLICIT_PRESENCE = 2;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** Field readers' kinds. */
const SCALAR = 0;
const MESSAGE = 1;
const LIST_SCALAR = 2;
const LIST_MESSAGE = 3;
const MAP = 4;

/** How a scalar reads: its ScalarType, or ENUM (an int32 varint). */
const ENUM = 100;

/** What a read returns when the fast path gives up. */
const FAIL: unique symbol = Symbol("fall back to fromBinary");
type Fail = typeof FAIL;

/**
 * Messages read by hand-written readers instead of the generic loop: the well-known types that
 * make up most of a session's objects (claims are ListValues of Values; six Timestamps).
 */
const GENERIC = 0;
const TIMESTAMP = 1;
const VALUE = 2;
const LIST_VALUE = 3;
const STRUCT = 4;

/** How a member of the zero message is initialised: its constant, or a fresh [], {} or oneof. */
const INIT_CONSTANT = 0;
const INIT_LIST = 1;
const INIT_MAP = 2;
const INIT_ONEOF = 3;

/** A compiled message: how to build its zero message, and a field reader per field number. */
interface MessagePlan {
  readonly typeName: string;
  /** GENERIC, or the hand-written reader (matched by descriptor identity with protobuf-es's own). */
  readonly special: number;
  /**
   * The members create(schema) sets, in its order (member order): names, INIT_* kinds, and the
   * constants (the implicit-presence zero values, taken from create() itself).
   */
  readonly initNames: string[];
  readonly initKinds: number[];
  readonly initValues: unknown[];
  /** Field readers by field number: dense up to DENSE_FIELD_NUMBERS, a Map above. */
  readonly byNumber: (FieldPlan | undefined)[];
  readonly byLargeNumber: Map<number, FieldPlan>;
}

interface FieldPlan {
  readonly kind: number;
  readonly name: string;
  /** The oneof's local name, or undefined. */
  readonly oneof: string | undefined;
  /** The wire type a single (unpacked) element has. */
  readonly wire: number;
  /** ScalarType or ENUM of the scalar, list element, or map value. */
  readonly scalar: number;
  readonly strict: boolean;
  readonly longAsString: boolean;
  /** A repeated scalar that may also come packed. */
  readonly packable: boolean;
  /** The message (or map value message) plan; set after compiling, as types can recurse. */
  message: MessagePlan | undefined;
  /** The message is google.protobuf.Struct held as a JsonObject. */
  readonly json: boolean;
  /** Maps: the key's ScalarType and wire type, and the value's wire type (-1 for a message). */
  readonly mapKey: number;
  readonly mapKeyWire: number;
  readonly mapValueWire: number;
  /** Maps with enum values: the enum's first value (fromBinary's default for a missing value). */
  readonly enumZero: number;
}

const plans = new WeakMap<DescMessage, MessagePlan | null>();
const DENSE_FIELD_NUMBERS = 1024;

/**
 * Decodes `bytes` as a message of `schema`: the fast path when it can, fromBinary otherwise.
 * Returns fromBinary's result and throws fromBinary's errors.
 */
export function decodeMessageData(schema: DescMessage, bytes: Uint8Array): Message {
  const fast = fastDecodeMessageData(schema, bytes);
  return fast ?? fromBinary(schema, bytes);
}

/** The fast path alone: undefined when it falls back (exported for tests and benchmarks). */
export function fastDecodeMessageData(schema: DescMessage, bytes: Uint8Array): Message | undefined {
  const plan = planFor(schema);
  if (plan === undefined) return undefined;
  const m = readMessage(plan, bytes, 0, bytes.length, 1);
  return m === FAIL ? undefined : (m as unknown as Message);
}

/** The compiled plan for `schema`, or undefined when the schema always takes fromBinary. */
function planFor(schema: DescMessage): MessagePlan | undefined {
  const known = plans.get(schema);
  if (known !== undefined) return known ?? undefined;
  if (!isSupported(schema, new Set())) {
    plans.set(schema, null);
    return undefined;
  }
  return compile(schema);
}

// ---- Which schemas the fast path models ----

function isSupported(desc: DescMessage, visiting: Set<DescMessage>): boolean {
  if (visiting.has(desc)) return true;
  const known = plans.get(desc);
  if (known !== undefined) return known !== null;
  visiting.add(desc);
  // create() puts defaults on a prototype for proto2, and for editions messages with explicit
  // presence scalars; this decoder builds plain objects only.
  const edition = desc.file.edition as number;
  if (edition === EDITION_PROTO2) return false;
  if (edition !== EDITION_PROTO3 && desc.fields.some((f) => (f.presence as number) !== IMPLICIT_PRESENCE && f.fieldKind !== "message" && f.oneof === undefined)) return false;
  for (const field of desc.fields) {
    if (!isFieldSupported(field, visiting)) return false;
  }
  return true;
}

function isFieldSupported(field: DescField, visiting: Set<DescMessage>): boolean {
  switch (field.fieldKind) {
    case "scalar":
      return field.getDefaultValue() === undefined;
    case "enum":
      return field.enum.open && field.getDefaultValue() === undefined;
    case "message":
      if (field.delimitedEncoding) return false;
      // Singular wrapper fields outside a oneof are unwrapped to their scalar by fromBinary.
      if (holdsUnwrapped(field)) return false;
      return isSupported(field.message, visiting);
    case "list":
      if (field.listKind === "enum") return field.enum.open;
      if (field.listKind === "message") return !field.delimitedEncoding && isSupported(field.message, visiting);
      return true;
    case "map":
      if (field.mapKind === "enum") return field.enum.open;
      if (field.mapKind === "message") return isSupported(field.message, visiting);
      return true;
  }
}

// ---- Compiling ----

function compile(desc: DescMessage): MessagePlan {
  const zero = create(desc) as unknown as Slots;
  const initNames: string[] = [];
  const initKinds: number[] = [];
  const initValues: unknown[] = [];
  for (const name of Object.keys(zero)) {
    if (name === "$typeName") continue;
    const member = desc.members.find((m) => m.localName === name);
    initNames.push(name);
    initKinds.push(member?.kind === "oneof" ? INIT_ONEOF : member?.fieldKind === "list" ? INIT_LIST : member?.fieldKind === "map" ? INIT_MAP : INIT_CONSTANT);
    initValues.push(zero[name]);
  }
  const maxNumber = desc.fields.reduce((n, f) => (f.number < DENSE_FIELD_NUMBERS ? Math.max(n, f.number) : n), 0);
  const special = desc === TimestampSchema ? TIMESTAMP : desc === ValueSchema ? VALUE : desc === ListValueSchema ? LIST_VALUE : desc === StructSchema ? STRUCT : GENERIC;
  const plan: MessagePlan = { typeName: desc.typeName, special, initNames, initKinds, initValues, byNumber: new Array<FieldPlan | undefined>(maxNumber + 1).fill(undefined), byLargeNumber: new Map() };
  // Registered before its fields compile, so recursive types (Struct, Value) resolve to it.
  plans.set(desc, plan);
  for (const field of desc.fields) {
    if (field.number < DENSE_FIELD_NUMBERS) plan.byNumber[field.number] = compileField(field);
    else plan.byLargeNumber.set(field.number, compileField(field));
  }
  return plan;
}

function compileField(field: DescField): FieldPlan {
  const name = field.localName;
  const oneof = field.oneof?.localName;
  const strict = field.utf8Validation;
  switch (field.fieldKind) {
    case "scalar":
      return fieldPlan(SCALAR, name, oneof, wireTypeOf(field.scalar), field.scalar, strict, field.longAsString);
    case "enum":
      return fieldPlan(SCALAR, name, oneof, WIRE_VARINT, ENUM, strict);
    case "message":
      return fieldPlan(MESSAGE, name, oneof, WIRE_LEN, 0, strict, false, compiledPlan(field.message), holdsStructAsJson(field));
    case "list": {
      if (field.listKind === "message") return fieldPlan(LIST_MESSAGE, name, oneof, WIRE_LEN, 0, strict, false, compiledPlan(field.message), holdsStructAsJson(field));
      const scalar = field.listKind === "enum" ? ENUM : field.scalar;
      const wire = scalar === ENUM ? WIRE_VARINT : wireTypeOf(scalar);
      return fieldPlan(LIST_SCALAR, name, oneof, wire, scalar, strict, field.listKind === "scalar" && field.longAsString);
    }
    case "map": {
      const key = field.mapKey as number;
      switch (field.mapKind) {
        case "scalar":
          return fieldPlan(MAP, name, oneof, WIRE_LEN, field.scalar, strict, false, undefined, false, key, wireTypeOf(field.scalar));
        case "enum":
          return fieldPlan(MAP, name, oneof, WIRE_LEN, ENUM, strict, false, undefined, false, key, WIRE_VARINT, field.enum.values[0]?.number ?? 0);
        case "message":
          return fieldPlan(MAP, name, oneof, WIRE_LEN, 0, strict, false, compiledPlan(field.message), holdsStructAsJson(field), key, -1);
      }
    }
  }
}

/** Every FieldPlan comes from this one literal, so all share one hidden class (monomorphic reads). */
function fieldPlan(
  kind: number,
  name: string,
  oneof: string | undefined,
  wire: number,
  scalar: number,
  strict: boolean,
  longAsString = false,
  message: MessagePlan | undefined = undefined,
  json = false,
  mapKey = 0,
  mapValueWire = 0,
  enumZero = 0,
): FieldPlan {
  return { kind, name, oneof, wire, scalar, strict, longAsString, packable: kind === LIST_SCALAR && wire !== WIRE_LEN, message, json, mapKey, mapKeyWire: wireTypeOf(mapKey), mapValueWire, enumZero };
}

function compiledPlan(desc: DescMessage): MessagePlan {
  const known = plans.get(desc);
  if (known) return known;
  return compile(desc);
}

function wireTypeOf(scalar: ScalarType | number): number {
  switch (scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WIRE_LEN;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WIRE_FIXED64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WIRE_FIXED32;
    default:
      return WIRE_VARINT;
  }
}

// ---- Reading ----

/** Position after the last successful read; module state, as decoding is synchronous. */
let pos = 0;

/**
 * A fresh zero message of `plan`, built as create() builds it: a `{ $typeName }` literal, then
 * its members added in order. (Not a spread of a template object: V8 gives a spread copy a map
 * outside the shared transition tree, and every property added to it afterwards then makes a
 * new map, which costs more than the whole decode.)
 */
function newMessage(plan: MessagePlan): Slots {
  const m: Slots = { $typeName: plan.typeName };
  const { initNames, initKinds, initValues } = plan;
  for (let i = 0; i < initNames.length; i++) {
    const kind = initKinds[i];
    m[initNames[i] as string] = kind === INIT_CONSTANT ? initValues[i] : kind === INIT_LIST ? [] : kind === INIT_MAP ? {} : { case: undefined };
  }
  return m;
}

/** The message in [start, end), or FAIL. */
function readMessage(plan: MessagePlan, buf: Uint8Array, start: number, end: number, depth: number): Slots | Fail {
  if (depth > RECURSION_LIMIT) return FAIL;
  switch (plan.special) {
    case TIMESTAMP:
      return readTimestamp(buf, start, end);
    case VALUE:
      return readValue(buf, start, end, depth);
    case LIST_VALUE:
      return readListValue(buf, start, end, depth);
    case STRUCT:
      return readStruct(buf, start, end, depth);
  }
  const m = newMessage(plan);
  const byNumber = plan.byNumber;
  let p = start;
  while (p < end) {
    let tag = buf[p++] as number;
    if (tag >= 0x80) {
      // Tags of 2 to 4 bytes (field numbers below 2^25); longer ones are left to fromBinary.
      tag &= 0x7f;
      let shift = 7;
      for (;;) {
        if (p >= end || shift > 21) return FAIL;
        const b = buf[p++] as number;
        tag |= (b & 0x7f) << shift;
        if (b < 0x80) break;
        shift += 7;
      }
    }
    const number = tag >>> 3;
    const wire = tag & 7;
    const f = number < byNumber.length ? byNumber[number] : plan.byLargeNumber.get(number);
    if (f === undefined) return FAIL;
    switch (f.kind) {
      case SCALAR: {
        if (wire !== f.wire) return FAIL;
        let v: unknown;
        if (f.scalar === ScalarType.STRING) {
          // The common case, without readScalar's dispatch.
          const len = readLength(buf, p, end);
          if (len < 0) return FAIL;
          const s = pos;
          pos = s + len;
          v = readString(buf, s, s + len, f.strict);
        } else {
          v = readScalar(f.scalar, f.strict, f.longAsString, buf, p, end);
        }
        if (v === FAIL) return FAIL;
        if (f.oneof === undefined) m[f.name] = v;
        else m[f.oneof] = { case: f.name, value: v };
        p = pos;
        break;
      }
      case MESSAGE: {
        if (wire !== WIRE_LEN) return FAIL;
        // A second occurrence merges in fromBinary.
        if (f.oneof === undefined ? m[f.name] !== undefined : (m[f.oneof] as { case: unknown }).case === f.name) return FAIL;
        const len = readLength(buf, p, end);
        if (len < 0) return FAIL;
        const s = pos;
        const v = readChild(f, buf, s, s + len, depth);
        if (v === FAIL) return FAIL;
        if (f.oneof === undefined) m[f.name] = v;
        else m[f.oneof] = { case: f.name, value: v };
        p = s + len;
        break;
      }
      case LIST_SCALAR: {
        const list = m[f.name] as unknown[];
        if (wire === f.wire) {
          const v = readScalar(f.scalar, f.strict, f.longAsString, buf, p, end);
          if (v === FAIL) return FAIL;
          list.push(v);
          p = pos;
        } else if (wire === WIRE_LEN && f.packable) {
          const len = readLength(buf, p, end);
          if (len < 0) return FAIL;
          const e = pos + len;
          let q = pos;
          while (q < e) {
            const v = readScalar(f.scalar, f.strict, f.longAsString, buf, q, e);
            if (v === FAIL) return FAIL;
            list.push(v);
            q = pos;
          }
          p = e;
        } else {
          return FAIL;
        }
        break;
      }
      case LIST_MESSAGE: {
        if (wire !== WIRE_LEN) return FAIL;
        const len = readLength(buf, p, end);
        if (len < 0) return FAIL;
        const s = pos;
        const v = readChild(f, buf, s, s + len, depth);
        if (v === FAIL) return FAIL;
        (m[f.name] as unknown[]).push(v);
        p = s + len;
        break;
      }
      default: {
        // MAP
        if (wire !== WIRE_LEN) return FAIL;
        const len = readLength(buf, p, end);
        if (len < 0) return FAIL;
        const s = pos;
        if (!readMapEntry(f, m[f.name] as Slots, buf, s, s + len, depth)) return FAIL;
        p = s + len;
        break;
      }
    }
  }
  return m;
}

// ---- Hand-written readers (same objects, same fallback rule as the generic loop) ----

function readTimestamp(buf: Uint8Array, start: number, end: number): Slots | Fail {
  const ts: Slots = { $typeName: "google.protobuf.Timestamp", seconds: 0n, nanos: 0 };
  let p = start;
  while (p < end) {
    const tag = buf[p++] as number;
    if (tag === 0x08) {
      const low = readVarint64(buf, p, end);
      if (low < 0) return FAIL;
      ts["seconds"] = int64Of(low);
    } else if (tag === 0x10) {
      const v = readVarint32(buf, p, end);
      if (v < 0) return FAIL;
      ts["nanos"] = v | 0;
    } else {
      return FAIL;
    }
    p = pos;
  }
  return ts;
}

/** google.protobuf.Value at nesting depth `depth`. */
function readValue(buf: Uint8Array, start: number, end: number, depth: number): Slots | Fail {
  if (depth > RECURSION_LIMIT) return FAIL;
  let kind: { case: string | undefined; value?: unknown } | undefined = undefined;
  let p = start;
  while (p < end) {
    const tag = buf[p++] as number;
    switch (tag) {
      case 0x1a: {
        // string_value
        const len = readLength(buf, p, end);
        if (len < 0) return FAIL;
        const s = pos;
        const v = readString(buf, s, s + len, true);
        if (v === FAIL) return FAIL;
        kind = { case: "stringValue", value: v };
        p = s + len;
        break;
      }
      case 0x11: {
        // number_value
        if (p + 8 > end) return FAIL;
        kind = { case: "numberValue", value: readScalar(ScalarType.DOUBLE, false, false, buf, p, end) };
        p += 8;
        break;
      }
      case 0x20: {
        // bool_value
        const v = readScalar(ScalarType.BOOL, false, false, buf, p, end);
        if (v === FAIL) return FAIL;
        kind = { case: "boolValue", value: v };
        p = pos;
        break;
      }
      case 0x08: {
        // null_value (an open enum)
        const v = readVarint32(buf, p, end);
        if (v < 0) return FAIL;
        kind = { case: "nullValue", value: v | 0 };
        p = pos;
        break;
      }
      case 0x2a:
      case 0x32: {
        // struct_value, list_value; the same case twice merges in fromBinary.
        const c = tag === 0x2a ? "structValue" : "listValue";
        if (kind !== undefined && kind.case === c) return FAIL;
        const len = readLength(buf, p, end);
        if (len < 0) return FAIL;
        const s = pos;
        const v = tag === 0x2a ? readStruct(buf, s, s + len, depth + 1) : readListValue(buf, s, s + len, depth + 1);
        if (v === FAIL) return FAIL;
        kind = { case: c, value: v };
        p = s + len;
        break;
      }
      default:
        return FAIL;
    }
  }
  return { $typeName: "google.protobuf.Value", kind: kind ?? { case: undefined } };
}

function readListValue(buf: Uint8Array, start: number, end: number, depth: number): Slots | Fail {
  if (depth > RECURSION_LIMIT) return FAIL;
  const values: Slots[] = [];
  let p = start;
  while (p < end) {
    if (buf[p++] !== 0x0a) return FAIL;
    const len = readLength(buf, p, end);
    if (len < 0) return FAIL;
    const s = pos;
    const v = readValue(buf, s, s + len, depth + 1);
    if (v === FAIL) return FAIL;
    values.push(v);
    p = s + len;
  }
  return { $typeName: "google.protobuf.ListValue", values };
}

function readStruct(buf: Uint8Array, start: number, end: number, depth: number): Slots | Fail {
  if (depth > RECURSION_LIMIT) return FAIL;
  const fields: Slots = {};
  let p = start;
  while (p < end) {
    if (buf[p++] !== 0x0a) return FAIL;
    const len = readLength(buf, p, end);
    if (len < 0) return FAIL;
    const entryEnd = pos + len;
    let q = pos;
    let key: string | Fail | undefined = undefined;
    let value: Slots | Fail | undefined = undefined;
    while (q < entryEnd) {
      const tag = buf[q++] as number;
      const n = readLength(buf, q, entryEnd);
      if (n < 0) return FAIL;
      const s = pos;
      if (tag === 0x0a && key === undefined) key = readString(buf, s, s + n, true);
      else if (tag === 0x12 && value === undefined) value = readValue(buf, s, s + n, depth + 1);
      else return FAIL;
      if (key === FAIL || value === FAIL) return FAIL;
      q = s + n;
    }
    const v = value ?? { $typeName: "google.protobuf.Value", kind: { case: undefined } };
    const k = key ?? "";
    if (k === "__proto__") Object.defineProperty(fields, k, { value: v, writable: true, enumerable: true, configurable: true });
    else fields[k] = v;
    p = entryEnd;
  }
  return { $typeName: "google.protobuf.Struct", fields };
}

/** A message-typed value in [start, end): the message, or its JsonObject for a Struct field. */
function readChild(f: FieldPlan, buf: Uint8Array, start: number, end: number, depth: number): unknown {
  const child = readMessage(f.message as MessagePlan, buf, start, end, depth + 1);
  if (child === FAIL) return FAIL;
  return f.json ? structToJson(child) : child;
}

/** Adds one map entry in [start, end) to `map`; false to fall back. */
function readMapEntry(f: FieldPlan, map: Slots, buf: Uint8Array, start: number, end: number, depth: number): boolean {
  const keyTag = (1 << 3) | f.mapKeyWire;
  const valueTag = (2 << 3) | (f.mapValueWire < 0 ? WIRE_LEN : f.mapValueWire);
  let key: unknown = undefined;
  let value: unknown = undefined;
  let p = start;
  while (p < end) {
    const tag = buf[p++] as number;
    if (tag === keyTag && key === undefined) {
      key = readScalar(f.mapKey, f.strict, false, buf, p, end);
      if (key === FAIL) return false;
      p = pos;
    } else if (tag === valueTag && value === undefined) {
      if (f.mapValueWire < 0) {
        const len = readLength(buf, p, end);
        if (len < 0) return false;
        const s = pos;
        value = readChild(f, buf, s, s + len, depth);
        if (value === FAIL) return false;
        p = s + len;
      } else {
        value = readScalar(f.scalar, f.strict, false, buf, p, end);
        if (value === FAIL) return false;
        p = pos;
      }
    } else {
      // Unknown fields, repeats (fromBinary overwrites or merges) and long tags.
      return false;
    }
  }
  if (value === undefined) value = defaultMapValue(f);
  const k = key === undefined ? mapKeyZero(f.mapKey) : typeof key === "string" ? key : String(key);
  if (k === "__proto__") Object.defineProperty(map, k, { value, writable: true, enumerable: true, configurable: true });
  else map[k] = value;
  return true;
}

function mapKeyZero(scalar: number): string {
  switch (scalar) {
    case ScalarType.STRING:
      return "";
    case ScalarType.BOOL:
      return "false";
    default:
      return "0";
  }
}

function defaultMapValue(f: FieldPlan): unknown {
  if (f.mapValueWire < 0) {
    const zero = newMessage(f.message as MessagePlan);
    return f.json ? structToJson(zero) : zero;
  }
  if (f.scalar === ENUM) return f.enumZero;
  return scalarZero(f.scalar);
}

function scalarZero(scalar: number): unknown {
  switch (scalar) {
    case ScalarType.STRING:
      return "";
    case ScalarType.BOOL:
      return false;
    case ScalarType.BYTES:
      return new Uint8Array(0);
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return 0n;
    default:
      return 0;
  }
}

/** google.protobuf.Struct as fromBinary holds it in a field: a JsonObject. */
function structToJson(struct: Slots): Slots {
  const json: Slots = {};
  const fields = struct["fields"] as Slots;
  for (const k of Object.keys(fields)) {
    const v = valueToJson(fields[k] as Slots);
    if (k === "__proto__") Object.defineProperty(json, k, { value: v, writable: true, enumerable: true, configurable: true });
    else json[k] = v;
  }
  return json;
}

function valueToJson(value: Slots): unknown {
  const kind = value["kind"] as { case: string | undefined; value?: unknown };
  switch (kind.case) {
    case "structValue":
      return structToJson(kind.value as Slots);
    case "listValue":
      return ((kind.value as Slots)["values"] as Slots[]).map(valueToJson);
    case "nullValue":
    case undefined:
      return null;
    default:
      return kind.value;
  }
}

/** A LEN payload's length, with `pos` at its start; -1 if it runs past `end` or is malformed. */
function readLength(buf: Uint8Array, p: number, end: number): number {
  const len = readVarint32(buf, p, end);
  if (len < 0 || pos + len > end) return -1;
  return len;
}

/**
 * A varint's low 32 bits as an unsigned number (fromBinary's 32-bit reading: at most 10 bytes,
 * bits above 32 ignored); -1 if truncated or longer than 10 bytes.
 */
function readVarint32(buf: Uint8Array, p: number, end: number): number {
  if (p >= end) return -1;
  let b = buf[p++] as number;
  if (b < 0x80) {
    pos = p;
    return b;
  }
  let result = b & 0x7f;
  let factor = 128;
  for (let i = 1; i < 4; i++) {
    if (p >= end) return -1;
    b = buf[p++] as number;
    result += (b & 0x7f) * factor;
    if (b < 0x80) {
      pos = p;
      return result;
    }
    factor *= 128;
  }
  if (p >= end) return -1;
  b = buf[p++] as number;
  result += (b & 0x0f) * factor;
  for (let i = 5; b >= 0x80; i++) {
    if (i >= 10 || p >= end) return -1;
    b = buf[p++] as number;
  }
  pos = p;
  return result;
}

// 64-bit varints: the low 49 bits add up exactly in a double; the rest in a second number.
let high = 0;

/**
 * A 64-bit varint: returns its low 49 bits and leaves the bits above in `high`; -1 if truncated,
 * longer than 10 bytes, or with a tenth byte above 1 (fromBinary drops those bits).
 */
function readVarint64(buf: Uint8Array, p: number, end: number): number {
  let low = 0;
  let factor = 1;
  for (let i = 0; i < 7; i++) {
    if (p >= end) return -1;
    const b = buf[p++] as number;
    low += (b & 0x7f) * factor;
    if (b < 0x80) {
      high = 0;
      pos = p;
      return low;
    }
    factor *= 128;
  }
  let h = 0;
  factor = 1;
  for (let i = 7; i < 10; i++) {
    if (p >= end) return -1;
    const b = buf[p++] as number;
    if (i === 9 && b > 1) return -1;
    h += (b & 0x7f) * factor;
    if (b < 0x80) {
      high = h;
      pos = p;
      return low;
    }
    factor *= 128;
  }
  return -1;
}

const TWO_POW_64 = 1n << 64n;
const TWO_POW_63 = 1n << 63n;

/** The unsigned 64-bit value of a readVarint64 result. */
function uint64Of(low: number): bigint {
  return high === 0 ? BigInt(low) : BigInt(low) + (BigInt(high) << 49n);
}

function int64Of(low: number): bigint {
  if (high === 0) return BigInt(low);
  const u = BigInt(low) + (BigInt(high) << 49n);
  return u >= TWO_POW_63 ? u - TWO_POW_64 : u;
}

function sint64Of(low: number): bigint {
  if (high === 0) return BigInt(low % 2 === 0 ? low / 2 : -(low + 1) / 2);
  const u = BigInt(low) + (BigInt(high) << 49n);
  return (u & 1n) === 0n ? u >> 1n : -((u >> 1n) + 1n);
}

// Fixed-width floats go through 8 bytes of scratch memory.
const scratch = new DataView(new ArrayBuffer(8));

function fixed32At(buf: Uint8Array, p: number): number {
  return ((buf[p] as number) | ((buf[p + 1] as number) << 8) | ((buf[p + 2] as number) << 16) | ((buf[p + 3] as number) << 24)) >>> 0;
}

/** One scalar (or enum) value at `p`, with `pos` after it; FAIL if not fast. */
function readScalar(scalar: number, strict: boolean, longAsString: boolean, buf: Uint8Array, p: number, end: number): unknown {
  switch (scalar) {
    case ScalarType.STRING: {
      const len = readLength(buf, p, end);
      if (len < 0) return FAIL;
      const s = pos;
      pos = s + len;
      return readString(buf, s, s + len, strict);
    }
    case ScalarType.BYTES: {
      const len = readLength(buf, p, end);
      if (len < 0) return FAIL;
      const s = pos;
      pos = s + len;
      return buf.subarray(s, s + len);
    }
    case ScalarType.BOOL: {
      if (p < end && (buf[p] as number) < 0x80) {
        pos = p + 1;
        return buf[p] !== 0;
      }
      const low = readVarint64(buf, p, end);
      if (low < 0) return FAIL;
      return low !== 0 || high !== 0;
    }
    case ENUM:
    case ScalarType.INT32: {
      const v = readVarint32(buf, p, end);
      return v < 0 ? FAIL : v | 0;
    }
    case ScalarType.UINT32: {
      const v = readVarint32(buf, p, end);
      return v < 0 ? FAIL : v;
    }
    case ScalarType.SINT32: {
      const v = readVarint32(buf, p, end);
      return v < 0 ? FAIL : (v >>> 1) ^ -(v & 1);
    }
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64: {
      const low = readVarint64(buf, p, end);
      if (low < 0) return FAIL;
      const v = scalar === ScalarType.INT64 ? int64Of(low) : scalar === ScalarType.UINT64 ? uint64Of(low) : sint64Of(low);
      return longAsString ? String(v) : v;
    }
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
    case ScalarType.FLOAT: {
      if (p + 4 > end) return FAIL;
      pos = p + 4;
      const u = fixed32At(buf, p);
      if (scalar === ScalarType.FIXED32) return u;
      if (scalar === ScalarType.SFIXED32) return u | 0;
      scratch.setUint32(0, u, true);
      return scratch.getFloat32(0, true);
    }
    default: {
      // DOUBLE, FIXED64, SFIXED64
      if (p + 8 > end) return FAIL;
      pos = p + 8;
      const lo = fixed32At(buf, p);
      const hi = fixed32At(buf, p + 4);
      if (scalar === ScalarType.DOUBLE) {
        scratch.setUint32(0, lo, true);
        scratch.setUint32(4, hi, true);
        return scratch.getFloat64(0, true);
      }
      let v = hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
      if (scalar === ScalarType.SFIXED64 && v >= TWO_POW_63) v -= TWO_POW_64;
      return longAsString ? String(v) : v;
    }
  }
}

// fromBinary decodes validated strings strictly (invalid UTF-8 throws), others with U+FFFD, and
// keeps a leading U+FEFF either way.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenientUtf8 = new TextDecoder("utf-8", { ignoreBOM: true });
// utf8Slice (buffer-slices.ts) keeps a BOM and gives U+FFFD for invalid sequences: a result
// without U+FFFD is what these decoders give. latin1Slice is for bytes already checked to be ASCII.

/**
 * Short ASCII strings repeat from record to record (claim names, group names, token types,
 * issuers): a direct-mapped table from their bytes to the string already made returns the same
 * string again without building it. Strings are values, so sharing one is invisible to callers,
 * and it keeps the decoded records' heap smaller.
 */
const INTERN_MAX_BYTES = 32;
const INTERN_SLOTS = 4096;
const internBytes = new Uint8Array(INTERN_SLOTS * INTERN_MAX_BYTES);
const internLengths = new Uint8Array(INTERN_SLOTS);
const internStrings: string[] = new Array<string>(INTERN_SLOTS).fill("");

/** The string in [start, end), or FAIL for invalid UTF-8 in a validated string. */
function readString(buf: Uint8Array, start: number, end: number, strict: boolean): string | Fail {
  const n = end - start;
  if (n === 0) return "";
  if (n > INTERN_MAX_BYTES) return decodeUtf8(buf, start, end, strict);
  let h = n;
  for (let i = start; i < end; i++) {
    const c = buf[i] as number;
    if (c > 0x7f) return decodeUtf8(buf, start, end, strict);
    h = Math.imul(h ^ c, 0x01000193);
  }
  const slot = (h ^ (h >>> 15)) & (INTERN_SLOTS - 1);
  const at = slot * INTERN_MAX_BYTES;
  if (internLengths[slot] === n) {
    let i = 0;
    while (i < n && internBytes[at + i] === buf[start + i]) i++;
    if (i === n) return internStrings[slot] as string;
  }
  const text = latin1Slice !== undefined ? latin1Slice.call(buf, start, end) : String.fromCharCode.apply(null, buf.subarray(start, end) as unknown as number[]);
  for (let i = 0; i < n; i++) internBytes[at + i] = buf[start + i] as number;
  internLengths[slot] = n;
  internStrings[slot] = text;
  return text;
}

function decodeUtf8(buf: Uint8Array, start: number, end: number, strict: boolean): string | Fail {
  if (utf8Slice !== undefined) {
    const s = utf8Slice.call(buf, start, end);
    if (s.indexOf("\uFFFD") < 0) return s;
  }
  const bytes = buf.subarray(start, end);
  if (!strict) return lenientUtf8.decode(bytes);
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return FAIL;
  }
}
