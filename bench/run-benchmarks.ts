/**
 * `npm run bench`: the TypeScript cache and Pomerium's own Go SyncQuerier, side by side, against
 * ONE server process seeded with N realistic sessions and N/10 users. Every measured run is a
 * fresh child process (clean heap, own event loop); the table shows medians over the runs and
 * the ratio TS / Go.
 *
 *   npx tsx bench/run-benchmarks.ts [--sessions 100000] [--runs 3] [--server auto|pomerium|in-memory]
 *        [--prop-rate 1000] [--prop-seconds 3] [--no-go] [--no-lean] [--cpu-prof] [--gaps] [--resync] [--json bench/results/last-run.json]
 *
 * Each run also measures a third child, "TS lean": the same cache with `projection: "lean"`
 * (sessions without their raw ID token and OAuth tokens), without the propagation part;
 * --no-lean skips it.
 *
 * Each run also measures the floor: bench/go-syncquerier -mode floor, the fastest possible reader
 * of the server's snapshot (one SyncLatest per type, concurrently, every message received and
 * discarded undecoded), i.e. the limit the server sets; "initial sync / floor" is how far above
 * it each client is. It needs the Go toolchain, as the Go column does.
 *
 * --resync adds (f): a second server with the same data, a TCP proxy in front of the first, and
 * per run a switch-over while the cache serves reads (bench/ts-resync-measure.ts);
 * --resync-read-ids N reads only among the first N sessions (default: all).
 *
 * --gaps records the event loop's longest gaps during each TS sync (and each (f) resync) with the main thread's CPU
 * and the GC time inside each (bench/event-loop-gaps.ts), and adds their row: on this 2-core
 * machine the server runs beside the cache, so a stall's wall time includes being descheduled.
 * Off by default: its 1 ms timer costs the sync ~1-2 % of the main thread.
 *
 * 1M sessions: --sessions 1000000 (minutes per run; not the default).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, freemem, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { execFileSync } from "node:child_process";
import { DEFAULT_CACHE_TRANSPORT } from "../src/cache/cache-options.js";
import { DATABROKER_TRANSPORT_IMPLEMENTATIONS } from "../src/transport/databroker-transport.js";
import { newBenchSecret, SECRET_ENV } from "./bench-secret.js";
import { pomeriumBinaryPresent, startBenchServer, type BenchServerKind } from "./bench-server.js";
import { cacheChildArgs } from "./cache-child-args.js";
import { runChildForJson } from "./child-process-json.js";
import { seedBenchServer } from "./seed-bench-server.js";
import { buildGoBinary, runGoDelete, runGoFloor, runGoReader, runGoWriter, type FloorRunResult, type GoRunResult, type WriterResult } from "./go-baseline.js";
import { median, percentile } from "./stats.js";
import type { TsRunResult } from "./ts-cache-measure.js";
import type { ResyncRunResult } from "./ts-resync-measure.js";
import { PUT_ROUND_TRIP_PLAN } from "./put-round-trip-plan.js";
import { startTcpFaultProxy } from "../test/support/tcp-fault-proxy.js";

const RESYNC_SCRIPT = fileURLToPath(new URL("./ts-resync-measure.ts", import.meta.url));
/** The event-loop stall target applies to the resync as to the initial sync. */
const STALL_TARGET_MS = 20;

const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "100000" },
    runs: { type: "string", default: "3" },
    server: { type: "string", default: "auto" },
    "prop-rate": { type: "string", default: "1000" },
    "prop-seconds": { type: "string", default: "3" },
    "no-go": { type: "boolean", default: false },
    "no-lean": { type: "boolean", default: false },
    transport: { type: "string", default: DEFAULT_CACHE_TRANSPORT },
    "cpu-prof": { type: "boolean", default: false },
    gaps: { type: "boolean", default: false },
    resync: { type: "boolean", default: false },
    "resync-read-ids": { type: "string" },
    json: { type: "string", default: fileURLToPath(new URL("./results/last-run.json", import.meta.url)) },
  },
});
const sessions = Number(values.sessions);
const users = Math.floor(sessions / 10);
const runs = Number(values.runs);
const propRate = Number(values["prop-rate"]);
const propSeconds = Number(values["prop-seconds"]);
// The hot-read set is 4,096 sessions drawn from half the data set.
if (!(sessions >= 10_000) || !(runs >= 1)) throw new Error("--sessions must be at least 10000 and --runs at least 1");
const serverKind: BenchServerKind =
  values.server === "auto" ? (pomeriumBinaryPresent() ? "pomerium" : "in-memory") : (values.server as BenchServerKind);
