/**
 * The cost of a record front's key copies under churn: a front of its full size (65,536 slots)
 * given typed answers for ever new ids, as a service reading a large and changing set of sessions
 * gives it. Each `fillTyped` is timed on its own; the slowest are where keeping the copies takes
 * one large step (a Map of copies rehashing: when it doubles while filling up, and then, at full
 * size, each time as many copies were replaced as it holds, which leaves it full of deleted
 * entries).
 *
 *   node --expose-gc --import tsx bench/key-copy-churn.ts [--ids 400000] [--tree PATH]
 *
 * --tree PATH: the root of another checkout (an export with a node_modules link) whose
 * RecordFront and CachedRecord are measured instead. Prints one JSON line.
 */
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { gcInside, recordCollections } from "./event-loop-gaps.js";
import { fullGc, requireExposedGc } from "./full-gc.js";
import { percentile } from "./stats.js";

requireExposedGc();
const { values } = parseArgs({ options: { ids: { type: "string", default: "400000" }, tree: { type: "string" } } });
const IDS = Number(values.ids);
const root = values.tree === undefined ? new URL("..", import.meta.url).href : `${pathToFileURL(values.tree).href}/`;

interface Front {
  fit(tableSize: number): void;
  fill(record: unknown): void;
  fillTyped(record: unknown, rule: (m: never) => number, message: unknown): void;
  readonly slots: number;
}
const { RecordFront } = (await import(`${root}src/replica/record-front.ts`)) as { RecordFront: new () => Front };
const { CachedRecord } = (await import(`${root}src/replica/cached-record.ts`)) as { CachedRecord: new (...args: unknown[]) => { id: string } };

const TYPE = "type.googleapis.com/session.Session";
const front = new RecordFront();
while (front.slots < 1 << 16) front.fit(1 << 20);
const rule = () => Number.POSITIVE_INFINITY;
const message = { $typeName: "session.Session" };
const bytes = new Uint8Array(8);
const records = Array.from({ length: IDS }, (_, i) => new CachedRecord(TYPE, `session-${i}`, 1n, undefined, TYPE, bytes));
await fullGc();

// Collections (each copy is a new string the front keeps) are timed apart: a call during which
// one ran is left out of the figures below, and counted.
const collections = recordCollections();
const us = new Float64Array(IDS);
const startedAt = new Float64Array(IDS);
for (let i = 0; i < IDS; i++) {
  const r = records[i];
  front.fill(r);
  const t0 = performance.now();
  front.fillTyped(r, rule, message);
  const t1 = performance.now();
  startedAt[i] = t0;
  us[i] = (t1 - t0) * 1000;
}
await new Promise((resolve) => setTimeout(resolve, 50));
collections.stop();
const duringGc = (i: number) => gcInside(collections.spans, { start: startedAt[i] as number, wall: (us[i] as number) / 1000 }) > 0;
const calls = Array.from(us).map((u, i) => [u, i] as const);
const withGc = calls.filter(([, i]) => duringGc(i));
const all = calls.filter(([, i]) => !duringGc(i)).map(([u]) => u);
const slowest = calls.filter(([, i]) => !duringGc(i)).sort((a, b) => b[0] - a[0]).slice(0, 8);
process.stdout.write(
  `${JSON.stringify({
    tree: values.tree ?? "this",
    slots: front.slots,
    ids: IDS,
    p50Us: Number(percentile(all, 50).toFixed(2)),
    p99Us: Number(percentile(all, 99).toFixed(2)),
    maxUs: Number(slowest[0]![0].toFixed(1)),
    over200Us: all.filter((u) => u > 200).length,
    callsDuringGc: withGc.length,
    slowest: slowest.map(([u, i]) => [Number(u.toFixed(1)), i]),
  })}\n`,
);
