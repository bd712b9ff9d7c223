/**
 * The longest event-loop stall while a live table is re-indexed: a replica holding N realistic
 * ~1.8 KB sessions receives (1) an options event that changes indexable_fields (the server's
 * SetOptions, as a Sync stream delivers it) and (2) a host `addIndex` on the same live table.
 * A setImmediate ticker records the gaps between event-loop turns while each re-index runs,
 * until a query on the new field (or a lookup in the new index) answers with the full result.
 * No server, no HTTP/2: the figures are the replica's own.
 *
 *   node --expose-gc --max-old-space-size=6000 --import tsx bench/live-reindex-stall.ts --sessions 1000000
 *
 * Prints one JSON line per phase: stallMs (the longest gap between two ticks) and the GC pause
 * time inside it, the most main-thread CPU time in one gap, the monitorEventLoopDelay max, the wall
 * time until the new index answered, and how many changes were applied to the table meanwhile
 * (one small change event per tick, so the table stays live). On a shared machine the wall gaps
 * also include time the process was descheduled: maxCpuMs is what an idle machine would see.
 * Before/after in one go: run the same script in an export of the old tree (git archive).
 */
import { monitorEventLoopDelay, performance, PerformanceObserver } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { setImmediate as nextTurn } from "node:timers/promises";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { OptionsSchema } from "../gen/databroker/databroker_pb.js";
import { SessionSchema } from "../gen/session/session_pb.js";
import { DemoRecords } from "../src/demo/demo-records.js";
import { SESSION_TYPE } from "../src/records/type-urls.js";
import { scanStringField } from "../src/records/wire-scan.js";
import { recordBytes } from "../src/replica/cached-record.js";
import type { RawRecord } from "../src/replica/replica-events.js";
import { Replica } from "../src/replica/replica.js";
import { fullGc, requireExposedGc } from "./full-gc.js";
import { mainThreadCpuMs } from "./main-thread-cpu.js";
import { findBytes, patchDigits } from "./template-bytes.js";

requireExposedGc();
// The first ConnectError loads Node's http/undici modules (~35 ms): do it now, not inside a
// measurement (byIndex throws one while an index is being built).
void new ConnectError("warm-up", Code.Unavailable);

const { values } = parseArgs({ options: { sessions: { type: "string", default: "200000" } } });
const N = Number(values.sessions);
const USERS = Math.max(1, Math.floor(N / 10));
const SV = 1000n;

// ---- data: T encoded session templates, each record a copy with its id and user id patched ----
const T = 256;
const ID_WIDTH = 8;
const demo = new DemoRecords({ seed: 1, nowMs: Date.now() });
const templates = Array.from({ length: T }, (_, t) => {
  const bytes = toBinary(SessionSchema, demo.session(`s-${"#".repeat(ID_WIDTH)}`, 9_000_000 + t));
  // Session.id (field 2) comes before user_id (field 3) and the id token's copy of the user id.
  const idOffset = findBytes(bytes, "s-#") + 2;
  const userOffset = findBytes(bytes, `user-${9_000_000 + t}`) + 5;
  if (idOffset < 2 || userOffset < 5) throw new Error("placeholder not found in template");
  return { bytes, idOffset, userOffset };
});
const sessionId = (i: number) => `s-${String(i).padStart(ID_WIDTH, "0")}`;
const userOf = (i: number) => (i * 7919) % USERS;
const userId = (u: number) => `user-${String(u).padStart(7, "0")}`;

function sessionRaw(i: number, version: bigint): RawRecord {
  const t = templates[i % T]!;
  const data = t.bytes.slice();
  patchDigits(data, t.idOffset, ID_WIDTH, i);
  patchDigits(data, t.userOffset, 7, userOf(i));
  return { type: SESSION_TYPE, id: sessionId(i), version, modifiedAt: timestampFromMs(1_700_000_000_000), typeUrl: `type.googleapis.com/${SessionSchema.typeName}`, data };
}

// ---- the live table ----
const replica = new Replica({ onListenerError: (error) => console.error("listener error:", error) });
const builder = replica.beginSnapshot(SESSION_TYPE);
const CHUNK = 1000;
const loadStarted = performance.now();
for (let start = 0; start < N; start += CHUNK) {
  const chunk: RawRecord[] = [];
  for (let i = start; i < Math.min(N, start + CHUNK); i++) chunk.push(sessionRaw(i, BigInt(i + 1)));
  builder.add(chunk);
}
builder.finish({ serverVersion: SV, recordVersion: BigInt(N) });
const loadSeconds = (performance.now() - loadStarted) / 1000;
if (replica.size(SESSION_TYPE) !== N) throw new Error(`loaded ${replica.size(SESSION_TYPE)} of ${N}`);
await fullGc();