if (serverKind !== "pomerium" && serverKind !== "in-memory") throw new Error("--server must be auto, pomerium or in-memory");

const transport = values.transport;
if (!(DATABROKER_TRANSPORT_IMPLEMENTATIONS as readonly string[]).includes(transport)) throw new Error(`--transport must be one of ${DATABROKER_TRANSPORT_IMPLEMENTATIONS.join(", ")}`);

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const secret = newBenchSecret();
const loadAtStart = loadavg()[0] ?? 0;

log(`starting server (${serverKind})`);
const server = await startBenchServer(serverKind, secret);
let goBinary: string | undefined;
let goSkipped: string | undefined;
try {
  // ---- seed -------------------------------------------------------------------------------------
  const seedStart = performance.now();
  const { encodedSessionBytes, encodedBytes } = await seedBenchServer(server.url, secret, sessions, users);
  log(`seeded ${sessions} sessions + ${users} users (${(encodedBytes / 2 ** 20).toFixed(1)} MiB encoded) in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

  // ---- Go baseline build ------------------------------------------------------------------------
  if (values["no-go"]) goSkipped = "--no-go";
  else {
    try {
      log("building the Go baseline (bench/go-syncquerier, nice go build)");
      goBinary = await buildGoBinary();
    } catch (err) {
      goSkipped = `build failed: ${(err as Error).message.slice(0, 500)}`;
      log(`Go baseline unavailable: ${goSkipped}`);
    }
  }

  // ---- runs -------------------------------------------------------------------------------------
  const tsRuns: TsRun[] = [];
  const goRuns: GoRun[] = [];
  const leanRuns: TsRunResult[] = [];
  const floorRuns: FloorRunResult[] = [];
  const propCount = goBinary === undefined ? 0 : Math.round(propRate * propSeconds);
  for (let i = 1; i <= runs; i++) {
    // Alternate which side goes first, so drift on a shared machine does not favour one side.
    const order = i % 2 === 1 ? (["ts", "lean", "go", "floor"] as const) : (["floor", "go", "lean", "ts"] as const);
    for (const side of order) {
      if (side === "floor") {
        if (goBinary === undefined) continue;
        const r = await runGoFloor(goBinary, server.url, secret);
        if (r.sessions !== sessions || r.users !== users) throw new Error(`floor read ${r.sessions} sessions / ${r.users} users, expected ${sessions} / ${users}`);
        floorRuns.push(r);
        log(`run ${i} floor: ready ${(r.readyMs / 1000).toFixed(2)} s, ${Math.round(r.recordsPerSec).toLocaleString("en")} rec/s, ${(r.bytes / 2 ** 20).toFixed(1)} MiB, CPU ${(r.cpuMs / 1000).toFixed(2)} s`);
      } else if (side === "lean") {
        if (values["no-lean"]) continue;
        const r = await runTs(server.url, i, 0, () => {}, undefined, "lean");
        leanRuns.push(r);
        log(`run ${i} TS lean: ready ${(r.readyMs / 1000).toFixed(2)} s, kept ${(r.keptDataBytes / (sessions + users)).toFixed(0)} B/record, heap+external ${((r.heapUsedDeltaBytes + r.externalDeltaBytes) / sessions).toFixed(0)} B/session`);
      } else if (side === "ts") {
        const r = await withWriter(`ts-${i}`, propCount, (onLine) => runTs(server.url, i, propCount, onLine));
        tsRuns.push(r);
        log(`run ${i} TS: ready ${(r.result.readyMs / 1000).toFixed(2)} s, stall ${r.result.maxLoopStallMs.toFixed(0)} ms${r.result.syncGaps ? ` (longest gaps wall/cpu/gc ms: ${r.result.syncGaps.byWall.join(" ")})` : ""}, hot ${r.result.hotNsPerOp.toFixed(0)} ns/op, visible p99 ${percentile(r.visibleMs, 99).toFixed(2)} ms`);
      } else if (goBinary !== undefined) {
        const bin = goBinary;
        const r = await withWriter(`go-${i}`, propCount, (onLine) => runGoReader(bin, server.url, secret, propCount, `go-${i}`, onLine));
        goRuns.push(r);
        log(`run ${i} Go: ready ${(r.result.readyMs / 1000).toFixed(2)} s, heap/record ${r.result.heapPerRecordBytes.toFixed(0)} B, visible p99 ${percentile(r.visibleMs, 99).toFixed(2)} ms`);
      }
    }
  }
  let profilePath: string | undefined;
  if (values["cpu-prof"]) {
    const dir = join(tmpdir(), `bench-cpu-prof-${Date.now()}`);
    log(`one extra TS run with --cpu-prof into ${dir}`);
    await runTs(server.url, runs + 1, 0, () => {}, dir);
    profilePath = dir;
  }

  // ---- (f) full resync under reads ---------------------------------------------------------------
  const resyncRuns: ResyncRunResult[] = [];
  if (values.resync) {
    log("(f) starting a second server with the same data");
    const second = await startBenchServer(serverKind, secret);
    try {
      await seedBenchServer(second.url, secret, sessions, users);
      const ports = [Number(new URL(server.url).port), Number(new URL(second.url).port)];
      const proxy = await startTcpFaultProxy(ports[0] as number);
      try {
        for (let i = 1; i <= runs; i++) {
          const to = ports[i % 2] as number;
          const r = await runChildForJson<ResyncRunResult>({
            command: process.execPath,
            // With --cpu-prof each resync is profiled too, into the extra TS run's directory.
            args: ["--expose-gc", ...(sessions >= 500_000 ? ["--max-old-space-size=8192"] : []), ...(profilePath !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${profilePath}`, "--cpu-prof-interval", "250"] : []), "--import", "tsx", RESYNC_SCRIPT, "--url", proxy.url, "--sessions", String(sessions), "--read-ids", values["resync-read-ids"] ?? String(sessions), "--transport", transport, ...(values.gaps ? ["--gaps"] : [])],
            env: { ...process.env, [SECRET_ENV]: secret },
            resultKey: "resyncMs",
            onLine: (line) => {
              if (line !== "RESYNC-READY") return;
              proxy.retarget(to);
              proxy.cut();
            },
          });
          resyncRuns.push(r);
          log(`(f) run ${i}: resync ${(r.resyncMs / 1000).toFixed(2)} s, ${r.reads} reads, ${r.misses} misses, peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB, stall ${r.maxLoopStallMs.toFixed(0)} ms${r.gaps ? ` (longest gaps wall/cpu/gc ms: ${r.gaps.byWall.join(" ")})` : ""}`);
        }
      } finally {
        await proxy.close();
      }
    } finally {
      await second.stop();
    }
  }

  // ---- report -----------------------------------------------------------------------------------
  const report = buildReport(tsRuns, goRuns, leanRuns, floorRuns, encodedBytes);
  const machine = machineInfo();
  const header = [
    `# bench: ${sessions.toLocaleString("en")} sessions + ${users.toLocaleString("en")} users, ${runs} runs, medians`,
    `server: ${server.description}`,
    `encoded: ${(encodedSessionBytes / sessions).toFixed(0)} B per session record, ${(encodedBytes / (sessions + users)).toFixed(0)} B per record overall`,
    `machine: ${machine.cpus} x ${machine.cpuModel}, ${machine.memGiB} GiB RAM (${machine.freeGiB} GiB free), node ${process.version}, ${machine.go}`,
    `load average (1 min) at start ${loadAtStart.toFixed(2)}, at end ${(loadavg()[0] ?? 0).toFixed(2)} (shared machine: other work runs beside the benchmark)`,
    goSkipped !== undefined ? `Go baseline skipped: ${goSkipped}` : `Go baseline: storage.NewSyncQuerier from github.com/pomerium/pomerium ${goRuns[0]?.result.pomeriumVersion ?? "?"} (${goRuns[0]?.result.goVersion ?? "?"})`,
    `TS cache transport: ${transport} (--transport)`,
    floorRuns.length > 0 ? `floor: go-syncquerier -mode floor (one SyncLatest per type, concurrently on one connection; messages received undecoded and discarded)` : "floor: skipped (needs the Go toolchain)",
    propCount > 0 ? `propagation: ${propRate} writes/s for ${propSeconds} s, one record per Put (neutral Go writer process)` : "propagation: skipped (needs the Go writer)",
    profilePath !== undefined ? `cpu profile: ${profilePath}` : "",
  ].filter((l) => l !== "");
  process.stdout.write(`${header.join("\n")}\n\n${report.markdown}\n`);
  const resyncSummary = resyncRuns.length > 0 ? summariseResync(resyncRuns) : undefined;
  if (resyncSummary !== undefined) {
    const mr = (f: (r: ResyncRunResult) => number) => median(resyncRuns.map(f));
    process.stdout.write(
      [
        "",
        `(f) full resync of ${sessions.toLocaleString("en")} sessions + users while a tight read loop runs (getSession of random ids among ${values["resync-read-ids"] ?? "all"} sessions; switch to a second server, same data; medians of ${resyncRuns.length}):`,
        "",
        "| metric | TS cache | target | met |",
        "|---|---:|---|---|",
        `| resync time (stream leaves live -> all streams live on the new server) | ${(mr((r) => r.resyncMs) / 1000).toFixed(2)} s | | |`,
        `| of which SyncLatest (first stream snapshotting -> all live) | ${(mr((r) => r.snapshotMs) / 1000).toFixed(2)} s | | |`,
        `| reads served during the run | ${Math.round(mr((r) => r.reads)).toLocaleString("en")} | | |`,
        `| reads that missed | ${mr((r) => r.misses)} | | |`,
        `| RSS before -> peak | ${(mr((r) => r.rssBeforeBytes) / 2 ** 20).toFixed(0)} -> ${(mr((r) => r.peakRssBytes) / 2 ** 20).toFixed(0)} MiB | | |`,
        `| (e) longest event-loop stall during the resync | ${resyncSummary.maxLoopStallMs.toFixed(1)} ms | ${resyncSummary.stallTarget} | ${metText(resyncSummary.stallMet)} |`,
        "",
      ].join("\n"),
    );
  }
  await mkdir(dirname(values.json), { recursive: true });
  await writeFile(
    values.json,
    `${JSON.stringify({ date: new Date().toISOString(), sessions, users, runs, server: server.description, propRate, propSeconds, machine, encodedBytes, encodedSessionBytes, summary: report.rows, resyncSummary, resyncRuns, floorRuns, tsRuns: tsRuns.map(trim), leanRuns: leanRuns.map(({ propVisibleUnixMs: _v, propChangeUnixMs: _c, putRoundTripMs, putRoundTripColdMs, ...rest }) => ({ ...rest, putRoundTripMs: summarise(putRoundTripMs), putRoundTripColdMs: summarise(putRoundTripColdMs) })), goRuns: goRuns.map(trim) }, null, 2)}\n`,
  );
  log(`raw results: ${values.json}`);
} finally {
  await server.stop();
}
process.exit(0);

