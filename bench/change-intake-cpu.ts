/**
 * The main thread's CPU per received change, with no unary call in this process: the Go writer
 * (`go-syncquerier -mode write`, another process) Puts `--count` new sessions at `--rate` per
 * second while this process holds a synced cache, or a bare transport with a Sync stream whose
 * changes are read and dropped (the transport's intake alone). Each block's CPU (Linux schedstat,
 * from the writer's start to 200 ms after its end) is divided by the changes written; the writes
 * are deleted between blocks. Clients alternate, a fresh one per round, in one process.
 *
 *   node --expose-gc --import tsx bench/change-intake-cpu.ts [--sessions 20000] [--rounds 3] [--blocks 3] [--rate 2000] [--count 6000]
 */
import { parseArgs } from "node:util";
import { newBenchSecret } from "./bench-secret.js";
import { startBenchServer } from "./bench-server.js";
import { seedBenchServer } from "./seed-bench-server.js";
import { openPutClient } from "./put-client.js";
import { buildGoBinary, runGoDelete, runGoWriter } from "./go-baseline.js";
import { mainThreadCpuMs } from "./main-thread-cpu.js";
import { fullGc, requireExposedGc } from "./full-gc.js";

requireExposedGc();
const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "20000" },
    rounds: { type: "string", default: "3" },
    blocks: { type: "string", default: "3" },
    rate: { type: "string", default: "2000" },
    count: { type: "string", default: "6000" },
  },
});
const rate = Number(values.rate);
const count = Number(values.count);

const go = await buildGoBinary();
const secret = newBenchSecret();
const server = await startBenchServer("pomerium", secret);
try {
  await seedBenchServer(server.url, secret, Number(values.sessions), 1);
  let tag = 0;
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const client of ["cache.client", "transport+sync"] as const) {
      await fullGc();
      const { close } = await openPutClient(client, server.url, secret);
      const blocks: string[] = [];
      for (let b = 0; b < Number(values.blocks); b++) {
        const runTag = `intake-${tag++}`;
        const cpu0 = mainThreadCpuMs();
        await runGoWriter(go, server.url, secret, rate, count, runTag);
        await new Promise((resolve) => setTimeout(resolve, 200));
        blocks.push((((mainThreadCpuMs() - cpu0) * 1000) / count).toFixed(1));
        await runGoDelete(go, server.url, secret, count, runTag);
      }
      console.log(`round ${round} ${client}: main-thread CPU per change by block of ${count}: ${blocks.join(", ")} us`);
      await close();
    }
  }
} finally {
  await server.stop();
}
