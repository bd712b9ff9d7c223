/**
 * Index keys for the server's `indexable_fields` (spec 7), computed the way Pomerium's file/memory
 * backend computes them (pkg/storage/index.go GetIndexableFields), but by scanning the wire bytes
 * along each path instead of decoding the whole message:
 *
 * - a path is dotted protobuf field names; message fields go deeper, and a string-keyed map takes
 *   the next segment as a key;
 * - a populated string leaf gives its value; a missing or unpopulated field, or a path running
 *   through something that is not a message or map, gives "";
 * - a populated leaf that is not a string (number, bool, enum, bytes, message, list, map) makes the
 *   whole record unindexable: no key for any of the type's fields;
 * - data the SDK cannot decode (unknown type URL, malformed bytes) is unindexable too.
 */
import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import { decodeUtf8Range } from "./buffer-slices.js";
import {
  isZeroScalar,
  MalformedWireError,
  newWireField,
  nextField,
  WIRE_LEN,
  type WireField,
} from "./wire-scan.js";

/** A parsed indexable field: the dotted name and its segments. */
export interface IndexableFieldPath {
  readonly name: string;
  readonly segments: readonly string[];
}

export function parseIndexableField(name: string): IndexableFieldPath {
  return { name, segments: name.split(".") };
}

/** Thrown inside the walk when a leaf is not a string; the record then gets no keys at all. */
class NotIndexable extends Error {}
const NOT_INDEXABLE = new NotIndexable();

/**
 * The key of each path for this data, in `paths` order, or undefined when the record is not
 * indexable. `windows` are [start, end) pairs: several occurrences of a message merge.
 */
export function extractIndexableFields(
  schema: DescMessage,
  bytes: Uint8Array,
  paths: readonly IndexableFieldPath[],
): string[] | undefined {
  try {
    const keys: string[] = [];
    for (const path of paths) keys.push(walk(schema, bytes, [0, bytes.length], path.segments, 0));
    return keys;
  } catch (err) {
    if (err === NOT_INDEXABLE || err instanceof MalformedWireError) return undefined;
    throw err;
  }
}

function findField(desc: DescMessage, name: string): DescField | undefined {
  for (const f of desc.fields) if (f.name === name) return f;
  return undefined;
}

/** Every occurrence of `fieldNumber` across the message windows, as [wireType, start, end] triples. */
function occurrences(bytes: Uint8Array, windows: readonly number[], fieldNumber: number): number[] {
  const found: number[] = [];
  const field: WireField = newWireField();
  for (let w = 0; w < windows.length; w += 2) {
    let pos = windows[w] as number;
    const end = windows[w + 1] as number;
    while (pos < end) {
      pos = nextField(bytes, pos, end, field);
      if (field.fieldNumber === fieldNumber) found.push(field.wireType, field.valueStart, field.valueEnd);
    }
  }
  return found;
}

function hasExplicitPresence(field: DescField): boolean {
  return field.oneof !== undefined || ("presence" in field && field.presence !== FeatureSet_FieldPresence.IMPLICIT);
}

function walk(desc: DescMessage, bytes: Uint8Array, windows: readonly number[], segments: readonly string[], i: number): string {
  const field = findField(desc, segments[i] as string);
  if (field === undefined) return "";
  const found = occurrences(bytes, windows, field.number);
  if (found.length === 0) return "";
  const leaf = i === segments.length - 1;
  switch (field.fieldKind) {
    case "scalar":
    case "enum": {
      const last = found.length - 3;
      const probe: WireField = {
        fieldNumber: field.number,
        wireType: found[last] as number,
        valueStart: found[last + 1] as number,
        valueEnd: found[last + 2] as number,
      };
      // Go's reflection Range skips proto3 fields holding their zero value: they are "missing".
      if (!hasExplicitPresence(field) && isZeroScalar(bytes, probe)) return "";
      if (!leaf) return "";
      if (field.fieldKind === "scalar" && field.scalar === ScalarType.STRING && probe.wireType === WIRE_LEN) {
        return decodeUtf8Range(bytes, probe.valueStart, probe.valueEnd);
      }
      throw NOT_INDEXABLE;
    }
    case "message": {
      if (leaf) throw NOT_INDEXABLE;
      return walk(field.message, bytes, lenWindows(found), segments, i + 1);
    }
    case "list":
      if (leaf) throw NOT_INDEXABLE;
      return "";
    case "map": {
      if (leaf) throw NOT_INDEXABLE;
      return walkMapEntry(field, bytes, lenWindows(found), segments, i + 1);
    }
  }
}

/** The [start, end) windows of the length-delimited occurrences in a triple list. */
function lenWindows(found: readonly number[]): number[] {
  const windows: number[] = [];
  for (let j = 0; j < found.length; j += 3) {
    if (found[j] === WIRE_LEN) windows.push(found[j + 1] as number, found[j + 2] as number);
  }
  return windows;
}

/** Looks up segments[i] as a map key (last entry wins) and continues with its value. */
function walkMapEntry(
  field: DescField & { fieldKind: "map" },
  bytes: Uint8Array,
  entries: readonly number[],
  segments: readonly string[],
  i: number,
): string {
  const key = segments[i] as string;
  const leaf = i === segments.length - 1;
  let valueWindows: number[] | undefined;
  const f = newWireField();
  for (let e = 0; e < entries.length; e += 2) {
    let pos = entries[e] as number;
    const end = entries[e + 1] as number;
    let entryKey = mapKeyDefault(field.mapKey);
    const values: number[] = [];
    while (pos < end) {
      pos = nextField(bytes, pos, end, f);
      if (f.fieldNumber === 1) entryKey = mapKeyText(field.mapKey, bytes, f);
      else if (f.fieldNumber === 2) values.push(f.wireType, f.valueStart, f.valueEnd);
    }
    if (entryKey === key) valueWindows = values;
  }
  if (valueWindows === undefined) return "";
  switch (field.mapKind) {
    case "scalar":
      if (!leaf) return "";
      if (field.scalar !== ScalarType.STRING) throw NOT_INDEXABLE;
      for (let j = valueWindows.length - 3; j >= 0; j -= 3) {
        if (valueWindows[j] === WIRE_LEN) return decodeUtf8Range(bytes, valueWindows[j + 1] as number, valueWindows[j + 2] as number);
      }
      return "";
    case "enum":
      if (!leaf) return "";
      throw NOT_INDEXABLE;
    case "message":
      if (leaf) throw NOT_INDEXABLE;
      return walk(field.message, bytes, lenWindows(valueWindows), segments, i + 1);
  }
}

function mapKeyDefault(keyType: ScalarType): string {
  return keyType === ScalarType.STRING ? "" : keyType === ScalarType.BOOL ? "false" : "0";
}

/** Map keys as Go's MapKey.String(): strings as is; other key types only matter as text. */
function mapKeyText(keyType: ScalarType, bytes: Uint8Array, f: WireField): string {
  if (keyType === ScalarType.STRING && f.wireType === WIRE_LEN) return decodeUtf8Range(bytes, f.valueStart, f.valueEnd);
  // Numeric and bool keys: index paths over them are vanishingly rare; compare a non-zero marker.
  return isZeroScalar(bytes, f) ? mapKeyDefault(keyType) : "\u0000non-string-key";
}