interface SideRun<R> {
  readonly result: R;
  /** Put sent (writer) -> readable in the replica, per write that became visible. */
  readonly visibleMs: number[];
  /** Put sent -> delivered to a changes$ subscriber (TS only). */
  readonly changeMs: number[];
  readonly lost: number;
  readonly ackMs: number[];
}
type TsRun = SideRun<TsRunResult>;
type GoRun = SideRun<GoRunResult>;

/**
 * Runs a reader; when it prints PROP-READY, the neutral Go writer (a third process) Puts the
 * propagation records; afterwards they are deleted so the next run syncs the same data.
 */
async function withWriter<R extends { propVisibleUnixMs: number[] | null; propChangeUnixMs?: number[] }>(
  runTag: string,
  count: number,
  reader: (onLine: (line: string) => void) => Promise<R>,
): Promise<SideRun<R>> {
  let writer: Promise<WriterResult> | undefined;
  const result = await reader((line) => {
    if (line === "PROP-READY" && goBinary !== undefined && count > 0) writer = runGoWriter(goBinary, server.url, secret, propRate, count, runTag);
  });
  if (writer === undefined) return { result, visibleMs: [], changeMs: [], lost: 0, ackMs: [] };
  const w = await writer;
  await runGoDelete(goBinary as string, server.url, secret, count, runTag);
  const diff = (seen: readonly number[] | null | undefined) => {
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const t = seen?.[i] ?? -1;
      if (t >= 0) out.push(t - (w.sentUnixMs[i] as number));
    }
    return out.sort((a, b) => a - b);
  };
  const visibleMs = diff(result.propVisibleUnixMs);
  return { result, visibleMs, changeMs: diff(result.propChangeUnixMs), lost: count - visibleMs.length, ackMs: [...w.ackMs].sort((a, b) => a - b) };
}

