/**
 * The bytes of the slabs in uncounted memory (SharedArrayBuffers, src/replica/byte-slab.ts) that
 * the given records keep. `process.memoryUsage().external` leaves these out (V8 does not count
 * shared memory per isolate), so the benches add them back to report what the records hold.
 * Each slab counts once, whole (its unused tail included, as `external` counts a whole buffer).
 */
import { recordSlab, type CachedRecord } from "../src/replica/cached-record.js";

export function uncountedSlabBytes(records: Iterable<CachedRecord | undefined>): number {
  const seen = new Set<ArrayBufferLike>();
  let bytes = 0;
  for (const record of records) {
    if (record === undefined) continue;
    const buffer = recordSlab(record).bytes.buffer;
    if (!(buffer instanceof SharedArrayBuffer) || seen.has(buffer)) continue;
    seen.add(buffer);
    bytes += buffer.byteLength;
  }
  return bytes;
}
