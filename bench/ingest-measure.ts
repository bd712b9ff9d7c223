/**
 * The replica's ingest path alone, in one process: a SyncLoop fed by a fake stream source whose
 * SyncLatest decodes realistic ~1.9 KB session Records out of shared "network" chunks (as the
 * transport does, with the transport's decoder), into a Replica, glued the way the cache glues
 * them. No server, no HTTP/2: the figures are the loop + replica's own (memory per record,
 * longest event-loop stall, time).
 *
 *   node --expose-gc --import tsx bench/ingest-measure.ts --sessions 100000 [--resync]
 *   node --expose-gc --cpu-prof --import tsx bench/ingest-measure.ts --sessions 100000
 *
 * SyncLatest chunks go straight into the replica's snapshot builder, changes into replica.apply
 * (what the cache does).
 * --resync: once live, the Sync stream is ABORTED and SyncLatest returns the same ids from a new
 * server version (same bytes and versions, so records are kept; 1 % deleted): the resync's stall,
 * time and peak RSS. --explain prints what ran inside the three longest gaps (to stderr).
 * Prints one JSON line: stallMs (monitorEventLoopDelay max), topGapsMs.byWall ("wall/main-thread
 * CPU/GC ms" of the longest gaps) and topGapsMs.maxCpuMs (the most main-thread CPU in one gap: the
 * stall an idle machine would see; on a shared machine wall gaps include being descheduled),
 * heap/external/RSS per record after forced GCs, longest add() and finish step.
 * Before/after in one go: run the same script in an export of the old tree (git archive HEAD).
 */
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { writeHeapSnapshot } from "node:v8";
import { setImmediate as nextTurn } from "node:timers/promises";
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { SyncLatestResponseSchema, type SyncLatestResponse, type SyncResponse } from "../gen/databroker/databroker_pb.js";
import { SessionSchema } from "../gen/session/session_pb.js";
import { DemoRecords } from "../src/demo/demo-records.js";
import { SESSION_TYPE } from "../src/records/type-urls.js";
import { Replica } from "../src/replica/replica.js";
import { SyncLoop, type SyncLoopOptions } from "../src/sync/sync-loop.js";
import { decodeSyncLatestResponse } from "../src/transport/sync-response-decoder.js";
import type { SyncSourceProvider, SyncStreamSource } from "../src/sync/sync-stream-source.js";
import { fullGc, requireExposedGc } from "./full-gc.js";
import { trackEventLoopGaps, type GapSummary } from "./event-loop-gaps.js";
import { uncountedSlabBytes } from "./uncounted-slab-bytes.js";
import { mainThreadCpuMs } from "./main-thread-cpu.js";
import { findBytes, patchDigits } from "./template-bytes.js";

requireExposedGc();

const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "100000" },
    resync: { type: "boolean", default: false },
    "chunk-messages": { type: "string", default: "32" },
    explain: { type: "boolean", default: false },
    "heap-snapshot": { type: "string" },
    // After the figures above: stay idle this long, then report RSS and V8's committed heap again
    // (what V8 gives back on its own once the process is idle).
    "settle-ms": { type: "string", default: "0" },
  },
});
const N = Number(values.sessions);
const perChunk = Number(values["chunk-messages"]);

