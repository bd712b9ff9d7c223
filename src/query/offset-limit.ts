/**
 * Query paging as Pomerium applies it (databroker.ApplyOffsetAndLimit): total = all matches;
 * an offset at or past the end gives nothing; limit 0 gives nothing (there is no "no limit").
 */

/** The page of `all` selected by offset and limit, plus the total count before paging. */
export function applyOffsetAndLimit<T>(all: readonly T[], offset: bigint, limit: bigint): { records: T[]; totalCount: bigint } {
  // Pomerium panics on negative values (a Go slice bound error); callers reject them first.
  if (offset < 0n || limit < 0n) throw new RangeError("offset and limit must not be negative");
  const start = offset < BigInt(all.length) ? Number(offset) : all.length;
  const rest = all.length - start;
  const count = limit <= BigInt(rest) ? Number(limit) : rest;
  return { records: all.slice(start, start + count), totalCount: BigInt(all.length) };
}
