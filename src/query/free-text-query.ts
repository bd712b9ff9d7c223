/** The whole free-text step of Query for one record's data: decode, then match. */
import type { Registry } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { knownDataRegistry, tryDecodeAnyData } from "./data-registry.js";
import { messageMatchesQuery } from "./free-text-match.js";

/**
 * True when the record data matches the free-text query. Data the server cannot decode never
 * matches (as Pomerium's MatchAny). `lowercaseQuery` must already be lowercased.
 */
export function anyDataMatchesQuery(data: Any | undefined, lowercaseQuery: string, registry: Registry = knownDataRegistry): boolean {
  const decoded = tryDecodeAnyData(data, registry);
  if (decoded === undefined) return false;
  return messageMatchesQuery(decoded.schema, decoded.message, lowercaseQuery);
}
