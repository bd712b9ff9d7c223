/**
 * Type names of the public surface, checked by the compiler: by `npm run typecheck` against src/
 * and, in pack.test.ts, against the installed package (the imports are rewritten there).
 */
import type { DatabrokerRecord, QueryResponse } from "../../src/index.js";
// @ts-expect-error The databroker's Record message is exported as DatabrokerRecord only, so that
// importing it never shadows TypeScript's global Record<K, V> in the importing file.
import type { Record as ShadowingRecord } from "../../src/index.js";

/** A user's file can import DatabrokerRecord and still use the global Record<K, V>. */
export function idsByType(response: QueryResponse): Record<string, string[]> {
  const ids: Record<string, string[]> = {};
  const records: DatabrokerRecord[] = response.records;
  for (const record of records) (ids[record.type] ??= []).push(record.id);
  return ids;
}
