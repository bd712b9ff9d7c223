/**
 * Warming the first-read path before a new table is swapped in.
 *
 * A record's data is decoded and deep-frozen on its first read (cached-record.ts). The first few
 * hundred of those reads in a process run before V8 has optimised the decoder and the freezer:
 * measured on 100k demo sessions, the first 200 first reads took ~90-110 µs each at the median
 * against ~15 µs once optimised, and they were most of the first-read p99. So when a table
 * arrives by its first snapshot, the finish (snapshot-finish.ts) decodes and freezes some of its
 * records in its slices, and throws the results away.
 *
 * Invariants:
 * - nothing a reader sees changes: no record keeps a warm-up decode (a record's decoded message
 *   is only ever set by its own reads), and no event is emitted;
 * - bounded: at most {@link WARM_UP_DECODES} warm-up decodes per type URL per process (the
 *   optimised code is per process, so later tables and resyncs of the type need none);
 * - malformed or unknown data is skipped as a read would skip it (decoding never throws).
 */
import type { DescMessage } from "@bufbuild/protobuf";
import { deepFreezeMessage } from "../records/frozen-message.js";
import { schemaForTypeUrl } from "../records/record-registry.js";
import { transientMessage, type CachedRecord } from "./cached-record.js";

/** Warm-up decodes per type URL per process: enough for V8 to optimise the decoder (measured). */
export const WARM_UP_DECODES = 1024;

const done = new Map<string, number>();

/** How many warm-up decodes of data of `typeUrl` this process has done (for tests and benchmarks). */
export function warmUpDecodesDone(typeUrl: string): number {
  return done.get(typeUrl) ?? 0;
}

/**
 * Decodes and deep-freezes, then drops, the data of records from `records` whose type URL has
 * warm-up decodes left; yields after each one, a point for the sliced finish to pause at. Stops
 * early once `WARM_UP_DECODES` records in a row had nothing to warm (their type warmed already, or
 * unknown to the SDK), so a large table of a warmed type costs a short scan, not a full one.
 */
export function* warmUpReads(records: Iterable<CachedRecord>): Generator<void, void, void> {
  let idle = 0;
  for (const record of records) {
    const typeUrl = record.typeUrl;
    const count = done.get(typeUrl) ?? 0;
    const schema = count < WARM_UP_DECODES ? schemaForTypeUrl(typeUrl) : undefined;
    if (schema === undefined) {
      // Warmed already, or not a type the SDK decodes.
      if (++idle >= WARM_UP_DECODES) return;
      continue;
    }
    idle = 0;
    done.set(typeUrl, count + 1);
    const message = transientMessage(record);
    // A message a record holds is already frozen: only a throwaway decode is frozen here.
    if (message !== undefined && !Object.isFrozen(message)) deepFreezeMessage(schema as DescMessage, message);
    yield;
  }
}