let version = BigInt(N);
let changed = 0;
/** One small live change per tick: a session of a user whose index key we check later stays put. */
function liveChange(): void {
  const i = (changed * 104_729 + 17) % N;
  replica.apply({ kind: "change", serverVersion: SV, records: [sessionRaw(i, ++version)] });
  changed++;
}

interface Phase {
  phase: string;
  sessions: number;
  /** The longest gap between two ticks (wall time: includes GC pauses and being descheduled). */
  stallMs: number;
  /** GC pause time inside that gap (PerformanceObserver "gc" entries). */
  stallGcMs: number;
  /** The most main-thread CPU time in one gap: the stall an idle machine would see. */
  maxCpuMs: number;
  loopDelayMaxMs: number;
  untilAnsweredMs: number;
  liveChanges: number;
  /** The five longest gaps, "wall/main-thread CPU/GC" ms. */
  topGapsMs: string[];
}

const gcs: { start: number; end: number }[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ start: e.startTime, end: e.startTime + e.duration });
}).observe({ entryTypes: ["gc"] });
const gcInside = (a: number, b: number): number => {
  let sum = 0;
  for (const g of gcs) sum += Math.max(0, Math.min(b, g.end) - Math.max(a, g.start));
  return sum;
};

/** Runs `start`, then ticks (one live change each) until `answered()`; the gaps between ticks. */
async function measure(phase: string, start: () => void, answered: () => boolean): Promise<Phase> {
  await nextTurn();
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const changedBefore = changed;
  const gaps: { start: number; end: number; cpu: number }[] = [];
  const t0 = performance.now();
  let last = t0;
  let lastCpu = mainThreadCpuMs();
  start();
  for (;;) {
    if (answered()) break;
    if (performance.now() - t0 > 600_000) throw new Error(`${phase}: no answer after 10 minutes`);
    liveChange();
    await nextTurn();
    const now = performance.now();
    const cpu = mainThreadCpuMs();
    gaps.push({ start: last, end: now, cpu: cpu - lastCpu });
    last = now;
    lastCpu = cpu;
  }
  const end = performance.now();
  gaps.push({ start: last, end, cpu: mainThreadCpuMs() - lastCpu });
  delay.disable();
  await nextTurn(); // let the observer deliver the last GC entries
  const measured = gaps.map((g) => ({ wall: g.end - g.start, cpu: Math.min(g.cpu, g.end - g.start), gc: gcInside(g.start, g.end) }));
  measured.sort((x, y) => y.wall - x.wall);
  const top = measured[0] ?? { wall: 0, cpu: 0, gc: 0 };
  return {
    phase,
    sessions: N,
    stallMs: Number(top.wall.toFixed(1)),
    stallGcMs: Number(top.gc.toFixed(1)),
    maxCpuMs: Number(Math.max(...measured.map((g) => g.cpu)).toFixed(1)),
    loopDelayMaxMs: Number((delay.max / 1e6).toFixed(1)),
    untilAnsweredMs: Number((end - t0).toFixed(0)),
    liveChanges: changed - changedBefore,
    topGapsMs: measured.slice(0, 5).map((g) => `${g.wall.toFixed(1)}/${g.cpu.toFixed(1)}/${g.gc.toFixed(1)}`),
  };
}

// The sessions of one user (live changes rewrite sessions with the same user, so the count holds).
const probeUser = userOf(3);
const expected = (): number => {
  let n = 0;
  for (const r of replica.values(SESSION_TYPE)) if (scanStringField(recordBytes(r), 3) === userId(probeUser)) n++;
  return n;
};
const probeCount = expected();
const byField = () =>
  Number(replica.query(SESSION_TYPE, { filter: { user_id: userId(probeUser) }, limit: 0 }).totalCount) === probeCount && probeCount > 0;

const results: Phase[] = [];
results.push(
  await measure(
    "options: indexable_fields [] -> [user_id]",
    () => replica.apply({ kind: "options", type: SESSION_TYPE, options: create(OptionsSchema, { indexableFields: ["user_id"] }) }),
    byField,
  ),
);
await fullGc();
results.push(
  await measure(
    "addIndex: a host index on user_id's last 3 digits",
    () => replica.addIndex(SESSION_TYPE, "user-suffix", (record) => scanStringField(recordBytes(record), 3)?.slice(-3)),
    () => {
      try {
        return replica.byIndex(SESSION_TYPE, "user-suffix", userId(probeUser).slice(-3)).size >= probeCount && probeCount > 0;
      } catch {
        return false; // Unavailable: still being built
      }
    },
  ),
);
for (const r of results) process.stdout.write(`${JSON.stringify({ ...r, loadSeconds: Number(loadSeconds.toFixed(1)) })}\n`);
replica.close();
