/**
 * Query evaluated over the replica's tables, with the server's file/memory semantics (spec 6):
 * the filter language and value stringification come from src/query (shared with the server),
 * evaluation mirrors pkg/storage/file/iterate.go: `id` equality, indexed-field equality (only for
 * fields in the type's indexable_fields, only with a type), AND = intersection, OR = union, all
 * in (type, id) byte order.
 */
import { create, type JsonObject } from "@bufbuild/protobuf";
import { AnySchema, type Any, type Struct } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { QueryResponseSchema, type QueryResponse } from "../../gen/databroker/databroker_pb.js";
import { CidrIndex, recordIndexCidr } from "../query/cidr-index.js";
import { compareUtf8, FilterParseError, parseFilter, parseFilterStruct, type FilterExpression } from "../query/filter-expression.js";
import { filterValueAsString } from "../query/filter-value-string.js";
import { messageMatchesQuery } from "../query/free-text-match.js";
import { parseIpAddress, parseIpPrefix } from "../query/ip-prefix.js";
import { applyOffsetAndLimit } from "../query/offset-limit.js";
import { schemaForTypeUrl } from "../records/record-registry.js";
import { recordBytes, transientMessage, type CachedRecord } from "./cached-record.js";
import { recordMessage } from "./raw-record.js";
import type { TypeTable } from "./type-table.js";

export interface QueryTableSource {
  table(type: string): TypeTable | undefined;
  types(): string[];
}

export interface QueryRequestFields {
  readonly filter?: Struct | JsonObject;
  readonly query?: string;
  readonly offset?: bigint | number;
  readonly limit?: bigint | number;
}

/**
 * Answers `request` (null taken as no request) over the tables. A request the types do not
 * describe, from an untyped caller, is refused with InvalidArgument naming the field: a filter
 * that is not an object, or holds a value JSON has no form for (undefined, a symbol, a Date),
 * would otherwise be answered with no records, as if nothing matched.
 */
export function queryTables(
  source: QueryTableSource,
  type: string,
  request: QueryRequestFields | null,
  versions: { serverVersion: bigint; recordVersion: bigint },
): QueryResponse {
  const fields = request ?? {};
  if (typeof fields !== "object") throw invalidRequest("the query request must be an object");
  const expr = parseRequestFilter(fields.filter);
  const offset = toBigInt(fields.offset, "offset");
  // An omitted limit means every match (a local read has no reason to page). A given one pages
  // as the server and Pomerium's own queriers do, so an explicit 0 returns only total_count.
  const limit = fields.limit === undefined ? undefined : toBigInt(fields.limit, "limit");
  const query: unknown = fields.query;
  if (query !== undefined && typeof query !== "string") throw invalidRequest("query must be a string");

  let matches = expr === undefined ? allRecords(source, type) : evaluate(source, type, expr);
  const text = (query ?? "").toLowerCase();
  if (text !== "") matches = matches.filter((record) => matchesText(record, text));

  const page = applyOffsetAndLimit(matches, offset, limit ?? BigInt(matches.length));
  return create(QueryResponseSchema, {
    // A copy of each record's bytes: a view would expose the shared slab (other records' bytes)
    // through `.buffer` and let a caller write into the replica.
    records: page.records.map((r) => recordMessage(r.type, r.id, r.version, r.modifiedAt, r.typeUrl, recordBytes(r).slice())),
    totalCount: page.totalCount,
    serverVersion: versions.serverVersion,
    recordVersion: versions.recordVersion,
  });
}

function invalidRequest(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

function invalidFilter(message: string): ConnectError {
  return invalidRequest(`invalid query filter: ${message}`);
}

function parseRequestFilter(filter: unknown): FilterExpression | undefined {
  if (filter === undefined) return undefined;
  if (filter === null || typeof filter !== "object" || Array.isArray(filter)) {
    throw invalidFilter("the filter must be a JSON object or a google.protobuf.Struct");
  }
  const isStruct = (filter as { $typeName?: unknown }).$typeName === "google.protobuf.Struct";
  if (!isStruct) {
    const notJson = notJsonAt(filter, "filter");
    if (notJson !== undefined) throw invalidFilter(`${notJson} is not a JSON value`);
  }
  try {
    return isStruct ? parseFilterStruct(filter as Struct) : parseFilter(filter as JsonObject);
  } catch (err) {
    if (err instanceof FilterParseError) throw invalidFilter(err.message);
    // The Struct's conversion to JSON refused it.
    if (isStruct) throw invalidFilter("the google.protobuf.Struct is malformed");
    throw err;
  }
}

/**
 * The path of the first value under `value` that JSON has no form for (undefined, a bigint, a
 * symbol, a function, an object that is not a plain object or array), or undefined. Only the
 * path is named: the values are the caller's data.
 */
function notJsonAt(value: unknown, path: string): string | undefined {
  switch (typeof value) {
    case "string":
    case "number":
    case "boolean":
      return undefined;
    case "object": {
      if (value === null) return undefined;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const at = notJsonAt(value[i], `${path}[${i}]`);
          if (at !== undefined) return at;
        }
        return undefined;
      }
      const prototype: unknown = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) return path;
      for (const key of Object.keys(value)) {
        const at = notJsonAt((value as Record<string, unknown>)[key], `${path}.${key}`);
        if (at !== undefined) return at;
      }
      return undefined;
    }
    default:
      return path;
  }
}

