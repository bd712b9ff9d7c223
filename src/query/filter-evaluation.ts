/**
 * Evaluates a parsed filter the way Pomerium's memory/file storage does
 * (pkg/storage/file/iterate.go): only equality, on `id`, `$index` (CIDR) and indexable fields;
 * AND/OR as sorted merges on (type, id); `$not` and other operators end the result with an
 * {@link UnsupportedFilterError}. Free of storage: the caller supplies the lookups, so the
 * server and a local replica give the same answers.
 */
import type { FilterExpression } from "./filter-expression.js";
import { compareUtf8 } from "./filter-expression.js";
import { filterValueAsString } from "./filter-value-string.js";
import { sortedIntersection, sortedUnion, type Sequence } from "./sorted-merge.js";
import { logicalOperatorNotSupported, operatorNotSupported } from "./unsupported-filter-error.js";

/** What a record needs for ordering: its type and id. */
export interface TypedRecord {
  readonly type: string;
  readonly id: string;
}

/** The lookups filter evaluation needs. */
export interface FilterSource<R extends TypedRecord> {
  /** Live records of a type ("" = every type) in (type, id) byte order. */
  listRecords(type: string): R[];
  /** The live record with this id, one sequence per type ("" = every type with records), in type order. */
  recordsWithId(type: string, id: string): Array<Sequence<R>>;
  /** `$index` lookup of an IP or CIDR (most specific stored prefix only; Pomerium's order). */
  recordsForCidr(type: string, value: string): R[];
  /** Indexed-field lookup: records of exactly this type whose indexed `field` equals `value`, by id. */
  recordsForIndexedField(type: string, field: string, value: string): R[];
}

/** Storage order: type, then id, byte order. */
export function compareTypedRecords(a: TypedRecord, b: TypedRecord): number {
  return compareUtf8(a.type, b.type) || compareUtf8(a.id, b.id);
}

/**
 * The records a filter selects; `error` (an UnsupportedFilterError) is set where Pomerium's
 * iterator would yield one, and a query must then fail.
 */
export function evaluateFilter<R extends TypedRecord>(source: FilterSource<R>, type: string, filter: FilterExpression | undefined): Sequence<R> {
  if (filter === undefined) return { items: source.listRecords(type) };
  switch (filter.kind) {
    case "and":
      return sortedIntersection(compareTypedRecords, filter.terms.map((t) => evaluateFilter(source, type, t)));
    case "or":
      return sortedUnion(compareTypedRecords, filter.terms.map((t) => evaluateFilter(source, type, t)));
    case "not":
      return { items: [], error: logicalOperatorNotSupported() };
    case "simple": {
      if (filter.operator !== "equals") return { items: [], error: operatorNotSupported(filter.operator) };
      const value = filterValueAsString(filter.value);
      if (filter.fields.length === 1 && filter.fields[0] === "id") return sortedUnion(compareTypedRecords, source.recordsWithId(type, value));
      if (filter.fields.length === 1 && filter.fields[0] === "$index") return { items: source.recordsForCidr(type, value) };
      return { items: source.recordsForIndexedField(type, filter.fields.join("."), value) };
    }
  }
}
