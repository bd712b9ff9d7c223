/**
 * Sequential unary round trips (single-record Put, then its delete, as the main bench's "Put round
 * trip" row) against ONE seeded Pomerium server, alternating between code trees in one process,
 * so that two versions of the transport are compared under the same load. Per round and tree:
 * `cache.client` of a synced cache (the bench's figure) and a bare DatabrokerTransport client;
 * with --go-binary, the Go SyncQuerier's own Put round trip on the same server in between (its warm
 * figure: after the same untimed calls as the main bench's, put-round-trip-plan.ts).
 *
 *   node --expose-gc --import tsx bench/unary-round-trip.ts [--sessions 100000] [--rounds 3]
 *        [--calls 300] [--warm-up 1000] [--tree /path/to/other/export]... [--go-binary PATH] [--transport-only] [--json PATH]
 *        [--implementation grpc-js|connect-node|node-http2|http2-frames]...   (bare-transport rows; default grpc-js)
 *        [--with-sync]   (per implementation, also its transport with a Sync stream open whose changes are dropped)
 *        [--pin-apart]   (the server's threads on CPU 0, this process's and the Go client's on CPU 1; needs taskset)
 *
 * Each --tree is the root of another checkout of this repository (e.g. `git archive <commit>`
 * unpacked, with a node_modules link); this tree is always measured, as "this".
 */
import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { DemoRecords } from "../src/demo/demo-records.js";
import { newBenchSecret } from "./bench-secret.js";
import { startBenchServer } from "./bench-server.js";
import { fullGc, requireExposedGc } from "./full-gc.js";
import { runGoReader } from "./go-baseline.js";
import { openDiscardedSync, type SyncClient } from "./discarded-sync.js";
import { timePutRoundTrips, type PutRoundTrips } from "./put-round-trips.js";
import { median, percentile } from "./stats.js";
import { PUT_ROUND_TRIP_PLAN } from "./put-round-trip-plan.js";

requireExposedGc();
const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "100000" },
    rounds: { type: "string", default: "3" },
    calls: { type: "string", default: "300" },
    // As the main bench (put-round-trip-plan.ts): each client's timed calls come after this many untimed ones.
    "warm-up": { type: "string", default: String(PUT_ROUND_TRIP_PLAN.coldCalls + PUT_ROUND_TRIP_PLAN.warmUpCalls) },
    tree: { type: "string", multiple: true, default: [] },
    "go-binary": { type: "string" },
    "transport-only": { type: "boolean", default: false },
    "with-sync": { type: "boolean", default: false },
    "pin-apart": { type: "boolean", default: false },
    implementation: { type: "string", multiple: true, default: ["grpc-js"] },
    json: { type: "string" },
  },
});
const sessions = Number(values.sessions);
const calls = Number(values.calls);
const warmUp = Number(values["warm-up"]);
const log = (line: string) => process.stderr.write(`[unary] ${line}\n`);

interface TreeApi {
  createDatabrokerCache(options: { url: string; sharedSecret: string }): {
    readonly client: PutClient;
    ready(options?: { timeoutMs?: number }): Promise<void>;
    close(): Promise<void>;
  };
  createDatabrokerTransport(url: string, options: { sharedSecret: string; implementation: string }): { readonly transport: unknown; connect(): Promise<void>; close(): Promise<void> };
  createDataBrokerClient(transport: unknown): PutClient;
}
interface PutClient {
  put(request: { records: unknown[] }): Promise<unknown>;
}
async function loadTree(root: string): Promise<TreeApi> {
  const index = (await import(pathToFileURL(`${root}/src/index.ts`).href)) as Pick<TreeApi, "createDatabrokerCache">;
  const transport = (await import(pathToFileURL(`${root}/src/transport/databroker-transport.ts`).href)) as Pick<TreeApi, "createDatabrokerTransport">;
  const clients = (await import(pathToFileURL(`${root}/src/transport/databroker-clients.ts`).href)) as Pick<TreeApi, "createDataBrokerClient">;
  return { ...index, ...transport, ...clients };
}

const trees: Array<{ name: string; api: TreeApi }> = [{ name: "this", api: await loadTree(new URL("..", import.meta.url).pathname.replace(/\/$/, "")) }];
for (const root of values.tree) trees.push({ name: root, api: await loadTree(root) });

const secret = newBenchSecret();
const server = await startBenchServer("pomerium", secret);
if (values["pin-apart"]) {
  // Client and server each on a core of their own, so that neither takes the other's CPU when a
  // write wakes it: every thread of the server on CPU 0, every thread of this process on CPU 1
  // (children started from here, the Go client, inherit it). Threads created later inherit their
  // creator's CPU.
  const serverPid = server.pomerium?.pid;
  if (serverPid === undefined) throw new Error("--pin-apart: the server's process id is unknown");
  execFileSync("taskset", ["-a", "-p", "-c", "0", String(serverPid)], { stdio: "ignore" });
  execFileSync("taskset", ["-a", "-p", "-c", "1", String(process.pid)], { stdio: "ignore" });
  log(`pinned: server ${serverPid} on CPU 0, this process ${process.pid} on CPU 1`);
}
// Keeps the event loop alive while only unref'd grpc-js channels are open.
const keepAlive = setInterval(() => {}, 60_000);

