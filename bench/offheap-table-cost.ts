/**
 * What holding records off the JS heap would buy, measured before building it: N records held one
 * of two ways, one way per process (run the script once per variant, alternating):
 *
 * - `objects`: the replica's id lookup as it is today, reduced to its bones: each id made into a
 *   string from the wire bytes, one object per record with the fields a held record keeps, in 64
 *   Maps by a hash of the id (the replica's sharded id map);
 * - `offheap`: no string and no object per record: each id's UTF-8 bytes copied into an arena,
 *   64 open-addressing tables of record numbers (Int32Array, at most half full) by a hash of those
 *   bytes, and the fields in typed-array columns. A lookup by a caller's string id hashes and
 *   compares the string's characters against the stored bytes.
 *
 *   node --expose-gc --max-old-space-size=8000 --import tsx bench/offheap-table-cost.ts --variant objects --records 1000000
 *   node --expose-gc --max-old-space-size=8000 --import tsx bench/offheap-table-cost.ts --variant offheap --records 1000000
 *
 * The records arrive as the transport hands them over: ids inside shared "network" chunks of 256
 * records. Prints one JSON line: build time per record, heap and external bytes per record after
 * a full collection, the collections during the build (count, total and longest pause, from a
 * PerformanceObserver), and lookups by string id: 4,096 random hot ids (5M lookups) and uniformly
 * random ids (1M lookups), ns per lookup. Every id is looked up once after the build and its
 * fields checked, so a wrong table fails the run rather than measuring fast.
 */
import { PerformanceObserver, performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { fullGc, requireExposedGc } from "./full-gc.js";

requireExposedGc();
const { values } = parseArgs({
  options: {
    variant: { type: "string", default: "offheap" },
    records: { type: "string", default: "1000000" },
  },
});
const variant = values.variant;
if (variant !== "objects" && variant !== "offheap") throw new Error("--variant must be objects or offheap");
const N = Number(values.records);
if (!Number.isSafeInteger(N) || N < 4096) throw new Error("--records must be an integer of at least 4096");

const SHARD_BITS = 6;
const SHARDS = 1 << SHARD_BITS;
const PER_CHUNK = 256;

/** FNV-1a over the id's bytes; the same for a string id whose characters are those bytes (ASCII). */
function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
  return h >>> 0;
}
/** The same hash over a string's characters; -1 for an id with a character outside ASCII (none here). */
function hashString(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c >= 0x80) return -1;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h >>> 0;
}

/** The fields of record n (what a held record keeps besides its id), derived so they can be checked. */
const versionOf = (n: number) => n + 1;
const offsetOf = (n: number) => (n * 1913) % (1 << 20);
const lengthOf = (n: number) => 1800 + (n % 200);

interface Table {
  add(bytes: Uint8Array, start: number, end: number, n: number): void;
  /** The record number of `id`, or -1; reads every field, so a lookup costs what a read would. */
  find(id: string): number;
}

/** As today: a string and an object per record, in 64 Maps. */
class RecordObject {
  constructor(
    readonly id: string,
    readonly version: number,
    readonly offset: number,
    readonly length: number,
    readonly modifiedSeconds: number,
    readonly modifiedNanos: number,
    readonly n: number,
  ) {}
}
function objectsTable(): Table {
  const shards = Array.from({ length: SHARDS }, () => new Map<string, RecordObject>());
  const decoder = new TextDecoder();
  return {
    add(bytes, start, end, n) {
      const id = decoder.decode(bytes.subarray(start, end));
      (shards[hashBytes(bytes, start, end) >>> (32 - SHARD_BITS)] as Map<string, RecordObject>).set(
        id,
        new RecordObject(id, versionOf(n), offsetOf(n), lengthOf(n), 1_700_000_000 + n, n % 1_000_000_000, n),
      );
    },
    find(id) {
      const h = hashString(id);
      const record = (shards[h >>> (32 - SHARD_BITS)] as Map<string, RecordObject>).get(id);
      if (record === undefined) return -1;
      return record.version + record.offset + record.length - versionOf(record.n) - offsetOf(record.n) - lengthOf(record.n) === 0 ? record.n : -2;
    },
  };
}

