/**
 * Query (spec 6): parse the filter, select live records, apply the free-text query, then offset
 * and limit. Versions in the answer are the server's current ones.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { Record } from "../../gen/databroker/databroker_pb.js";
import { FilterParseError, parseFilter, type FilterExpression } from "../query/filter-expression.js";
import { anyDataMatchesQuery } from "../query/free-text-query.js";
import { applyOffsetAndLimit } from "../query/offset-limit.js";
import { UnsupportedFilterError } from "../query/unsupported-filter-error.js";
import type { DatabrokerStorage } from "./storage/databroker-storage.js";
import { StorageError } from "./storage/storage-error.js";

export interface QueryInput {
  readonly type: string;
  readonly query: string;
  readonly offset: bigint;
  readonly limit: bigint;
  readonly filter: JsonObject | undefined;
}

export interface QueryResult {
  readonly records: Record[];
  readonly totalCount: bigint;
  readonly serverVersion: bigint;
  readonly recordVersion: bigint;
}

export function executeQuery(storage: DatabrokerStorage, input: QueryInput): QueryResult {
  // Pomerium panics on negative offset/limit (a Go slice bound error, no recover interceptor).
  // We deliberately answer INVALID_ARGUMENT instead: a bad request must not take a server down.
  if (input.offset < 0n) throw new StorageError("INVALID_ARGUMENT", "offset must not be negative");
  if (input.limit < 0n) throw new StorageError("INVALID_ARGUMENT", "limit must not be negative");
  const query = input.query.toLowerCase();
  let filter: FilterExpression | undefined;
  try {
    filter = parseFilter(input.filter);
  } catch (err) {
    if (err instanceof FilterParseError) throw new StorageError("INVALID_ARGUMENT", `invalid query filter: ${err.message}`);
    throw err;
  }
  const { serverVersion, latestRecordVersion } = storage.versions();
  const selected = storage.queryRecords(input.type, filter);
  if (selected.error instanceof UnsupportedFilterError) throw new StorageError("UNIMPLEMENTED", selected.error.message);
  if (selected.error !== undefined) throw selected.error;
  const matching = query === "" ? [...selected.items] : selected.items.filter((r) => anyDataMatchesQuery(r.data, query));
  const { records, totalCount } = applyOffsetAndLimit(matching, input.offset, input.limit);
  return { records, totalCount, serverVersion, recordVersion: latestRecordVersion };
}
