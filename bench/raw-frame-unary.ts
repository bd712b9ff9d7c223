/**
 * What our own HTTP/2 framing would buy the unary round trip, measured before building it:
 * sequential single-record Puts (each followed by its delete, as the main bench's "Put round
 * trip" row) against ONE Pomerium server seeded with the main bench's data (`--sessions` sessions,
 * a tenth as many users), through
 *
 * - `node-http2`: the cache's default transport (our gRPC call layer on Node's HTTP/2 client),
 *   bare, through the generated Connect client;
 * - `raw-frames`: the prototype in `bench/raw-h2-client.ts`, which writes and reads the
 *   HTTP/2 frames on a TCP socket itself, with the same protobuf-es encode and decode;
 * - with `--go-binary PATH`, the Go SyncQuerier's own Put round trip (its `-mode sync` run).
 *
 * alternating in one process, round after round, so that all see the same host. Per round and
 * client: p50 and p90 of the Put round trip, and the main thread's CPU per call (Linux
 * schedstat) over the Puts and their deletes. Every raw Put's response is decoded and must
 * carry the record it wrote, so a broken prototype fails the run rather than measuring fast.
 *
 *   node --expose-gc --import tsx bench/raw-frame-unary.ts [--sessions 20000] [--rounds 5]
 *        [--calls 500] [--go-binary PATH] [--json PATH]
 */
import { writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { PutRequestSchema, PutResponseSchema, type Record as DatabrokerRecord } from "../gen/databroker/databroker_pb.js";
import { createDataBrokerClient } from "../src/transport/databroker-clients.js";
import { createDatabrokerTransport } from "../src/transport/databroker-transport.js";
import { parseSharedSecret, signDatabrokerJwt } from "../src/transport/shared-secret.js";
import { newBenchSecret } from "./bench-secret.js";
import { startBenchServer } from "./bench-server.js";
import { fullGc, requireExposedGc } from "./full-gc.js";
import { runGoReader } from "./go-baseline.js";
import { timePutRoundTrips, type PutRecords } from "./put-round-trips.js";
import { RawH2Client } from "./raw-h2-client.js";
import { seedBenchServer } from "./seed-bench-server.js";
import { median, percentile } from "./stats.js";

requireExposedGc();
const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "20000" },
    rounds: { type: "string", default: "5" },
    calls: { type: "string", default: "500" },
    "go-binary": { type: "string" },
    json: { type: "string" },
  },
});
const sessions = Number(values.sessions);
const calls = Number(values.calls);
const rounds = Number(values.rounds);
for (const [name, n] of [["sessions", sessions], ["calls", calls], ["rounds", rounds]] as const) {
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
}
const users = Math.max(1, Math.floor(sessions / 10));
const log = (line: string) => process.stderr.write(`[raw-frame-unary] ${line}\n`);
const PUT_PATH = "/databroker.DataBrokerService/Put";

interface Sample {
  client: string;
  round: number;
  p50Ms: number;
  p90Ms: number;
  /** Main-thread CPU per call over the timed Puts and their deletes; NaN for Go (another process). */
  cpuUsPerCall: number;
  load1: number;
}

const secret = newBenchSecret();
const key = parseSharedSecret(secret);
// The token depends only on the current second (its one claim is exp): sign once per second, as
// the SDK's interceptor does.
let signed: { second: number; token: string } | undefined;
const jwt = async (): Promise<string> => {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (signed?.second !== second) signed = { second, token: await signDatabrokerJwt(key, now) };
  return signed.token;
};

const server = await startBenchServer("pomerium", secret);
const samples: Sample[] = [];
try {
  await seedBenchServer(server.url, secret, sessions, users);
  log(`seeded ${sessions} sessions and ${users} users on ${server.description}`);

  const record = (client: string, round: number, ms: number[], cpuUs: number) => {
    const sample = { client, round, p50Ms: percentile(ms, 50), p90Ms: percentile(ms, 90), cpuUsPerCall: cpuUs, load1: loadavg()[0] ?? 0 };
    samples.push(sample);
    log(`round ${round} ${client}: p50 ${sample.p50Ms.toFixed(3)} ms, p90 ${sample.p90Ms.toFixed(3)} ms, CPU ${cpuUs.toFixed(0)} us/call, load ${sample.load1.toFixed(2)}`);
  };

  const clients: Array<{ name: string; open(): Promise<{ put: PutRecords; close(): Promise<void> }> }> = [
    {
      name: "node-http2",
      async open() {
        const transport = createDatabrokerTransport(server.url, { sharedSecret: secret, implementation: "node-http2" });
        await transport.connect();
        const client = createDataBrokerClient(transport.transport);
        return {
          put: async (records) => {
            await client.put({ records });
          },
          close: () => transport.close(),
        };
      },
    },
    {
      name: "raw-frames",
      async open() {
        const raw = await RawH2Client.connect(server.url);
        return {
          put: async (records) => {
            const request = toBinary(PutRequestSchema, create(PutRequestSchema, { records }));
            const response = fromBinary(PutResponseSchema, await raw.call(PUT_PATH, await jwt(), request));
            const written = records[0] as DatabrokerRecord;
            const echoed = response.records[0];
            if (echoed?.id !== written.id || response.serverVersion === 0n) throw new Error(`raw Put of ${written.id} answered ${echoed?.id ?? "no record"} (server version ${response.serverVersion})`);
          },
          close: () => raw.close(),
        };
      },
    },
  ];

  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? clients : [...clients].reverse();
    for (const { name, open } of order) {
      await fullGc();
      const client = await open();
      await timePutRoundTrips(client.put, `warm-${name}-${round}`, 50);
      const r = await timePutRoundTrips(client.put, `${name}-${round}`, calls);
      record(name, round, r.ms, r.cpuUs);
      await client.close();
    }
    if (values["go-binary"] !== undefined) {
      const go = await runGoReader(values["go-binary"], server.url, secret, 0, `go-${round}`, () => {});
      record("go", round, go.putRoundTripMs ?? [], Number.NaN);
    }
  }
} finally {
  await server.stop();
}

const groups = new Map<string, Sample[]>();
for (const s of samples) groups.set(s.client, [...(groups.get(s.client) ?? []), s]);
for (const [name, group] of groups) {
  process.stdout.write(
    `${name}: p50 median ${median(group.map((s) => s.p50Ms)).toFixed(3)} ms (${group.map((s) => s.p50Ms.toFixed(3)).join(", ")}), CPU ${median(group.map((s) => s.cpuUsPerCall)).toFixed(0)} us/call\n`,
  );
}
if (values.json !== undefined) await writeFile(values.json, `${JSON.stringify({ date: new Date().toISOString(), server: server.description, sessions, calls, samples }, null, 1)}\n`);
process.exit(0);
