/**
 * Child process: one measured run of the TypeScript cache (createDatabrokerCache, default types)
 * against the benchmark server. Run with --expose-gc. Prints one JSON line (TsRunResult).
 *
 *   node --expose-gc --import tsx bench/ts-cache-measure.ts --url URL --sessions N --users M
 *        [--prop-count 3000] [--run-tag ts-1] [--projection full|lean] [--transport http2-frames|node-http2|grpc-js|connect-node]
 */
import { monitorEventLoopDelay, performance, PerformanceObserver } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { setImmediate as nextTurn } from "node:timers/promises";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { createDatabrokerCache, DEFAULT_CACHE_TRANSPORT, SESSION_TYPE, type DatabrokerTransportImplementation } from "../src/index.js";
import type { CacheChange } from "../src/index.js";
import { DemoRecords } from "../src/demo/demo-records.js";
import { create } from "@bufbuild/protobuf";
import { RecordSchema } from "../gen/databroker/databroker_pb.js";
import { benchSecretFromEnv } from "./bench-secret.js";
import { seededRandom } from "../src/demo/demo-records.js";
import { percentile } from "./stats.js";
import { fullGc, requireExposedGc } from "./full-gc.js";
import { appendBusiestGapWindows, gcInside, recordCollections, trackEventLoopGaps, type GapSummary } from "./event-loop-gaps.js";
import { uncountedSlabBytes } from "./uncounted-slab-bytes.js";
import { memoryMap, type MemoryMap } from "./memory-map.js";
import { PUT_ROUND_TRIP_PLAN } from "./put-round-trip-plan.js";

export interface TsRunResult {
  /** The cache's `projection` option for this run. */
  projection: "full" | "lean";
  /** Data bytes the cache holds after sync (sessions + users), after projection. */
  keptDataBytes: number;
  sessions: number;
  users: number;
  readyMs: number;
  recordsPerSec: number;
  maxLoopStallMs: number;
  /** With --gaps: the longest gaps during the sync, "wall/main-thread CPU/GC" ms, and the most main-thread CPU in one (event-loop-gaps.ts). */
  syncGaps: GapSummary | undefined;
  heapUsedDeltaBytes: number;
  /** Growth of `external`, plus the slabs in memory V8 does not count there (bench/uncounted-slab-bytes.ts). */
  externalDeltaBytes: number;
  rssBytes: number;
  rssDeltaBytes: number;
  /** Where the RSS after sync lies (bench/memory-map.ts), taken beside `rssBytes`; the snapshot's slabs in uncounted memory as `slabBytes`. */
  memoryMap: (MemoryMap & { slabBytes: number }) | undefined;
  firstTouchUsP50: number;
  firstTouchUsP99: number;
  /** The slowest 1 % of first touches: how many overlapped a collection, how many were among the first 16 (and those 16 touches' times). */
  firstTouchSlowest: { count: number; duringGc: number; amongFirst16: number; first16Us: number[] };
  hotNsPerOp: number;
  hotGcEvents: number;
  hotOps: number;
  /** Sequential single-record Put round trips through cache.client (the write path alone), after the warm-up (put-round-trip-plan.ts). */
  putRoundTripMs: number[];
  /** The same client's first Put round trips (put-round-trip-plan.ts). */
  putRoundTripColdMs: number[];
  /** Unix ms (wall clock) at which prop-<tag>-<i> became readable with cache.get; -1 when never. */
  propVisibleUnixMs: number[];
  /** Unix ms at which a changes$ subscriber received it; -1 when never. */
  propChangeUnixMs: number[];
}

requireExposedGc();

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    sessions: { type: "string" },
    users: { type: "string" },
    "prop-count": { type: "string", default: "0" },
    "run-tag": { type: "string", default: "ts" },
    projection: { type: "string", default: "full" },
    transport: { type: "string", default: DEFAULT_CACHE_TRANSPORT },
    // Off by default: its 1 ms timer reads /proc on each tick, ~1-2 % of the main thread.
    gaps: { type: "boolean", default: false },
  },
});
const url = values.url ?? "";
const sessions = Number(values.sessions);
const users = Number(values.users);
const propCount = Number(values["prop-count"]);
const runTag = values["run-tag"];
const projection = values.projection;
if (projection !== "full" && projection !== "lean") throw new Error("--projection must be full or lean");

await fullGc();
const before = process.memoryUsage();

const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
const gapRecording = values.gaps ? trackEventLoopGaps() : undefined;
const t0 = performance.now();
const cache = createDatabrokerCache({ url, sharedSecret: benchSecretFromEnv(), projection, transport: values.transport as DatabrokerTransportImplementation });
await cache.ready({ timeoutMs: 300_000 });
const readyMs = performance.now() - t0;
loopDelay.disable();
let syncGaps: GapSummary | undefined;
if (gapRecording !== undefined) {
  // One more turn: the GC observer delivers a turn late.
  await new Promise((resolve) => setImmediate(resolve));
  const recording = gapRecording.stop();
  syncGaps = recording.summary;
  appendBusiestGapWindows(recording);
}

