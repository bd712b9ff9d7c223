/**
 * What our own HTTP/2 framing would buy the initial sync's intake, measured before building it:
 * the floor of the main bench (SyncLatest of the cache's default types, concurrently on one
 * connection, each message read and discarded) through
 *
 * - `go-floor`: the main bench's floor itself (`bench/go-syncquerier -mode floor`, grpc-go);
 * - `raw-frames`: the prototype in `bench/raw-h2-client.ts` (HTTP/2 frames read on a TCP socket
 *   by our own code), messages discarded undecoded, as the Go floor does;
 * - `raw-frames+decode`: the same, each message decoded by the decoder the cache's transports use
 *   (`src/transport/sync-response-decoder.ts`), so that it differs from `node-http2` only below
 *   the gRPC message: in the HTTP/2 client;
 * - `node-http2`: the cache's default transport (our gRPC call layer on Node's HTTP/2 client)
 *   through the generated Connect client, which decodes every message;
 *
 * alternating in one process, round after round, against ONE Pomerium server seeded with the
 * main bench's data (`--sessions` sessions, a tenth as many users). Per round and reader: the time
 * from before the connection to the last stream's end, and the main thread's CPU over it (Go:
 * its process's CPU). Every reader must count exactly the seeded records, so a broken prototype
 * fails the run rather than measuring fast.
 *
 *   node --expose-gc --import tsx bench/raw-frame-floor.ts [--sessions 100000] [--rounds 3]
 *        [--go-binary PATH] [--json PATH]
 */
import { writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { SyncLatestRequestSchema } from "../gen/databroker/databroker_pb.js";
import { createDataBrokerClient } from "../src/transport/databroker-clients.js";
import { createDatabrokerTransport } from "../src/transport/databroker-transport.js";
import { parseSharedSecret, signDatabrokerJwt } from "../src/transport/shared-secret.js";
import { decodeSyncLatestResponse } from "../src/transport/sync-response-decoder.js";
import { newBenchSecret } from "./bench-secret.js";
import { startBenchServer } from "./bench-server.js";
import { fullGc, requireExposedGc } from "./full-gc.js";
import { runGoFloor } from "./go-baseline.js";
import { mainThreadCpuMs } from "./main-thread-cpu.js";
import { RawH2Client } from "./raw-h2-client.js";
import { seedBenchServer } from "./seed-bench-server.js";
import { median } from "./stats.js";

requireExposedGc();
const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "100000" },
    rounds: { type: "string", default: "3" },
    "go-binary": { type: "string" },
    json: { type: "string" },
  },
});
const sessions = Number(values.sessions);
const rounds = Number(values.rounds);
if (!Number.isSafeInteger(sessions) || sessions < 10) throw new Error("--sessions must be an integer of at least 10");
if (!Number.isSafeInteger(rounds) || rounds < 1) throw new Error("--rounds must be a positive integer");
const users = Math.floor(sessions / 10);
const log = (line: string) => process.stderr.write(`[raw-frame-floor] ${line}\n`);
const SYNC_LATEST_PATH = "/databroker.DataBrokerService/SyncLatest";
// The cache's default types, as the Go floor reads them.
const TYPES = ["type.googleapis.com/session.Session", "type.googleapis.com/user.User", "type.googleapis.com/user.ServiceAccount"];
// A SyncLatestResponse's record is field 1, length-delimited: its first byte is this tag.
const RECORD_TAG = (1 << 3) | 2;

interface Sample {
  reader: string;
  round: number;
  records: number;
  readyMs: number;
  /** Main-thread CPU over the read (Go: the floor process's CPU). */
  cpuMs: number;
  load1: number;
}

const secret = newBenchSecret();
const key = parseSharedSecret(secret);
const server = await startBenchServer("pomerium", secret);
const samples: Sample[] = [];

/** Reads every type's SyncLatest through the prototype; counts records, decoding each when asked. */
async function rawRead(decode: boolean): Promise<number> {
  const raw = await RawH2Client.connect(server.url);
  const jwt = await signDatabrokerJwt(key);
  let records = 0;
  try {
    await Promise.all(
      TYPES.map((type) =>
        raw.stream(SYNC_LATEST_PATH, jwt, toBinary(SyncLatestRequestSchema, create(SyncLatestRequestSchema, { type })), (message) => {
          if (decode) {
            if (decodeSyncLatestResponse(message).response.case === "record") records++;
          } else if (message[0] === RECORD_TAG) records++;
        }),
      ),
    );
  } finally {
    await raw.close();
  }
  return records;
}

/** Reads every type's SyncLatest through the cache's default transport and generated client. */
async function nodeHttp2Read(): Promise<number> {
  const transport = createDatabrokerTransport(server.url, { sharedSecret: secret, implementation: "node-http2" });
  const client = createDataBrokerClient(transport.transport);
  let records = 0;
  try {
    await Promise.all(
      TYPES.map(async (type) => {
        for await (const message of client.syncLatest({ type })) if (message.response.case === "record") records++;
      }),
    );
  } finally {
    await transport.close();
  }
  return records;
}

try {
  await seedBenchServer(server.url, secret, sessions, users);
  log(`seeded ${sessions} sessions and ${users} users on ${server.description}`);
  const readers: Array<{ name: string; read(): Promise<number> }> = [
    { name: "raw-frames", read: () => rawRead(false) },
    { name: "raw-frames+decode", read: () => rawRead(true) },
    { name: "node-http2", read: nodeHttp2Read },
  ];
  const note = (sample: Sample) => {
    if (sample.records !== sessions + users) throw new Error(`${sample.reader} read ${sample.records} records, expected ${sessions + users}`);
    samples.push(sample);
    log(`round ${sample.round} ${sample.reader}: ${(sample.readyMs / 1000).toFixed(3)} s, CPU ${(sample.cpuMs / 1000).toFixed(3)} s, load ${sample.load1.toFixed(2)}`);
  };
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? readers : [...readers].reverse();
    for (const { name, read } of order) {
      await fullGc();
      const cpu0 = mainThreadCpuMs();
      const start = performance.now();
      const records = await read();
      note({ reader: name, round, records, readyMs: performance.now() - start, cpuMs: mainThreadCpuMs() - cpu0, load1: loadavg()[0] ?? 0 });
    }
    if (values["go-binary"] !== undefined) {
      const go = await runGoFloor(values["go-binary"], server.url, secret);
      note({ reader: "go-floor", round, records: go.records, readyMs: go.readyMs, cpuMs: go.cpuMs, load1: loadavg()[0] ?? 0 });
    }
  }
} finally {
  await server.stop();
}

const groups = new Map<string, Sample[]>();
for (const s of samples) groups.set(s.reader, [...(groups.get(s.reader) ?? []), s]);
for (const [name, group] of groups) {
  process.stdout.write(
    `${name}: ${(median(group.map((s) => s.readyMs)) / 1000).toFixed(3)} s median (${group.map((s) => (s.readyMs / 1000).toFixed(3)).join(", ")}), CPU ${(median(group.map((s) => s.cpuMs)) / 1000).toFixed(3)} s\n`,
  );
}
if (values.json !== undefined) await writeFile(values.json, `${JSON.stringify({ date: new Date().toISOString(), server: server.description, sessions, users, samples }, null, 1)}\n`);
process.exit(0);
