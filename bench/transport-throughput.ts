/**
 * Raw SyncLatest throughput of the DatabrokerTransport implementations ("connect-node", "grpc-js",
 * "node-http2" and "http2-frames"), with the same generated Connect client on top: one server process (our in-memory
 * databroker in a child process, or Pomerium's with --server pomerium), seeded once with N
 * ~1.9 KB sessions, then rounds that alternate which transport goes first. `--server replay`
 * instead replays one pre-encoded SyncLatest response from a child process that does almost no
 * work per record: the client's transport alone is then the bottleneck (its ceiling). Each timed pass opens
 * a fresh transport, connects, drains a full SyncLatest of the session type (every message
 * decoded, nothing kept) and closes. Reports records/s and the client process's CPU time per
 * record (process.cpuUsage), medians over the rounds, and each implementation's ratios to grpc-js.
 *
 *   npx tsx bench/transport-throughput.ts [--sessions 50000] [--rounds 5] [--server in-memory|pomerium|replay]
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Record } from "../gen/databroker/databroker_pb.js";
import { DemoRecords, SESSION_TYPE_URL } from "../src/demo/demo-records.js";
import { createDataBrokerClient } from "../src/transport/databroker-clients.js";
import { DATABROKER_TRANSPORT_IMPLEMENTATIONS, createDatabrokerTransport, type DatabrokerTransportImplementation } from "../src/transport/databroker-transport.js";
import { newBenchSecret } from "./bench-secret.js";
import { pomeriumBinaryPresent, startBenchServer, type BenchServerKind } from "./bench-server.js";

const { values: args } = parseArgs({
  options: {
    sessions: { type: "string", default: "50000" },
    rounds: { type: "string", default: "5" },
    server: { type: "string", default: "in-memory" },
    // For profiling one side: node --cpu-prof --import tsx bench/transport-throughput.ts --only grpc-js
    only: { type: "string" },
  },
});
const sessions = Number(args.sessions);
const rounds = Number(args.rounds);
const serverKind = args.server as BenchServerKind | "replay";
if (!(sessions > 0) || !(rounds > 0) || !["in-memory", "pomerium", "replay"].includes(serverKind)) {
  throw new Error("usage: --sessions N --rounds N --server in-memory|pomerium|replay");
}
if (serverKind === "pomerium" && !pomeriumBinaryPresent()) throw new Error("no Pomerium binary (.ci/interop-build.sh builds it)");

const PUT_BATCH = 500;
const IMPLEMENTATIONS: readonly DatabrokerTransportImplementation[] =
  args.only === undefined ? DATABROKER_TRANSPORT_IMPLEMENTATIONS : [args.only as DatabrokerTransportImplementation];

interface Pass {
  readonly implementation: DatabrokerTransportImplementation;
  readonly records: number;
  readonly seconds: number;
  readonly cpuSeconds: number;
}

const secret = newBenchSecret();
const server = serverKind === "replay" ? await startReplayServer() : await startBenchServer(serverKind, secret);
try {
  if (serverKind !== "replay") {
    const seedStart = performance.now();
    await seed(server.url);
    log(`seeded ${sessions} sessions into ${server.description} in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);
  }
  // One untimed pass each: JIT warm-up of both paths and the server's.
  for (const implementation of IMPLEMENTATIONS) await syncLatestPass(server.url, implementation);

  const passes: Pass[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? IMPLEMENTATIONS : [...IMPLEMENTATIONS].reverse();
    for (const implementation of order) {
      const pass = await syncLatestPass(server.url, implementation);
      if (pass.records !== sessions) throw new Error(`${implementation}: ${pass.records} records, expected ${sessions}`);
      passes.push(pass);
      log(
        `round ${round + 1} ${implementation.padEnd(12)} ${Math.round(pass.records / pass.seconds).toLocaleString("en-US").padStart(8)} records/s, ` +
          `${pass.seconds.toFixed(2)} s, client CPU ${pass.cpuSeconds.toFixed(2)} s (${((pass.cpuSeconds / pass.seconds) * 100).toFixed(0)} %)`,
      );
    }
  }

  const summary = IMPLEMENTATIONS.map((implementation) => {
    const own = passes.filter((p) => p.implementation === implementation);
    return {
      implementation,
      recordsPerSecond: median(own.map((p) => p.records / p.seconds)),
      cpuMicrosPerRecord: median(own.map((p) => (p.cpuSeconds / p.records) * 1e6)),
      seconds: median(own.map((p) => p.seconds)),
    };
  });
  const grpcJs = summary.find((s) => s.implementation === "grpc-js");
  console.log(`\nSyncLatest of ${sessions} sessions (~1.9 KB each), ${rounds} rounds, medians; server: ${server.description}`);
  console.log("| transport | records/s | s per pass | client CPU µs/record |");
  console.log("|---|---:|---:|---:|");
  for (const s of summary) {
    console.log(`| ${s.implementation} | ${Math.round(s.recordsPerSecond).toLocaleString("en-US")} | ${s.seconds.toFixed(2)} | ${s.cpuMicrosPerRecord.toFixed(1)} |`);
  }
  for (const s of summary) {
    if (grpcJs === undefined || s === grpcJs) continue;
    console.log(
      `| ${s.implementation} / grpc-js | ${(s.recordsPerSecond / grpcJs.recordsPerSecond).toFixed(2)}x | ${(s.seconds / grpcJs.seconds).toFixed(2)}x | ${(s.cpuMicrosPerRecord / grpcJs.cpuMicrosPerRecord).toFixed(2)}x |`,
    );
  }
} finally {
  await server.stop();
}

async function syncLatestPass(url: string, implementation: DatabrokerTransportImplementation): Promise<Pass> {
  const transport = createDatabrokerTransport(url, { sharedSecret: secret, implementation });
  const client = createDataBrokerClient(transport.transport);
  try {
    const cpuBefore = process.cpuUsage();
    const start = performance.now();
    await transport.connect();
    let records = 0;
    for await (const response of client.syncLatest({ type: SESSION_TYPE_URL })) {
      if (response.response.case === "record") records += 1;
    }
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    return { implementation, records, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  } finally {
    await transport.close();
  }
}

async function seed(url: string): Promise<void> {
  const transport = createDatabrokerTransport(url, { sharedSecret: secret });
  const client = createDataBrokerClient(transport.transport);
  const demo = new DemoRecords({ seed: 1 });
  let batch: Record[] = [];
  for (let n = 0; n < sessions; n++) {
    batch.push(DemoRecords.record(demo.session(`session-${n}`, n % 1000)));
    if (batch.length === PUT_BATCH || n === sessions - 1) {
      await client.put({ records: batch });
      batch = [];
    }
  }
  await transport.close();
}

async function startReplayServer(): Promise<{ url: string; description: string; stop(): Promise<void> }> {
  const script = fileURLToPath(new URL("./sync-latest-replay-server.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, String(sessions)], { stdio: ["pipe", "pipe", "inherit"] });
  const url = await new Promise<string>((resolve, reject) => {
    let pending = "";
    child.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      const m = /^READY (\S+)$/m.exec(pending);
      if (m !== null) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`replay server exited before ready (code ${code})`)));
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    url,
    description: "a replay of one pre-encoded SyncLatest response (bench/sync-latest-replay-server.ts), child process",
    async stop() {
      child.stdin.end();
      await exited;
    },
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}