const heldSessions = cache.size(SESSION_TYPE);
const heldUsers = cache.size("type.googleapis.com/user.User");
if (heldSessions !== sessions || heldUsers !== users) {
  throw new Error(`cache holds ${heldSessions} sessions / ${heldUsers} users, expected ${sessions} / ${users}`);
}

await fullGc();
const after = process.memoryUsage();
const afterMap = memoryMap();
// The data bytes held (after projection), by the seeded ids.
let keptDataBytes = 0;
for (let n = 0; n < sessions; n++) keptDataBytes += cache.get(SESSION_TYPE, `session-${n}`)?.dataLength ?? 0;
for (let n = 0; n < users; n++) keptDataBytes += cache.get("type.googleapis.com/user.User", `user-${n}`)?.dataLength ?? 0;
// The snapshot's slabs, which `external` leaves out (bench/uncounted-slab-bytes.ts).
const uncountedBytes = uncountedSlabBytes(
  (function* () {
    for (let n = 0; n < sessions; n++) yield cache.get(SESSION_TYPE, `session-${n}`);
    for (let n = 0; n < users; n++) yield cache.get("type.googleapis.com/user.User", `user-${n}`);
  })(),
);

// (c) first touch: lazy decode of sessions never read before, each timed on its own.
const random = seededRandom(42);
const randomId = () => `session-${Math.floor(random() * sessions)}`;
const firstTouchUs: number[] = [];
const firstTouchAt: number[] = [];
const touched = new Set<string>();
// Collections during the touches, to say how many of the slowest ran into one.
const touchCollections = recordCollections();
while (firstTouchUs.length < Math.min(10_000, sessions / 2)) {
  const id = randomId();
  if (touched.has(id)) continue;
  touched.add(id);
  const s = performance.now();
  const session = cache.getSession(id);
  firstTouchUs.push((performance.now() - s) * 1000);
  firstTouchAt.push(s);
  if (session === undefined) throw new Error(`getSession(${id}) missed`);
}
// The observer hears of collections a turn or so late.
await new Promise((resolve) => setTimeout(resolve, 20));
touchCollections.stop();
// The slowest 1 % of first touches: how many overlapped a collection, and how many were among
// the first 16 of the process (code not optimised yet); the rest are ordinary reads that the host
// interrupted or that were slow on their own (bench/host-interruptions.ts measures the host).
const firstTouchP99 = percentile(firstTouchUs, 99);
const firstTouchSlowest = firstTouchUs.map((us, i) => [us, i] as const).filter(([us]) => us >= firstTouchP99);
const firstTouchSlowestDuringGc = firstTouchSlowest.filter(([us, i]) => gcInside(touchCollections.spans, { start: firstTouchAt[i] as number, wall: us / 1000 }) > 0).length;
const firstTouchSlowestAmongFirst16 = firstTouchSlowest.filter(([, i]) => i < 16).length;

// (c) hot: random ids from an already decoded set; GC events during the loop show allocation.
// The ids are flat strings equal to the stored keys, as a caller has them after parsing a header
// or a token (a template literal of 13 or more characters is a cons string instead, whose every
// character read goes through one more object: ~30-40 ns more per read, measured).
const flatCopy = (s: string) => [...s].join("");
const hotIds = [...touched].slice(0, 4096).map(flatCopy);
for (let i = 0; i < 500_000; i++) cache.getSession(hotIds[i & 4095] as string);
// GC entries by start time: only those that start inside the loop count (one in the 20 ms after
// it, or one finishing marking that the first touches set going, is not the reads' doing). A full
// collection first, so no collection started earlier finishes inside the loop.
const gcStarts: number[] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcStarts.push(entry.startTime);
});
gcObserver.observe({ entryTypes: ["gc"] });
await fullGc();
await nextTurn();
const hotOps = 5_000_000;
let hits = 0;
const loopStart = performance.now();
const h0 = process.hrtime.bigint();
for (let i = 0; i < hotOps; i++) if (cache.getSession(hotIds[Math.imul(i, 0x9e3779b1) & 4095] as string) !== undefined) hits++;
const hotNs = Number(process.hrtime.bigint() - h0);
const loopEnd = performance.now();
await new Promise((r) => setTimeout(r, 20));
gcObserver.disconnect();
const gcEvents = gcStarts.filter((t) => t >= loopStart && t <= loopEnd).length;
if (hits !== hotOps) throw new Error(`hot loop missed ${hotOps - hits} reads`);