// ---- the data: T encoded SyncLatestResponse templates with a fixed-width id patched per record ----
const T = 256;
const ID_WIDTH = 8;
const demo = new DemoRecords({ seed: 1, nowMs: Date.now() });
interface Template {
  bytes: Uint8Array;
  idOffset: number;
  /** Where the 6 digits of Session.user_id ("user-9NNNNN") are: patched so ~10 sessions share a user. */
  userOffset: number;
}
/** Sessions per user, as in the benchmark's data (1M sessions, 100k users). */
const USERS = Math.max(1, Math.floor(Number(values.sessions) / 10));
const templates: Template[] = [];
for (let t = 0; t < T; t++) {
  const placeholder = `s-${"#".repeat(ID_WIDTH)}`;
  const session = demo.session(placeholder, 900_000 + t);
  const bytes = toBinary(
    SyncLatestResponseSchema,
    create(SyncLatestResponseSchema, {
      response: {
        case: "record",
        value: { type: SESSION_TYPE, id: placeholder, version: 1n, modifiedAt: timestampFromMs(1_700_000_000_000), data: anyPack(SessionSchema, session) },
      },
    }),
  );
  // The Record's own id (field 3) precedes its data, so the first occurrence is the Record id;
  // Session.user_id (field 3) comes before the id token's copy of it.
  const idOffset = findBytes(bytes, placeholder) + 2;
  const userOffset = findBytes(bytes, `user-${900_000 + t}`) + 6;
  if (idOffset < 2 || userOffset < 6) throw new Error("id not found in template");
  templates.push({ bytes, idOffset, userOffset });
}
const encodedRecordBytes = templates.reduce((s, t) => s + t.bytes.length, 0) / T - 2; // minus the oneof tag+length

const patchId = (buf: Uint8Array, at: number, n: number) => patchDigits(buf, at, ID_WIDTH, n);

/** SyncLatest: records decoded from shared chunks (views into them, like the transport's), then the versions. */
async function* syncLatest(serverVersion: bigint, count: number, skip: (i: number) => boolean, signal: AbortSignal): AsyncGenerator<SyncLatestResponse> {
  for (let start = 0; start < count; start += perChunk) {
    const end = Math.min(count, start + perChunk);
    let size = 0;
    for (let i = start; i < end; i++) size += templates[i % T]!.bytes.length;
    const chunk = new Uint8Array(size);
    const bounds: number[] = [];
    let off = 0;
    for (let i = start; i < end; i++) {
      const t = templates[i % T]!;
      chunk.set(t.bytes, off);
      patchId(chunk, off + t.idOffset, i);
      patchDigits(chunk, off + t.userOffset, 5, (i * 7919) % USERS);
      bounds.push(off, off + t.bytes.length);
      off += t.bytes.length;
    }
    for (let k = 0; k < bounds.length; k += 2) {
      if (signal.aborted) throw new ConnectError("aborted", Code.Canceled);
      if (skip(start + k / 2)) continue;
      yield decodeSyncLatestResponse(chunk.subarray(bounds[k], bounds[k + 1]));
    }
  }
  yield create(SyncLatestResponseSchema, { response: { case: "versions", value: { serverVersion, latestRecordVersion: 1n } } });
}

// The first ConnectError loads Node's http/undici modules (~35 ms): do it now, not inside a measurement.
void new ConnectError("warm-up", Code.Aborted);

let serverVersion = 1000n;
let abortSync: (() => void) | undefined;
const source: SyncStreamSource = {
  url: "fake://bench",
  resets: 0,
  connect: () => Promise.resolve(),
  syncLatest: (_type, signal) => {
    const sv = serverVersion;
    return syncLatest(sv, N, (i) => sv !== 1000n && i % 100 === 7, signal);
  },
  sync: (_req, signal) => ({
    async *[Symbol.asyncIterator](): AsyncIterator<SyncResponse> {
      await new Promise<void>((resolve, reject) => {
        signal.addEventListener("abort", () => reject(new ConnectError("aborted", Code.Canceled)));
        abortSync = () => reject(new ConnectError("server version changed", Code.Aborted));
        void resolve;
      });
    },
  }),
};
const provider: SyncSourceProvider = { current: () => source, reportConnectionFailure: () => {} };

await fullGc();
const before = process.memoryUsage();

