/**
 * How long one large write stalls our in-memory databroker (src/server): the server's event
 * loop does a Put in one synchronous step, so every other client waits that long.
 *
 * Steps, each measured on its own: a Put of 60,000 new records, 4 times, filling one type to
 * 240,000; SetOptions capacity 1 on that type; the next Put of one record to it, which evicts
 * the 240,000 others; then, on a second type holding 100,000 records at capacity 100,000, Puts
 * of one record each (each evicts the oldest). Records carry a small user.User, so a Put of
 * 60,000 stays under the 4 MiB receive limit (about 3.7 MiB).
 *
 * The server runs in a child process (this file with --server) and reports the longest stall
 * of its event loop during each step (monitorEventLoopDelay max). Meanwhile a second client,
 * on its own connection, calls ServerInfo back to back; the slowest answer is what another
 * client sees. Prints a table, then one JSON line. About 30 s.
 *
 *   npx tsx bench/server-put-stall.ts [--records 60000] [--fill 240000] [--steady 100000]
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DataBrokerService, PutRequestSchema, RecordSchema, type Record } from "../gen/databroker/databroker_pb.js";
import { UserSchema } from "../gen/user/user_pb.js";
import { startInMemoryDatabroker } from "../src/server/index.js";
import { createDatabrokerTransport } from "../src/transport/databroker-transport.js";
import { benchSecretFromEnv, newBenchSecret, SECRET_ENV } from "./bench-secret.js";

// Short type names and small data keep a Put of 60,000 records under the 4 MiB receive limit.
const CAP_TYPE = "users";
const STEADY_TYPE = "steady";

const { values } = parseArgs({
  options: {
    server: { type: "boolean", default: false },
    records: { type: "string", default: "60000" },
    fill: { type: "string", default: "240000" },
    steady: { type: "string", default: "100000" },
  },
});

if (values.server) await serveAndReportStalls();
else await measure(Number(values.records), Number(values.fill), Number(values.steady));

/** Child: the server; its loop's longest stall since the last "reset" line (acknowledged), on "read". */
async function serveAndReportStalls(): Promise<void> {
  const server = await startInMemoryDatabroker({ sharedSecret: benchSecretFromEnv() });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  process.stdout.write(`READY ${server.url}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === "reset") {
      delay.reset();
      process.stdout.write("RESET\n");
    }
    if (line === "read") process.stdout.write(`STALL ${delay.max / 1e6}\n`);
  }
  await server.close();
}

interface StepResult {
  readonly step: string;
  /** Longest event-loop stall of the server process during the step. */
  readonly serverStallMs: number;
  /** Slowest ServerInfo answer another client got during the step. */
  readonly otherClientMaxMs: number;
  /** Wall time of the step's call, as its client saw it. */
  readonly callMs: number;
  /** Longest event-loop stall of this (the clients') process during the step: large values make the other figures suspect. */
  readonly clientStallMs: number;
}

async function measure(records: number, fill: number, steady: number): Promise<void> {
  const sharedSecret = newBenchSecret();
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--server"], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, [SECRET_ENV]: sharedSecret },
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextLine = async (prefix: string): Promise<string> => {
    for (;;) {
      const { value, done } = await lines.next();
      if (done === true) throw new Error("server process ended");
      if (value.startsWith(prefix)) return value.slice(prefix.length);
    }
  };
  const url = await nextLine("READY ");
  const writer = createDatabrokerTransport(url, { sharedSecret });
  const prober = createDatabrokerTransport(url, { sharedSecret });
  const db = createClient(DataBrokerService, writer.transport);
  const other = createClient(DataBrokerService, prober.transport);
  const results: StepResult[] = [];

  const clientDelay = monitorEventLoopDelay({ resolution: 1 });
  clientDelay.enable();
  const step = async (name: string, call: () => Promise<unknown>): Promise<void> => {
    await other.serverInfo({});
    // Wait for the server to have reset its histogram before the call can reach it.
    child.stdin.write("reset\n");
    await nextLine("RESET");
    clientDelay.reset();
    let probing = true;
    let otherMax = 0;
    const probe = (async () => {
      while (probing) {
        const start = performance.now();
        await other.serverInfo({});
        otherMax = Math.max(otherMax, performance.now() - start);
      }
    })();
    const start = performance.now();
    try {
      await call();
    } finally {
      probing = false;
      await probe;
    }
    const callMs = performance.now() - start;
    child.stdin.write("read\n");
    const serverStallMs = Number(await nextLine("STALL "));
    results.push({ step: name, serverStallMs: round(serverStallMs), otherClientMaxMs: round(otherMax), callMs: round(callMs), clientStallMs: round(clientDelay.max / 1e6) });
  };

  try {
    await db.put({ records: users("warm", 0, 1000, "warm-up") });
    for (let from = 0; from < fill; from += records) {
      const batch = users("c", from, Math.min(records, fill - from));
      const mib = toBinary(PutRequestSchema, create(PutRequestSchema, { records: batch })).length / 2 ** 20;
      await step(`Put of ${batch.length} new records (${mib.toFixed(2)} MiB), type then holds ${from + batch.length}`, () => db.put({ records: batch }));
    }
    await step(`SetOptions capacity 1 on the ${fill}-record type (evicts nothing yet)`, () =>
      db.setOptions({ type: CAP_TYPE, options: { capacity: 1n } }),
    );
    await step(`Put of 1 record evicting ${fill} (capacity 1)`, () => db.put({ records: users("last", 0, 1) }));
    for (let from = 0; from < steady; from += records) await db.put({ records: users("s", from, Math.min(records, steady - from), STEADY_TYPE) });
    await db.setOptions({ type: STEADY_TYPE, options: { capacity: BigInt(steady) } });
    for (let i = 0; i < 5; i++) {
      await step(`Put of 1 record at capacity ${steady} (evicts the oldest)`, () => db.put({ records: users(`next${i}`, 0, 1, STEADY_TYPE) }));
    }
  } finally {
    await writer.close();
    await prober.close();
    child.stdin.end();
    await new Promise((resolve) => child.once("exit", resolve));
  }

  const width = Math.max(...results.map((r) => r.step.length));
  console.log(`${"step".padEnd(width)}  server stall  other client          call  client stall`);
  for (const r of results) {
    const cells = [r.serverStallMs, r.otherClientMaxMs, r.callMs, r.clientStallMs].map((ms) => `${ms} ms`.padStart(12));
    console.log(`${r.step.padEnd(width)}  ${cells.join("  ")}`);
  }
  console.log(JSON.stringify({ serverPutStall: { node: process.version, records, fill, steady, results } }));
}

/** `count` user records with ids `${prefix}-${from}`, ... (type `type`, the capacity type by default). */
function users(prefix: string, from: number, count: number, type = CAP_TYPE): Record[] {
  return Array.from({ length: count }, (_, i) => {
    const id = `${prefix}-${from + i}`;
    return create(RecordSchema, { type, id, data: anyPack(UserSchema, create(UserSchema, { id })) });
  });
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
