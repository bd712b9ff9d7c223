/**
 * The databroker Query filter language (spec 6): a google.protobuf.Struct turned into an
 * expression tree, with the same shape and parse errors as Pomerium's pkg/storage/filter.go.
 *
 * Parsing never fails for unsupported operators or `$not`: those parse fine and are rejected
 * later, at evaluation time, with UNIMPLEMENTED (see {@link unsupportedFilterError}).
 */
import { toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { StructSchema, type Struct } from "@bufbuild/protobuf/wkt";

/** Comparison operators, named as Pomerium names them (the name appears in UNIMPLEMENTED errors). */
export type FilterOperator =
  | "after"
  | "before"
  | "contains"
  | "doesNotContain"
  | "doesNotEqual"
  | "endsWith"
  | "equals"
  | ">"
  | ">="
  | "isAnyOf"
  | "isEmpty"
  | "isNotEmpty"
  | "<"
  | "<="
  | "onOrAfter"
  | "onOrBefore"
  | "startsWith";

export type FilterExpression =
  | { readonly kind: "and"; readonly terms: readonly FilterExpression[] }
  | { readonly kind: "or"; readonly terms: readonly FilterExpression[] }
  | { readonly kind: "not"; readonly term: FilterExpression }
  | {
      readonly kind: "simple";
      /** Field path, e.g. ["id"], ["$index"], ["user_id"], ["a", "b"]. */
      readonly fields: readonly string[];
      readonly operator: FilterOperator;
      /** The raw JSON (Struct) value; use {@link filterValueAsString} for equality. */
      readonly value: JsonValue;
    };

/** A malformed filter; the server answers INVALID_ARGUMENT "invalid query filter: <message>". */
export class FilterParseError extends Error {
  override readonly name = "FilterParseError";
}

const OPERATOR_KEYS: ReadonlyMap<string, FilterOperator> = new Map<string, FilterOperator>([
  ["$after", "after"],
  ["$before", "before"],
  ["$contains", "contains"],
  ["$doesNotContain", "doesNotContain"],
  ["!=", "doesNotEqual"],
  ["$doesNotEqual", "doesNotEqual"],
  ["$endsWith", "endsWith"],
  ["=", "equals"],
  ["==", "equals"],
  ["$eq", "equals"],
  ["$equals", "equals"],
  ["$is", "equals"],
  [">", ">"],
  [">=", ">="],
  ["$isAnyOf", "isAnyOf"],
  ["$isEmpty", "isEmpty"],
  ["$isNotEmpty", "isNotEmpty"],
  ["<", "<"],
  ["<=", "<="],
  ["$onOrAfter", "onOrAfter"],
  ["$onOrBefore", "onOrBefore"],
  ["$startsWith", "startsWith"],
]);

/** Maps an operator key (`$eq`, `>=`, ...) to its operator, or undefined for a plain field name. */
export function filterOperatorFromKey(key: string): FilterOperator | undefined {
  return OPERATOR_KEYS.get(key);
}

/**
 * Parses a filter given in its JSON form (how protobuf-es represents a google.protobuf.Struct
 * field). Returns undefined for an absent filter (no filtering).
 * @throws FilterParseError for `$and`/`$or` values that are not arrays
 */
export function parseFilter(filter: JsonObject | undefined): FilterExpression | undefined {
  if (filter === undefined) return undefined;
  return fromObject([], filter);
}

/** Same as {@link parseFilter}, from a Struct message. */
export function parseFilterStruct(filter: Struct | undefined): FilterExpression | undefined {
  if (filter === undefined) return undefined;
  return parseFilter(toJson(StructSchema, filter) as JsonObject);
}

function fromValue(path: readonly string[], value: JsonValue): FilterExpression {
  if (Array.isArray(value)) return { kind: "or", terms: value.map((v) => fromValue(path, v)) };
  if (value !== null && typeof value === "object") return fromObject(path, value as JsonObject);
  return { kind: "simple", fields: path, operator: "equals", value };
}

function fromObject(path: readonly string[], object: JsonObject): FilterExpression {
  const and: FilterExpression[] = [];
  // Keys in Go's sort.Strings order (byte order), which decides AND term order.
  for (const key of Object.keys(object).sort(compareUtf8)) {
    const value = object[key] as JsonValue;
    switch (key) {
      case "$and":
      case "$or": {
        const expr = fromValue(path, value);
        if (expr.kind !== "or") throw new FilterParseError(`${key} must be an array`);
        if (expr.terms.length === 1) and.push(expr.terms[0] as FilterExpression);
        else and.push(key === "$and" ? { kind: "and", terms: expr.terms } : expr);
        break;
      }
      case "$not":
        and.push({ kind: "not", term: fromValue(path, value) });
        break;
      default: {
        const operator = filterOperatorFromKey(key);
        if (operator !== undefined) and.push({ kind: "simple", fields: path, operator, value });
        else and.push(fromValue([...path, key], value));
      }
    }
  }
  if (and.length === 1) return and[0] as FilterExpression;
  return { kind: "and", terms: and };
}

/** Compares strings by UTF-8 byte order (= code point order), as Go compares strings. */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800-0xDFFF) encode code points above 0xFFFF, which sort after 0xE000-0xFFFF.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}