/** Off the heap: id bytes in an arena, open addressing by record number, fields in columns. */
function offheapTable(capacity: number): Table {
  let arena = new Uint8Array(capacity * 16);
  let used = 0;
  // Per record number: where its id's bytes are, and its fields.
  const idStart = new Int32Array(capacity);
  const idLength = new Uint16Array(capacity);
  const version = new Float64Array(capacity);
  const offset = new Int32Array(capacity);
  const length = new Int32Array(capacity);
  const modifiedSeconds = new Float64Array(capacity);
  const modifiedNanos = new Int32Array(capacity);
  // Per shard: slots holding record number + 1 (0 = empty), grown by doubling past half full.
  const slots: Int32Array[] = Array.from({ length: SHARDS }, () => new Int32Array(64));
  const counts = new Int32Array(SHARDS);

  const place = (table: Int32Array, h: number, n: number) => {
    const mask = table.length - 1;
    let i = h & mask;
    while (table[i] !== 0) i = (i + 1) & mask;
    table[i] = n + 1;
  };
  const sameId = (n: number, id: string) => {
    if (idLength[n] !== id.length) return false;
    const at = idStart[n] as number;
    for (let i = 0; i < id.length; i++) if (arena[at + i] !== id.charCodeAt(i)) return false;
    return true;
  };
  return {
    add(bytes, start, end, n) {
      const size = end - start;
      if (used + size > arena.length) {
        const next = new Uint8Array(arena.length * 2);
        next.set(arena.subarray(0, used));
        arena = next;
      }
      arena.set(bytes.subarray(start, end), used);
      idStart[n] = used;
      idLength[n] = size;
      used += size;
      version[n] = versionOf(n);
      offset[n] = offsetOf(n);
      length[n] = lengthOf(n);
      modifiedSeconds[n] = 1_700_000_000 + n;
      modifiedNanos[n] = n % 1_000_000_000;
      const h = hashBytes(arena, used - size, used);
      const shard = h >>> (32 - SHARD_BITS);
      let table = slots[shard] as Int32Array;
      if (((counts[shard] as number) + 1) * 2 > table.length) {
        const grown = new Int32Array(table.length * 2);
        for (const v of table) if (v !== 0) place(grown, hashBytes(arena, idStart[v - 1] as number, (idStart[v - 1] as number) + (idLength[v - 1] as number)), v - 1);
        slots[shard] = table = grown;
      }
      place(table, h, n);
      counts[shard] = (counts[shard] as number) + 1;
    },
    find(id) {
      const h = hashString(id);
      if (h < 0) return -1;
      const table = slots[h >>> (32 - SHARD_BITS)] as Int32Array;
      const mask = table.length - 1;
      for (let i = h & mask; ; i = (i + 1) & mask) {
        const v = table[i] as number;
        if (v === 0) return -1;
        const n = v - 1;
        if (sameId(n, id)) {
          return (version[n] as number) + (offset[n] as number) + (length[n] as number) - versionOf(n) - offsetOf(n) - lengthOf(n) === 0 ? n : -2;
        }
      }
    },
  };
}

// ---- the "network": ids inside shared chunks, as the transport hands records over ----
const encoder = new TextEncoder();
function* chunks(): Generator<{ bytes: Uint8Array; bounds: number[]; first: number }> {
  for (let first = 0; first < N; first += PER_CHUNK) {
    const count = Math.min(PER_CHUNK, N - first);
    const text = Array.from({ length: count }, (_, i) => `session-${first + i}`);
    const bytes = new Uint8Array(count * 40 + 64);
    const bounds = [0];
    let at = 0;
    for (const id of text) {
      at += encoder.encodeInto(id, bytes.subarray(at)).written;
      at += 24; // the rest of a record's envelope, not read here
      bounds.push(at);
    }
    yield { bytes, bounds, first };
  }
}

await fullGc();
const before = process.memoryUsage();
const pauses: number[] = [];
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) pauses.push(entry.duration);
});
observer.observe({ entryTypes: ["gc"] });

const table = variant === "objects" ? objectsTable() : offheapTable(N);
const t0 = performance.now();
for (const { bytes, bounds, first } of chunks()) {
  for (let k = 0; k + 1 < bounds.length; k++) {
    const start = bounds[k] as number;
    let end = start;
    while (bytes[end] !== 0 && end < (bounds[k + 1] as number) - 24) end++;
    table.add(bytes, start, end, first + k);
  }
}
const buildMs = performance.now() - t0;
await new Promise((resolve) => setTimeout(resolve, 20));
observer.disconnect();

await fullGc();
const after = process.memoryUsage();

// Every id once: the table must answer each with its own record.
for (let n = 0; n < N; n++) if (table.find(`session-${n}`) !== n) throw new Error(`session-${n} not found or wrong`);
if (table.find("session-x") !== -1) throw new Error("an absent id was found");

/** A flat string equal to `s` (as a caller has after parsing a header), not a cons string. */
const flat = (s: string) => [...s].join("");
let seed = 42;
const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
const hot = Array.from({ length: 4096 }, () => flat(`session-${Math.floor(random() * N)}`));
const uniform = Array.from({ length: 1 << 16 }, () => flat(`session-${Math.floor(random() * N)}`));
const time = (ids: string[], calls: number) => {
  let found = 0;
  const mask = ids.length - 1;
  for (let i = 0; i < 200_000; i++) found += table.find(ids[i & mask] as string) >= 0 ? 1 : 0;
  const s = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) found += table.find(ids[Math.imul(i, 0x9e3779b1) & mask] as string) >= 0 ? 1 : 0;
  const ns = Number(process.hrtime.bigint() - s) / calls;
  if (found !== calls + 200_000) throw new Error("a lookup missed");
  return ns;
};
const hotNs = time(hot, 5_000_000);
const uniformNs = time(uniform, 1_000_000);

const sorted = [...pauses].sort((a, b) => a - b);
console.log(
  JSON.stringify({
    variant,
    records: N,
    buildNsPerRecord: Math.round((buildMs * 1e6) / N),
    heapBytesPerRecord: Math.round((after.heapUsed - before.heapUsed) / N),
    externalBytesPerRecord: Math.round((after.external - before.external) / N),
    rssMiB: Math.round(after.rss / 2 ** 20),
    gcDuringBuild: { count: pauses.length, totalMs: Math.round(pauses.reduce((a, b) => a + b, 0)), longestMs: Number((sorted.at(-1) ?? 0).toFixed(1)) },
    hotLookupNs: Number(hotNs.toFixed(1)),
    uniformLookupNs: Number(uniformNs.toFixed(1)),
  }),
);