const replica = new Replica();
/** The longest single add() and finish step, wall ms: the replica's own synchronous work. */
const longest = { add: 0, addRecords: 0, step: 0, steps: 0 };
/** [start, end, label] of each replica call, to explain the longest gap (--explain). */
const spans: [number, number, string][] = [];
function timedTarget() {
  return {
    begin(type: string) {
      const b = replica.beginSnapshot(type);
      return {
        add(records: Parameters<typeof b.add>[0]) {
          const cpu = values.explain ? mainThreadCpuMs() : 0;
          const t = performance.now();
          b.add(records);
          const d = performance.now() - t;
          if (values.explain) spans.push([t, t + d, `add ${records.length} (main-thread cpu ${(mainThreadCpuMs() - cpu).toFixed(1)})`]);
          if (d > longest.add) {
            longest.add = d;
            longest.addRecords = records.length;
          }
        },
        finishInSteps(...args: Parameters<typeof b.finishInSteps>) {
          const c = b.finishInSteps(...args);
          const timed = <T>(fn: () => T): T => {
            const t = performance.now();
            const out = fn();
            if (values.explain) spans.push([t, performance.now(), "finish step"]);
            longest.step = Math.max(longest.step, performance.now() - t);
            longest.steps++;
            return out;
          };
          return { prepare: (budget: number) => timed(() => c.prepare(budget)), swap: () => timed(() => c.swap()) };
        },
        discard: () => b.discard(),
      };
    },
  };
}
const loopOptions: SyncLoopOptions = {
  type: SESSION_TYPE,
  source: provider,
  retry: { initialDelayMs: 1, maxDelayMs: 1 },
  replica: { ...timedTarget(), apply: (event) => void replica.apply(event) },
};
const loop = new SyncLoop(loopOptions);
const live = () =>
  new Promise<void>((resolve) => {
    const sub = loop.status$.subscribe((s) => {
      if (s.state === "live" && replica.versions(SESSION_TYPE)?.serverVersion === serverVersion) {
        queueMicrotask(() => sub.unsubscribe());
        resolve();
      }
    });
  });

/** The event loop's longest gaps during a phase (event-loop-gaps.ts); --explain prints what ran in them. */
function gapTracker(): { stop(): GapSummary } {
  const recording = trackEventLoopGaps();
  return {
    stop() {
      const { gaps, gcs, summary } = recording.stop();
      if (values.explain) {
        const sorted = [...gaps].sort((a, b) => b.wall - a.wall);
        const byCpu = [...gaps].sort((a, b) => b.cpu - a.cpu).slice(0, 2);
        for (const g of [...sorted.slice(0, 3), ...byCpu]) {
          const inside = spans.filter(([a, b]) => b > g.start && a < g.start + g.wall).map(([a, b, l]) => `${l} ${(b - a).toFixed(1)}ms@+${(a - g.start).toFixed(1)}`);
          const gcInside = gcs.filter((c) => c.end > g.start && c.start < g.start + g.wall).map((c) => `gc ${(c.end - c.start).toFixed(1)}ms@+${(c.start - g.start).toFixed(1)}`);
          console.error(`gap ${g.wall.toFixed(1)} ms (main-thread cpu ${g.cpu.toFixed(1)}) at +${(g.start - t0).toFixed(0)} ms: ${[...inside, ...gcInside].join(", ") || "(no replica call, no gc)"}`);
        }
      }
      return summary;
    },
  };
}

const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
await nextTurn();
delay.reset();
const t0 = performance.now();
const cpu0 = { main: mainThreadCpuMs(), process: process.cpuUsage() };
const gaps = gapTracker();
loop.start();
await live();
const syncMs = performance.now() - t0;
const syncCpu = { main: mainThreadCpuMs() - cpu0.main, process: process.cpuUsage(cpu0.process) };
// Let the timers fire once more, so the turn that completed the sync (the swap, or the old
// one-step apply) is measured too.
await new Promise((resolve) => setTimeout(resolve, 5));
delay.disable();
const stallMs = delay.max / 1e6;
const topGaps = gaps.stop();
const rssAfterSync = process.memoryUsage().rss;