function summariseResync(resyncRuns: ResyncRunResult[]) {
  const maxLoopStallMs = median(resyncRuns.map((r) => r.maxLoopStallMs));
  return {
    resyncMs: median(resyncRuns.map((r) => r.resyncMs)),
    snapshotMs: median(resyncRuns.map((r) => r.snapshotMs)),
    maxLoopStallMs,
    stallTarget: `<= ${STALL_TARGET_MS} ms`,
    stallMet: Number.isFinite(maxLoopStallMs) ? maxLoopStallMs <= STALL_TARGET_MS : undefined,
  };
}

function metText(met: boolean | undefined): string {
  return met === undefined ? "" : met ? "yes" : "**no**";
}

function summarise(samples: number[]) {
  return { n: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99), max: percentile(samples, 100) };
}
function trim<R extends { propVisibleUnixMs: number[] | null; propChangeUnixMs?: number[]; putRoundTripMs: number[] | null; putRoundTripColdMs: number[] | null }>(r: SideRun<R>) {
  const { propVisibleUnixMs: _v, propChangeUnixMs: _c, putRoundTripMs, putRoundTripColdMs, ...rest } = r.result;
  return { ...rest, putRoundTripMs: summarise(putRoundTripMs ?? []), putRoundTripColdMs: summarise(putRoundTripColdMs ?? []), visibleMs: summarise(r.visibleMs), changeMs: summarise(r.changeMs), writerAckMs: summarise(r.ackMs), lost: r.lost };
}