interface Sample {
  tree: string;
  /** "transport" is the grpc-js one; another implementation's rows say "transport:<implementation>". */
  client: string;
  round: number;
  p50Ms: number;
  p90Ms: number;
  /** Main-thread CPU (Linux schedstat) over the timed Puts and their deletes, per call. */
  cpuUsPerCall: number;
  /** The main thread's write and read system calls over the same calls, per call (NaN for Go). */
  writesPerCall: number;
  readsPerCall: number;
  load1: number;
}
const samples: Sample[] = [];
try {
  const seed = trees[0]!.api.createDatabrokerTransport(server.url, { sharedSecret: secret, implementation: "grpc-js" });
  const seedClient = trees[0]!.api.createDataBrokerClient(seed.transport);
  const demo = new DemoRecords({ seed: 1 });
  for (let i = 0; i < sessions; i += 500) {
    const records = [];
    for (let j = i; j < Math.min(sessions, i + 500); j++) records.push(DemoRecords.record(demo.session(`session-${j}`, 0)));
    await seedClient.put({ records });
  }
  await seed.close();
  log(`seeded ${sessions} sessions`);

  const roundTrips = (client: PutClient, tag: string, n: number) => timePutRoundTrips((records) => client.put({ records }), tag, n);
  const record = (tree: string, client: Sample["client"], round: number, r: Pick<PutRoundTrips, "ms" | "cpuUs" | "writesPerCall" | "readsPerCall">) => {
    const { ms, cpuUs } = r;
    const sample = { tree, client, round, p50Ms: percentile(ms, 50), p90Ms: percentile(ms, 90), cpuUsPerCall: cpuUs, writesPerCall: r.writesPerCall, readsPerCall: r.readsPerCall, load1: loadavg()[0] ?? 0 };
    samples.push(sample);
    log(
      `round ${round} ${tree} ${client}: p50 ${sample.p50Ms.toFixed(3)} ms, p90 ${sample.p90Ms.toFixed(3)} ms, CPU ${cpuUs.toFixed(0)} us/call, ` +
        `${r.writesPerCall.toFixed(2)} writes and ${r.readsPerCall.toFixed(2)} reads per call, load ${sample.load1.toFixed(2)}`,
    );
  };

  for (let round = 1; round <= Number(values.rounds); round++) {
    const order = round % 2 === 1 ? trees : [...trees].reverse();
    for (const { name, api } of order) {
      await fullGc();
      if (!values["transport-only"]) {
        const cache = api.createDatabrokerCache({ url: server.url, sharedSecret: secret });
        await cache.ready({ timeoutMs: 300_000 });
        await roundTrips(cache.client, `warm-${round}`, warmUp);
        const r = await roundTrips(cache.client, `c-${round}`, calls);
        record(name, "cache.client", round, r);
        await cache.close();
        await fullGc();
      }
      for (const implementation of values.implementation) {
        let transport: ReturnType<TreeApi["createDatabrokerTransport"]>;
        try {
          transport = api.createDatabrokerTransport(server.url, { sharedSecret: secret, implementation });
        } catch (e) {
          // An older tree (--tree) may not have this implementation: its row is left out.
          log(`round ${round} ${name}: no ${implementation} transport (${e instanceof Error ? e.message : String(e)})`);
          continue;
        }
        await transport.connect();
        const client = api.createDataBrokerClient(transport.transport);
        await roundTrips(client, `warm-t-${implementation}-${round}`, warmUp);
        const t = await roundTrips(client, `t-${implementation}-${round}`, calls);
        record(name, implementation === "grpc-js" ? "transport" : `transport:${implementation}`, round, t);
        if (values["with-sync"]) {
          // The same transport with a Sync stream open whose changes are dropped: what the server's
          // Sync send and the change's intake cost a Put round trip, without the replica.
          const stop = await openDiscardedSync(client as unknown as SyncClient);
          await roundTrips(client, `warm-s-${implementation}-${round}`, warmUp);
          const w = await roundTrips(client, `s-${implementation}-${round}`, calls);
          record(name, `transport+sync:${implementation}`, round, w);
          await stop();
        }
        await transport.close();
      }
    }
    if (values["go-binary"] !== undefined) {
      const go = await runGoReader(values["go-binary"], server.url, secret, 0, `go-${round}`, () => {});
      record("go", "go", round, { ms: go.putRoundTripMs ?? [], cpuUs: Number.NaN, writesPerCall: Number.NaN, readsPerCall: Number.NaN });
    }
  }
} finally {
  clearInterval(keepAlive);
  await server.stop();
}

const groups = new Map<string, Sample[]>();
for (const s of samples) groups.set(`${s.tree} ${s.client}`, [...(groups.get(`${s.tree} ${s.client}`) ?? []), s]);
for (const [key, group] of groups) {
  process.stdout.write(`${key}: p50 median ${median(group.map((s) => s.p50Ms)).toFixed(3)} ms (${group.map((s) => s.p50Ms.toFixed(3)).join(", ")}), CPU ${median(group.map((s) => s.cpuUsPerCall)).toFixed(0)} us/call, ${median(group.map((s) => s.writesPerCall)).toFixed(2)} writes per call\n`);
}
if (values.json !== undefined) await writeFile(values.json, `${JSON.stringify({ sessions, calls, samples }, null, 1)}\n`);
process.exit(0);