function toBigInt(value: unknown, name: string): bigint {
  if (value === undefined) return 0n;
  if (typeof value !== "bigint" && !(typeof value === "number" && Number.isSafeInteger(value))) {
    throw invalidRequest(`${name} must be an integer (a number or a bigint)`);
  }
  const v = BigInt(value);
  // The server panics on negative values; answer clearly instead.
  if (v < 0n) throw new ConnectError(`${name} must not be negative`, Code.InvalidArgument);
  return v;
}

function compareRecords(a: CachedRecord, b: CachedRecord): number {
  return compareUtf8(a.type, b.type) || compareUtf8(a.id, b.id);
}

function sortedTypes(source: QueryTableSource, type: string): string[] {
  return type !== "" ? [type] : source.types().sort(compareUtf8);
}

function allRecords(source: QueryTableSource, type: string): CachedRecord[] {
  const out: CachedRecord[] = [];
  for (const t of sortedTypes(source, type)) {
    const table = source.table(t);
    if (table !== undefined) for (const r of table.values()) out.push(r);
  }
  return out.sort(compareRecords);
}

function evaluate(source: QueryTableSource, type: string, expr: FilterExpression): CachedRecord[] {
  switch (expr.kind) {
    case "and": {
      const parts = expr.terms.map((t) => evaluate(source, type, t));
      if (parts.length === 0) return [];
      const [first, ...rest] = parts as [CachedRecord[], ...CachedRecord[][]];
      const others = rest.map((p) => new Set(p));
      return first.filter((r) => others.every((s) => s.has(r)));
    }
    case "or": {
      const union = new Set<CachedRecord>();
      for (const t of expr.terms) for (const r of evaluate(source, type, t)) union.add(r);
      return [...union].sort(compareRecords);
    }
    case "not":
      throw new ConnectError("logical operator not supported", Code.Unimplemented);
    case "simple": {
      if (expr.operator !== "equals") throw new ConnectError(`operator not supported: ${expr.operator}`, Code.Unimplemented);
      const value = filterValueAsString(expr.value);
      const path = expr.fields.join(".");
      if (path === "id") {
        const out: CachedRecord[] = [];
        for (const t of sortedTypes(source, type)) {
          const r = source.table(t)?.get(value);
          if (r !== undefined) out.push(r);
        }
        return out;
      }
      if (path === "$index") return cidrLookup(source, type, value);
      if (type === "") return [];
      const table = source.table(type);
      if (table === undefined) return [];
      const out: CachedRecord[] = [];
      for (const id of table.byField(path, value)) {
        const r = table.get(id);
        if (r !== undefined) out.push(r);
      }
      return out.sort(compareRecords);
    }
  }
}

function matchesText(record: CachedRecord, lowercaseQuery: string): boolean {
  const schema = schemaForTypeUrl(record.typeUrl);
  if (schema === undefined) return false;
  const message = transientMessage(record);
  return message !== undefined && messageMatchesQuery(schema, message, lowercaseQuery);
}

/** Data types that can carry `$index.cidr` (Pomerium unwraps Any, reads Struct or Value). */
const CIDR_CARRIERS = new Set([
  "type.googleapis.com/google.protobuf.Struct",
  "type.googleapis.com/google.protobuf.Value",
  "type.googleapis.com/google.protobuf.Any",
]);

/**
 * `$index` lookups, built at query time from the few records whose data can carry a CIDR, in
 * write (version) order as the server's table is; values that are not an IP or a CIDR (such as
 * the session ids Pomerium's lookup helper sends) return nothing without scanning.
 */
function cidrLookup(source: QueryTableSource, type: string, value: string): CachedRecord[] {
  if (parseIpPrefix(value) === undefined && parseIpAddress(value) === undefined) return [];
  const carriers: CachedRecord[] = [];
  for (const t of source.types()) {
    const table = source.table(t);
    if (table === undefined) continue;
    for (const r of table.values()) if (CIDR_CARRIERS.has(r.typeUrl)) carriers.push(r);
  }
  if (carriers.length === 0) return [];
  carriers.sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
  const index = new CidrIndex();
  for (const r of carriers) {
    const prefix = recordIndexCidr(anyOf(r));
    if (prefix !== undefined) index.add(prefix, { type: r.type, id: r.id });
  }
  const out: CachedRecord[] = [];
  for (const entry of index.lookup(type, value)) {
    const r = source.table(entry.type)?.get(entry.id);
    if (r !== undefined) out.push(r);
  }
  return out;
}

function anyOf(record: CachedRecord): Any {
  return create(AnySchema, { typeUrl: record.typeUrl, value: recordBytes(record) });
}