function runTs(url: string, run: number, propCount: number, onLine: (line: string) => void, profDir?: string, projection: "full" | "lean" = "full"): Promise<TsRunResult> {
  return runChildForJson<TsRunResult>({
    command: process.execPath,
    args: cacheChildArgs({ url, sessions, users, propCount, runTag: projection === "lean" ? `ts-lean-${run}` : `ts-${run}`, projection, transport, gaps: values.gaps, profDir }),
    env: { ...process.env, [SECRET_ENV]: secret },
    resultKey: "readyMs",
    onLine,
  });
}

interface Row {
  metric: string;
  ts: number;
  /** The same cache with `projection: "lean"` (NaN: not measured for this row). */
  lean: number;
  go: number;
  unit: string;
  target: string;
  /** Computed from the figures for the default (full) mode; undefined: no target, or not measured. */
  met: boolean | undefined;
  /** For targets that name the lean mode separately. */
  leanMet?: boolean | undefined;
  /** The ratio columns would repeat another row (the row is itself a ratio). */
  noRatio?: boolean;
}

function buildReport(tsRuns: TsRun[], goRuns: GoRun[], leanRuns: TsRunResult[], floorRuns: FloorRunResult[], encodedBytes: number): { rows: Row[]; markdown: string } {
  const m = <T>(xs: T[], f: (x: T) => number) => median(xs.map(f));
  const ts = tsRuns.map((r) => r.result);
  const ln = leanRuns;
  // The lean column reuses the TS row's formula on the lean runs; rows it does not measure stay "–".
  const lm = (f: (r: TsRunResult) => number) => (ln.length > 0 ? m(ln, f) : Number.NaN);
  const leanHeapBuf = lm((r) => r.heapUsedDeltaBytes + r.externalDeltaBytes);
  const go = goRuns.map((r) => r.result);
  const records = sessions + users;
  const tsReady = m(ts, (r) => r.readyMs / 1000);
  const leanReady = lm((r) => r.readyMs / 1000);
  const goReady = m(go, (r) => r.readyMs / 1000);
  // The floor is one reader per run, the same reference for every column.
  const floorReady = m(floorRuns, (r) => r.readyMs / 1000);
  const tsHeapBuf = m(ts, (r) => r.heapUsedDeltaBytes + r.externalDeltaBytes);
  const goHeap = m(go, (r) => r.heapAfterBytes - r.heapBaselineBytes);
  const encodedPerRecord = encodedBytes / records;
  const tsStall = m(ts, (r) => r.maxLoopStallMs);
  const tsRssPerSession = m(ts, (r) => r.rssBytes) / sessions;
  const leanRssPerSession = lm((r) => r.rssBytes) / sessions;
  const tsHot = m(ts, (r) => r.hotNsPerOp);
  const tsGc = m(ts, (r) => r.hotGcEvents);
  const tsFirstP99 = m(ts, (r) => r.firstTouchUsP99);
  const pct = (runsOf: SideRun<unknown>[], f: (r: SideRun<unknown>) => number[], p: number) => m(runsOf, (r) => percentile(f(r), p));
  const all = (xs: SideRun<unknown>[]) => xs;
  const propMeasured = (tsRuns[0]?.visibleMs.length ?? 0) > 0;
  const tsVisP50 = pct(all(tsRuns), (r) => r.visibleMs, 50);
  const tsVisP99 = pct(all(tsRuns), (r) => r.visibleMs, 99);
  const goVisP99 = pct(all(goRuns), (r) => r.visibleMs, 99);
  const tsPut = m(ts, (r) => percentile(r.putRoundTripMs, 50));
  const goPut = m(go, (r) => percentile(r.putRoundTripMs ?? [], 50));
  const rate = `${propRate}/s`;
  /** `value <= limit`, or undefined when either side was not measured. */
  const atMost = (value: number, limit: number) => (Number.isFinite(value) && Number.isFinite(limit) ? value <= limit : undefined);
  const goMeasured = go.length > 0;
  const rows: Row[] = [
    { metric: "(a) initial sync to ready", ts: tsReady, lean: leanReady, go: goReady, unit: "s", target: "TS/Go <= 0.9x (at 100k and at 1M)", met: goMeasured ? atMost(tsReady / goReady, 0.9) : undefined },
    { metric: "(a) SyncLatest floor (read and discard; one reader per run, the same for every column)", ts: floorReady, lean: ln.length > 0 ? floorReady : Number.NaN, go: goMeasured ? floorReady : Number.NaN, unit: "s", target: "", met: undefined, noRatio: true },
    { metric: "(a) initial sync / floor", ts: tsReady / floorReady, lean: leanReady / floorReady, go: goReady / floorReady, unit: "x", target: "<= 1.15x", met: atMost(tsReady / floorReady, 1.15), noRatio: true },
    { metric: "(a) records/s (sessions + users)", ts: m(ts, (r) => r.recordsPerSec), lean: lm((r) => r.recordsPerSec), go: m(go, (r) => r.recordsPerSec), unit: "rec/s", target: "", met: undefined },
    { metric: "(e) longest event-loop stall during sync", ts: tsStall, lean: lm((r) => r.maxLoopStallMs), go: Number.NaN, unit: "ms", target: `<= ${STALL_TARGET_MS} ms`, met: atMost(tsStall, STALL_TARGET_MS) },
    {
      // With --gaps only (NaN, shown as "–", otherwise).
      metric: "(e) most main-thread CPU in one event-loop gap during sync (--gaps; the rest of a stall is GC or being descheduled)",
      ts: m(ts, (r) => r.syncGaps?.maxCpuMs ?? Number.NaN),
      lean: lm((r) => r.syncGaps?.maxCpuMs ?? Number.NaN),
      go: Number.NaN,
      unit: "ms",
      target: "",
      met: undefined,
    },
    { metric: "(d) heap + external per session (users included)", ts: tsHeapBuf / sessions, lean: leanHeapBuf / sessions, go: goHeap / sessions, unit: "B", target: "", met: undefined },
    { metric: "(d) heap + external / encoded bytes", ts: tsHeapBuf / encodedBytes, lean: leanHeapBuf / encodedBytes, go: goHeap / encodedBytes, unit: "x", target: "", met: undefined },
    { metric: "(d) data bytes held / encoded bytes (after projection)", ts: m(ts, (r) => r.keptDataBytes) / encodedBytes, lean: lm((r) => r.keptDataBytes) / encodedBytes, go: Number.NaN, unit: "x", target: "", met: undefined },
    {
      metric: "(d) process RSS after sync / sessions",
      ts: tsRssPerSession,
      lean: leanRssPerSession,
      go: m(go, (r) => r.rssBytes) / sessions,
      unit: "B",
      target: "full <= 2,000 B (2.0 GB at 1M); lean <= 800 B (0.8 GB at 1M)",
      met: atMost(tsRssPerSession, 2000),
      leanMet: atMost(leanRssPerSession, 800),
    },
    {
      // The fixed part of the figure above: this child runs under tsx (its loader thread and
      // transform caches are ~50 MB of it), which a host running the built package does not.
      metric: "(d) process RSS before creating the cache (node, tsx, the SDK's modules), MB",
      ts: m(ts, (r) => r.rssBytes - r.rssDeltaBytes) / 1e6,
      lean: lm((r) => r.rssBytes - r.rssDeltaBytes) / 1e6,
      go: Number.NaN,
      unit: "",
      target: "",
      met: undefined,
    },
    { metric: "(c) getSession hot, 4,096 random ids (Go: Querier.Query by id)", ts: tsHot, lean: lm((r) => r.hotNsPerOp), go: m(go, (r) => r.queryByIdNs), unit: "ns/op", target: "<= 100 ns", met: atMost(tsHot, 100) },
    { metric: "(c) GC events during 5M hot getSession", ts: tsGc, lean: lm((r) => r.hotGcEvents), go: Number.NaN, unit: "", target: "0", met: Number.isFinite(tsGc) ? tsGc === 0 : undefined },
    { metric: "(c) getSession first touch p50", ts: m(ts, (r) => r.firstTouchUsP50), lean: lm((r) => r.firstTouchUsP50), go: Number.NaN, unit: "us", target: "", met: undefined },
    { metric: "(c) getSession first touch p99", ts: tsFirstP99, lean: lm((r) => r.firstTouchUsP99), go: Number.NaN, unit: "us", target: "<= 20 us", met: atMost(tsFirstP99, 20) },
    { metric: `(b) Put -> visible p50 @${rate}`, ts: tsVisP50, lean: Number.NaN, go: pct(all(goRuns), (r) => r.visibleMs, 50), unit: "ms", target: "TS <= 1 ms", met: propMeasured ? atMost(tsVisP50, 1) : undefined },
    { metric: `(b) Put -> visible p99 @${rate}`, ts: tsVisP99, lean: Number.NaN, go: goVisP99, unit: "ms", target: "TS/Go <= 1.0x", met: propMeasured ? atMost(tsVisP99 / goVisP99, 1.0) : undefined },
    { metric: `(b) Put -> visible max @${rate}`, ts: pct(all(tsRuns), (r) => r.visibleMs, 100), lean: Number.NaN, go: pct(all(goRuns), (r) => r.visibleMs, 100), unit: "ms", target: "", met: undefined },
    { metric: `(b) Put -> changes$ delivered p50 @${rate}`, ts: pct(all(tsRuns), (r) => r.changeMs, 50), lean: Number.NaN, go: Number.NaN, unit: "ms", target: "", met: undefined },
    { metric: `(b) Put -> changes$ delivered p99 @${rate}`, ts: pct(all(tsRuns), (r) => r.changeMs, 99), lean: Number.NaN, go: Number.NaN, unit: "ms", target: "", met: undefined },
    { metric: "(b) writes never visible (30 s)", ts: m(tsRuns, (r) => r.lost), lean: Number.NaN, go: m(goRuns, (r) => r.lost), unit: "", target: "", met: undefined },
    { metric: "(b) writer's Put response p50 (Go writer, during each side's run)", ts: pct(all(tsRuns), (r) => r.ackMs, 50), lean: Number.NaN, go: pct(all(goRuns), (r) => r.ackMs, 50), unit: "ms", target: "", met: undefined },
    {
      metric: `Put round trip p50, sequential, after ${PUT_ROUND_TRIP_PLAN.coldCalls + PUT_ROUND_TRIP_PLAN.warmUpCalls} calls (TS: cache.client unary)`,
      ts: tsPut,
      lean: lm((r) => percentile(r.putRoundTripMs, 50)),
      go: goPut,
      unit: "ms",
      target: "TS/Go <= 1.0x",
      met: goMeasured ? atMost(tsPut / goPut, 1.0) : undefined,
    },
    {
      metric: `Put round trip p50, the client's first ${PUT_ROUND_TRIP_PLAN.coldCalls} calls (cold)`,
      ts: m(ts, (r) => percentile(r.putRoundTripColdMs, 50)),
      lean: lm((r) => percentile(r.putRoundTripColdMs, 50)),
      go: m(go, (r) => percentile(r.putRoundTripColdMs ?? [], 50)),
      unit: "ms",
      target: "",
      met: undefined,
    },
  ];
  const fmt = (v: number, unit: string) => {
    if (!Number.isFinite(v)) return "–";
    if (unit === "x") return `${v.toFixed(2)}x`;
    if (unit === "rec/s") return `${Math.round(v).toLocaleString("en")}`;
    if (unit === "B") return `${Math.round(v).toLocaleString("en")} B`;
    if (unit === "") return v.toFixed(0);
    return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ${unit}`;
  };
  const lines = [
    `| metric | TS cache | TS lean | Go SyncQuerier | TS / Go | lean / Go | target | met |`,
    `|---|---:|---:|---:|---:|---:|---|---|`,
    ...rows.map((r) => {
      const ratio = (x: number) => (!r.noRatio && Number.isFinite(x) && Number.isFinite(r.go) && r.go !== 0 ? `${(x / r.go).toFixed(2)}` : "–");
      const met = r.leanMet === undefined ? metText(r.met) : `full ${metText(r.met) || "–"}, lean ${metText(r.leanMet)}`;
      return `| ${r.metric} | ${fmt(r.ts, r.unit)} | ${fmt(r.lean, r.unit)} | ${fmt(r.go, r.unit)} | ${ratio(r.ts)} | ${ratio(r.lean)} | ${r.target} | ${met} |`;
    }),
    "",
    `Runs: TS ${ts.length}, TS lean ${ln.length}, Go ${go.length}, floor ${floorRuns.length}. Encoded: ${Math.round(encodedPerRecord)} B per record (sessions + users).`,
    `"TS lean" is the same cache with \`projection: "lean"\` (no propagation part); ratios to encoded bytes use the unprojected encoding; "met" is computed from the figures for the default (full) mode, except where the target names lean.`,
    `The floor (go-syncquerier -mode floor) reads the same types' SyncLatest and discards every message undecoded: the limit the server sets; "initial sync / floor" divides each column's ready time by it.`,
  ];
  return { rows, markdown: lines.join("\n") };
}

function machineInfo() {
  let go = "go: not found";
  try {
    go = execFileSync("go", ["version"], { encoding: "utf8" }).trim();
  } catch {
    // Go is optional: the baseline is skipped without it.
  }
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memGiB: (totalmem() / 2 ** 30).toFixed(1),
    freeGiB: (freemem() / 2 ** 30).toFixed(1),
    go,
  };
}
