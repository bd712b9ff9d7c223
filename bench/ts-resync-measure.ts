/**
 * Child process for (f): a full resync of the whole data set while a read loop runs. The cache
 * connects through the runner's TCP proxy; once synced it starts reading random sessions and
 * prints RESYNC-READY; the runner then points the proxy at a second server holding the same data
 * (another server version) and cuts the connection, so every stream must resync from scratch.
 * Measured from the moment a stream leaves "live" until every stream is live again on the new
 * server version: time, reads served and reads that missed, peak RSS, longest event-loop stall.
 * Prints one JSON line (ResyncRunResult). Run with --expose-gc. With --gaps, the longest
 * event-loop gaps of the resync with the main thread's CPU and the GC time inside each
 * (bench/event-loop-gaps.ts): what a stall was made of.
 */
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { setImmediate as nextTurn } from "node:timers/promises";
import { createDatabrokerCache, DEFAULT_CACHE_TRANSPORT, SESSION_TYPE, type CacheState, type DatabrokerTransportImplementation } from "../src/index.js";
import { seededRandom } from "../src/demo/demo-records.js";
import { benchSecretFromEnv } from "./bench-secret.js";
import { appendBusiestGapWindows, trackEventLoopGaps, type GapSummary } from "./event-loop-gaps.js";

export interface ResyncRunResult {
  /** Stream leaves "live" -> every stream live on the new server (includes reconnect backoff). */
  resyncMs: number;
  /** First stream starts "snapshotting" (SyncLatest) -> every stream live on the new server. */
  snapshotMs: number;
  reads: number;
  misses: number;
  peakRssBytes: number;
  rssBeforeBytes: number;
  maxLoopStallMs: number;
  /** With --gaps: the resync's longest gaps, "wall/main-thread CPU/GC" ms, and the most CPU in one. */
  gaps: GapSummary | undefined;
}

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    sessions: { type: "string" },
    "read-ids": { type: "string" },
    transport: { type: "string", default: DEFAULT_CACHE_TRANSPORT },
    gaps: { type: "boolean", default: false },
  },
});
const sessions = Number(values.sessions);
// Reads pick uniformly among the first `readIds` sessions (default all: the worst case, since
// each first read decodes a session, and past the replica's bound on decoded messages decodes again).
const readIds = Math.min(sessions, Number(values["read-ids"] ?? sessions));
const cache = createDatabrokerCache({ url: values.url ?? "", sharedSecret: benchSecretFromEnv(), transport: values.transport as DatabrokerTransportImplementation });
await cache.ready({ timeoutMs: 300_000 });
const initialServer = cache.state.streams[0]?.serverVersion;

let leftLiveAt: number | undefined;
let snapshottingAt: number | undefined;
let doneAt: number | undefined;
const allLiveOnNewServer = (s: CacheState) =>
  s.streams.every((st) => st.state === "live" && st.serverVersion !== undefined && st.serverVersion !== initialServer);
const sub = cache.state$.subscribe((s) => {
  if (leftLiveAt === undefined && s.streams.some((st) => st.state !== "live")) leftLiveAt = performance.now();
  if (leftLiveAt !== undefined && snapshottingAt === undefined && s.streams.some((st) => st.state === "snapshotting")) snapshottingAt = performance.now();
  if (leftLiveAt !== undefined && doneAt === undefined && allLiveOnNewServer(s)) doneAt = performance.now();
});

global.gc?.();
const rssBefore = process.memoryUsage().rss;
let peakRss = rssBefore;
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
const random = seededRandom(7);
let reads = 0;
let misses = 0;
let stallWatch = false;
let gapTracking: ReturnType<typeof trackEventLoopGaps> | undefined;
process.stdout.write("RESYNC-READY\n");
const deadline = performance.now() + 300_000;
while (doneAt === undefined && performance.now() < deadline) {
  // A host serving requests: a burst of reads per turn, never blocking the loop for long.
  for (let i = 0; i < 200; i++) {
    if (cache.getSession(`session-${Math.floor(random() * readIds)}`) === undefined) misses++;
    reads++;
  }
  if (leftLiveAt !== undefined && !stallWatch) {
    stallWatch = true;
    loopDelay.enable();
    if (values.gaps) gapTracking = trackEventLoopGaps();
  }
  await nextTurn();
}
loopDelay.disable();
// A turn passes first, so that the collections of the last gaps are counted.
await nextTurn();
const gapRecording = gapTracking?.stop();
if (gapRecording !== undefined) appendBusiestGapWindows(gapRecording);
const gaps = gapRecording?.summary;
clearInterval(rssTimer);
sub.unsubscribe();
if (cache.size(SESSION_TYPE) !== sessions) throw new Error(`after resync the cache holds ${cache.size(SESSION_TYPE)} sessions, expected ${sessions}`);
await cache.close();
const result: ResyncRunResult = {
  resyncMs: doneAt !== undefined && leftLiveAt !== undefined ? doneAt - leftLiveAt : Number.NaN,
  snapshotMs: doneAt !== undefined && snapshottingAt !== undefined ? doneAt - snapshottingAt : Number.NaN,
  reads,
  misses,
  peakRssBytes: peakRss,
  rssBeforeBytes: rssBefore,
  maxLoopStallMs: loopDelay.max / 1e6,
  gaps,
};
// A pipe is written asynchronously: exit only once the (possibly large) line is flushed.
process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
