/**
 * Warm start against a cold start, on Pomerium's databroker with file storage (its server version
 * survives restarts, so a saved position stays valid):
 *
 *   npx tsx bench/warm-start.ts [--sessions 100000] [--changes 1000] [--json bench/results/warm-start.json]
 *
 * 1. seeds N sessions and N/10 users (the deterministic demo records of `npm run bench`);
 * 2. cold: a cache with the `snapshot` option and no file yet: time to ready (a full SyncLatest);
 *    then close(), which writes the snapshot: its duration, its size against the encoded records,
 *    and the longest event-loop stall while it runs (perf_hooks histogram, 1 ms resolution);
 * 3. while no cache runs: `--changes` session updates and a tenth as many deletions;
 * 4. warm: a cache on the same file: time to ready (load + Sync from the saved position + the
 *    backlog), the longest stall meanwhile, and where each stream started;
 * 5. unless --no-go: Pomerium's Go SyncQuerier (bench/go-syncquerier, built into node_modules/.cache)
 *    reading the same server from scratch, in a child process: its time to ready is the cold
 *    start of Pomerium's own client, which has no warm start.
 *
 * Both caches run in this process one after the other (a forced GC between them when run with
 * --expose-gc). Results are printed and written as JSON.
 */
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { RecordSchema, type Record } from "../gen/databroker/databroker_pb.js";
import { DemoRecords } from "../src/demo/demo-records.js";
import { createDatabrokerCache, type DatabrokerCache } from "../src/index.js";
import { SESSION_TYPE, USER_TYPE } from "../src/records/type-urls.js";
import { createDataBrokerClient } from "../src/transport/databroker-clients.js";
import { createDatabrokerTransport } from "../src/transport/databroker-transport.js";
import { startPomerium } from "../test/support/pomerium-harness.js";
import { newBenchSecret } from "./bench-secret.js";
import { buildGoBinary, runGoReader } from "./go-baseline.js";

const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "100000" },
    changes: { type: "string", default: "1000" },
    json: { type: "string", default: fileURLToPath(new URL("./results/warm-start.json", import.meta.url)) },
    "no-go": { type: "boolean", default: false },
  },
});
const sessions = Number(values.sessions);
const users = Math.max(1, Math.floor(sessions / 10));
const changes = Number(values.changes);
const PUT_BATCH = 500;
const log = (line: string) => process.stderr.write(`[warm-start] ${line}\n`);
const secret = newBenchSecret();
const folder = await mkdtemp(join(tmpdir(), "bench-warm-start-"));
const snapshotPath = join(folder, "cache.snapshot");
const gc = (globalThis as { gc?: () => void }).gc;