// The write path alone: sequential single-record Puts through the cache's own client (then
// deleted), cold and then warm (put-round-trip-plan.ts).
const putRoundTripColdMs: number[] = [];
const putRoundTripMs: number[] = [];
{
  const demo = new DemoRecords({ seed: 98 });
  const { coldCalls, warmUpCalls, warmCalls } = PUT_ROUND_TRIP_PLAN;
  for (let i = 0; i < coldCalls + warmUpCalls + warmCalls; i++) {
    const record = DemoRecords.record(demo.session(`rtt-${runTag}-${i}`, 0));
    const s = performance.now();
    await cache.client.put({ records: [record] });
    const ms = performance.now() - s;
    if (i < coldCalls) putRoundTripColdMs.push(ms);
    else if (i >= coldCalls + warmUpCalls) putRoundTripMs.push(ms);
    await cache.client.put({ records: [create(RecordSchema, { type: record.type, id: record.id, data: record.data, deletedAt: timestampNow() })] });
  }
  putRoundTripColdMs.sort((a, b) => a - b);
  putRoundTripMs.sort((a, b) => a - b);
}

// (b) propagation: another process (the runner's neutral writer) Puts prop-<tag>-<i> once we say
// PROP-READY; we record the wall-clock time each becomes readable, and when changes$ delivers it.
// Writes arrive in order, so only a window of the lowest unseen ids is polled each time.
const propVisibleUnixMs = new Array<number>(propCount).fill(-1);
const propChangeUnixMs = new Array<number>(propCount).fill(-1);
if (propCount > 0) {
  const wallNow = () => performance.timeOrigin + performance.now();
  const prefix = `prop-${runTag}-`;
  // The poll below waits for the next change (or 1 ms, whichever comes first) rather than
  // spinning on every event-loop turn: a reader that spins takes a whole core from the server and
  // the writer on a 2-core machine, and the writer's own Put round trips are part of the figure.
  // (Go's reader sleeps 50 us between polls.) Measured, 2 x 2 alternating invocations of 3 runs
  // at 100k: the writer's Put p99 during TS runs, median of 6 runs, 5.7 ms spinning, 4.6 ms so.
  let wake: (() => void) | undefined;
  const subscription = cache.changes$(SESSION_TYPE).subscribe((change: CacheChange) => {
    wake?.();
    if (change.kind === "overflow") return;
    const now = wallNow();
    for (const r of change.upserts) {
      if (!r.id.startsWith(prefix)) continue;
      const i = Number(r.id.slice(prefix.length));
      if (propChangeUnixMs[i] === -1) propChangeUnixMs[i] = now;
    }
  });
  const ids = Array.from({ length: propCount }, (_, i) => `${prefix}${i}`);
  process.stdout.write("PROP-READY\n");
  const window = 256;
  let next = 0;
  let seen = 0;
  const deadline = performance.now() + 30_000;
  while (seen < propCount && performance.now() < deadline) {
    const end = Math.min(next + window, propCount);
    for (let i = next; i < end; i++) {
      if (propVisibleUnixMs[i] !== -1) continue;
      if (cache.get(SESSION_TYPE, ids[i] as string) !== undefined) {
        propVisibleUnixMs[i] = wallNow();
        seen++;
      }
    }
    while (next < propCount && propVisibleUnixMs[next] !== -1) next++;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    wake = undefined;
  }
  // Let the last change batches reach the subscriber.
  await new Promise((r) => setTimeout(r, 50));
  subscription.unsubscribe();
}

await cache.close();
const total2 = sessions + users;
const result: TsRunResult = {
  projection,
  keptDataBytes,
  sessions: heldSessions,
  users: heldUsers,
  readyMs,
  recordsPerSec: total2 / (readyMs / 1000),
  maxLoopStallMs: loopDelay.max / 1e6,
  syncGaps,
  heapUsedDeltaBytes: after.heapUsed - before.heapUsed,
  externalDeltaBytes: after.external - before.external + uncountedBytes,
  rssBytes: after.rss,
  rssDeltaBytes: after.rss - before.rss,
  memoryMap: afterMap === undefined ? undefined : { ...afterMap, slabBytes: uncountedBytes },
  firstTouchUsP50: percentile(firstTouchUs, 50),
  firstTouchUsP99: firstTouchP99,
  firstTouchSlowest: {
    count: firstTouchSlowest.length,
    duringGc: firstTouchSlowestDuringGc,
    amongFirst16: firstTouchSlowestAmongFirst16,
    first16Us: firstTouchUs.slice(0, 16).map((us) => Number(us.toFixed(1))),
  },
  hotNsPerOp: hotNs / hotOps,
  hotGcEvents: gcEvents,
  hotOps,
  putRoundTripMs,
  putRoundTripColdMs,
  propVisibleUnixMs,
  propChangeUnixMs,
};
// A pipe is written asynchronously: exit only once the (possibly large) line is flushed.
process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