await fullGc();
const after = process.memoryUsage();
const held = replica.size(SESSION_TYPE);
// --heap-snapshot PATH: what the heap holds after the sync, for bench/heap-composition.ts.
if (values["heap-snapshot"] !== undefined) writeHeapSnapshot(values["heap-snapshot"]);
const perRecord = {
  heap: (after.heapUsed - before.heapUsed) / held,
  // `external` leaves out the snapshot's slabs (bench/uncounted-slab-bytes.ts): added back.
  external: (after.external - before.external + uncountedSlabBytes(replica.values(SESSION_TYPE))) / held,
  rss: (after.rss - before.rss) / held,
};

const result: Record<string, unknown> = {
  sessions: held,
  encodedRecordBytes: Math.round(encodedRecordBytes),
  syncMs: Math.round(syncMs),
  // CPU the sync cost (decode + replica, plus GC threads for the process figure): steadier than wall time here.
  syncMainThreadCpuMs: Math.round(syncCpu.main),
  syncProcessCpuMs: Math.round((syncCpu.process.user + syncCpu.process.system) / 1000),
  stallMs: Number(stallMs.toFixed(1)),
  topGapsMs: topGaps,
  heapPerRecord: Math.round(perRecord.heap),
  externalPerRecord: Math.round(perRecord.external),
  heapPlusExternalPerRecord: Math.round(perRecord.heap + perRecord.external),
  ratioToEncoded: Number(((perRecord.heap + perRecord.external) / encodedRecordBytes).toFixed(3)),
  rssPerRecordAfterGc: Math.round(perRecord.rss),
  rssMiBAfterSync: Math.round(rssAfterSync / 2 ** 20),
  rssMiBAfterGc: Math.round(after.rss / 2 ** 20),
  // V8's committed heap beside what is live: pages a collection freed and kept, or fragmentation.
  heapTotalMiBAfterGc: Math.round(after.heapTotal / 2 ** 20),
  heapUsedMiBAfterGc: Math.round(after.heapUsed / 2 ** 20),
};

const settleMs = Number(values["settle-ms"]);
if (settleMs > 0 && !values.resync) {
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  const settled = process.memoryUsage();
  result.rssMiBAfterSettle = Math.round(settled.rss / 2 ** 20);
  result.heapTotalMiBAfterSettle = Math.round(settled.heapTotal / 2 ** 20);
}

result.longestAddMs = Number(longest.add.toFixed(1));
result.longestAddRecords = longest.addRecords;
result.longestStepMs = Number(longest.step.toFixed(1));
result.steps = longest.steps;
Object.assign(longest, { add: 0, addRecords: 0, step: 0, steps: 0 });

if (values.resync) {
  // A decode of 1 % of the records, as a host's hot set would have (memoised messages).
  for (let i = 0; i < held; i += 100) replica.getMessage(SESSION_TYPE, `s-${String(i).padStart(ID_WIDTH, "0")}`);
  serverVersion = 2000n;
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
  const d2 = monitorEventLoopDelay({ resolution: 1 });
  d2.enable();
  await nextTurn();
  d2.reset();
  const g2 = gapTracker();
  const t1 = performance.now();
  if (values.explain) console.error(`resync starts at hrtime ${process.hrtime.bigint() / 1000n} us`);
  abortSync?.();
  await live();
  result.resyncMs = Math.round(performance.now() - t1);
  await new Promise((resolve) => setTimeout(resolve, 5));
  d2.disable();
  clearInterval(sampler);
  result.resyncStallMs = Number((d2.max / 1e6).toFixed(1));
  result.resyncTopGapsMs = g2.stop();
  result.resyncPeakRssMiB = Math.round(peakRss / 2 ** 20);
  result.resyncLongestAddMs = Number(longest.add.toFixed(1));
  result.resyncLongestAddRecords = longest.addRecords;
  result.resyncLongestStepMs = Number(longest.step.toFixed(1));
  result.resyncSteps = longest.steps;
  result.sessionsAfterResync = replica.size(SESSION_TYPE);
}

loop.close();
console.log(JSON.stringify(result));
