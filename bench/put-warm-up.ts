/**
 * How a client's sequential Put round trip settles as its code warms up: right after a synced
 * cache is ready (or a bare transport with a dropped Sync stream has opened), `--blocks` blocks of
 * `--calls` Puts (each followed by its delete, as the main bench's "Put round trip" row), each
 * block's p50 and main-thread CPU per unary call printed on one line. Clients alternate, a fresh
 * one per round, in one process against one seeded Pomerium server; the code of this process stays
 * compiled from round to round, so round 1 shows a cold process and the later rounds a new client
 * in a warm one. The main bench's cold and warm figures (put-round-trip-plan.ts) come from where
 * these blocks settle.
 *
 *   node --expose-gc --import tsx bench/put-warm-up.ts [--sessions 20000] [--rounds 2] [--blocks 8] [--calls 200]
 */
import { parseArgs } from "node:util";
import { newBenchSecret } from "./bench-secret.js";
import { startBenchServer } from "./bench-server.js";
import { seedBenchServer } from "./seed-bench-server.js";
import { openPutClient } from "./put-client.js";
import { fullGc, requireExposedGc } from "./full-gc.js";
import { timePutRoundTrips } from "./put-round-trips.js";
import { percentile } from "./stats.js";

requireExposedGc();
const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "20000" },
    rounds: { type: "string", default: "2" },
    blocks: { type: "string", default: "8" },
    calls: { type: "string", default: "200" },
  },
});

const secret = newBenchSecret();
const server = await startBenchServer("pomerium", secret);
try {
  await seedBenchServer(server.url, secret, Number(values.sessions), 1);
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const client of ["cache.client", "transport+sync"] as const) {
      await fullGc();
      const { put, close } = await openPutClient(client, server.url, secret);
      const blocks: string[] = [];
      for (let b = 0; b < Number(values.blocks); b++) {
        const r = await timePutRoundTrips(put, `${client}-${round}-${b}`, Number(values.calls));
        blocks.push(`${percentile(r.ms, 50).toFixed(3)} ms / ${r.cpuUs.toFixed(0)} us`);
      }
      console.log(`round ${round} ${client}: p50 / CPU per call by block of ${values.calls}: ${blocks.join(", ")}`);
      await close();
    }
  }
} finally {
  await server.stop();
}
