/**
 * What a heap snapshot holds, summed by kind of object: count, total bytes and bytes per record,
 * largest first. For the replica's memory per record: which objects a million records are made of.
 *
 *   node --expose-gc --max-old-space-size=8000 --import tsx bench/ingest-measure.ts --sessions 100000 --heap-snapshot /tmp/h.heapsnapshot
 *   npx tsx bench/heap-composition.ts /tmp/h.heapsnapshot 100000 [--top 25]
 *
 * A kind is the node's type and name as V8 writes them: objects by constructor ("object
 * CachedRecord"), strings as one kind ("string"), a Map's or a Set's table under its internal
 * name, arrays' backing stores as "array (object elements)" and the like. Self sizes only
 * (what each object itself takes, not what it keeps alive).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { forEachHeapNode, type HeapSnapshotJson } from "../test/support/heap-snapshot-counts.js";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "25" } } });
const [path, recordsArg] = positionals;
if (path === undefined || recordsArg === undefined) throw new Error("usage: heap-composition.ts SNAPSHOT RECORDS [--top N]");
const records = Number(recordsArg);
if (!Number.isFinite(records) || records <= 0) throw new Error("RECORDS must be a positive number");

const snapshot = JSON.parse(readFileSync(path, "utf8")) as HeapSnapshotJson;

// Strings, numbers and code are one kind each; the rest by name (constructor or internal name).
const byName = new Set(["object", "closure", "regexp", "hidden", "array", "native", "synthetic", "object shape"]);
const kinds = new Map<string, { count: number; bytes: number }>();
let total = 0;
let count = 0;
forEachHeapNode(snapshot, (type, name, size) => {
  const kind = byName.has(type) ? `${type} ${name}`.slice(0, 80) : type;
  let entry = kinds.get(kind);
  if (entry === undefined) kinds.set(kind, (entry = { count: 0, bytes: 0 }));
  entry.count++;
  entry.bytes += size;
  total += size;
  count++;
});

const top = [...kinds].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(values.top));
console.log(`| kind | count | MB | B per record | count per record |`);
console.log(`|---|---:|---:|---:|---:|`);
for (const [kind, { count, bytes }] of top) {
  console.log(`| ${kind.replaceAll("|", "\\|")} | ${count} | ${(bytes / 1e6).toFixed(1)} | ${(bytes / records).toFixed(1)} | ${(count / records).toFixed(2)} |`);
}
console.log(`| all | ${count} | ${(total / 1e6).toFixed(1)} | ${(total / records).toFixed(1)} | |`);