const pomerium = await startPomerium({ storage: "file", dsn: join(folder, "pomerium"), sharedSecret: secret, name: "bench-warm-start" });
try {
  const seeding = createDatabrokerTransport(pomerium.url, { sharedSecret: secret });
  const client = createDataBrokerClient(seeding.transport);
  const demo = new DemoRecords({ seed: 1 });
  let encodedBytes = 0;
  let batch: Record[] = [];
  const flush = async () => {
    if (batch.length > 0) await client.put({ records: batch });
    batch = [];
  };
  const add = async (r: Record) => {
    encodedBytes += toBinary(RecordSchema, r).length;
    batch.push(r);
    if (batch.length === PUT_BATCH) await flush();
  };
  const seedStart = performance.now();
  for (let n = 0; n < users; n++) await add(DemoRecords.record(demo.user(n)));
  for (let n = 0; n < sessions; n++) await add(DemoRecords.record(demo.session(`session-${n}`, n % users)));
  await flush();
  log(`seeded ${sessions} sessions + ${users} users (${(encodedBytes / 2 ** 20).toFixed(1)} MiB encoded) in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

  // When the snapshot finished loading (before the catch-up), and the write's own longest slice.
  let loadedAt: number | undefined;
  let writeSliceMs: number | undefined;
  const start = (): DatabrokerCache =>
    createDatabrokerCache({
      url: pomerium.url,
      sharedSecret: secret,
      types: [SESSION_TYPE, USER_TYPE],
      snapshot: { path: snapshotPath, closeWriteTimeoutMs: 600_000, intervalMs: 2 ** 31 - 1 },
      logger: {
        info: (message) => {
          if (message === "resumed from snapshot") loadedAt = performance.now();
        },
        debug: (message, attributes) => {
          if (message === "snapshot written") writeSliceMs = Number(attributes?.longestSliceMs);
        },
      },
    });
  const stall = monitorEventLoopDelay({ resolution: 1 });

  // ---- cold ----
  let t = performance.now();
  stall.enable();
  const cold = start();
  await cold.ready({ timeoutMs: 600_000 });
  const coldReadyMs = performance.now() - t;
  const coldStallMs = stall.max / 1e6;
  stall.reset();
  log(`cold: ready in ${(coldReadyMs / 1000).toFixed(2)} s (${cold.size(SESSION_TYPE)} sessions)`);
  t = performance.now();
  await cold.close();
  const writeMs = performance.now() - t;
  const writeStallMs = stall.max / 1e6;
  stall.disable();
  const snapshotBytes = (await stat(snapshotPath)).size;
  log(`snapshot written on close in ${(writeMs / 1000).toFixed(2)} s: ${(snapshotBytes / 2 ** 20).toFixed(1)} MiB (${(snapshotBytes / encodedBytes).toFixed(3)}x the encoded records), longest stall ${writeStallMs.toFixed(1)} ms`);
  gc?.();

  // ---- changes while down ----
  const now = timestampNow();
  for (let n = 0; n < changes; n++) {
    const r = DemoRecords.record(demo.session(`session-${n}`, (n + 1) % users));
    batch.push(n % 10 === 9 ? create(RecordSchema, { ...r, deletedAt: now }) : r);
    if (batch.length === PUT_BATCH) await flush();
  }
  await flush();
  await seeding.close();

  // ---- warm ----
  stall.reset();
  stall.enable();
  t = performance.now();
  const warm = start();
  await warm.ready({ timeoutMs: 600_000 });
  const warmReadyMs = performance.now() - t;
  const warmStallMs = stall.max / 1e6;
  const loadMs = (loadedAt ?? Number.NaN) - t;
  stall.disable();
  const startedFrom = warm.state.streams.map((s) => s.startedFrom);
  const deletedGone = warm.getSession("session-9") === undefined;
  log(`warm: ready in ${(warmReadyMs / 1000).toFixed(2)} s (started from ${startedFrom.join(", ")}; ${warm.size(SESSION_TYPE)} sessions; a deletion made while down applied: ${deletedGone})`);
  await warm.close();
  gc?.();

  // ---- Pomerium's Go SyncQuerier, cold, on the same server ----
  let goReadyMs: number | undefined;
  if (!values["no-go"]) {
    const binary = await buildGoBinary();
    const go = await runGoReader(binary, pomerium.url, secret, 0, "warm-start", () => {});
    goReadyMs = go.readyMs;
    log(`Go SyncQuerier (cold): ready in ${(go.readyMs / 1000).toFixed(2)} s (${go.sessions} sessions)`);
  }

  const result = {
    at: new Date().toISOString(),
    server: "pomerium file storage",
    sessions,
    users,
    changesWhileDown: changes,
    encodedRecordBytes: encodedBytes,
    cold: { readyMs: Math.round(coldReadyMs), longestStallMs: round(coldStallMs) },
    snapshotWrite: { durationMs: Math.round(writeMs), bytes: snapshotBytes, sizeRatio: round(snapshotBytes / encodedBytes, 4), longestStallMs: round(writeStallMs), longestSliceMs: round(writeSliceMs ?? Number.NaN) },
    warm: { readyMs: Math.round(warmReadyMs), loadMs: Math.round(loadMs), longestStallMs: round(warmStallMs), startedFrom, deletionWhileDownApplied: deletedGone },
    warmOverCold: round(warmReadyMs / coldReadyMs, 3),
    goSyncQuerier: goReadyMs === undefined ? null : { readyMs: Math.round(goReadyMs), warmOverGo: round(warmReadyMs / goReadyMs, 3), coldOverGo: round(coldReadyMs / goReadyMs, 3) },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  await mkdir(dirname(values.json), { recursive: true });
  await writeFile(values.json, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  await pomerium.stop();
  await rm(folder, { recursive: true, force: true });
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
