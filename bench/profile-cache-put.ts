/**
 * Where a synced cache's sequential `cache.client.put` round trip spends the main thread: a V8
 * CPU profile (node:inspector) taken over the timed Puts and their deletes only, against one
 * seeded Pomerium server, summarised by self function and by the innermost frame of this
 * repository on the stack. Each Put also brings the Sync change it causes, so the profile holds
 * both the unary call and the change's intake.
 *
 *   node --expose-gc --import tsx bench/profile-cache-put.ts [--sessions 20000] [--calls 3000]
 *        [--transport http2-frames|node-http2|grpc-js|connect-node] [--interval-us 100] [--out F.cpuprofile]
 *        [--bare]   (a bare transport's client instead of a synced cache's: the same Puts without the Sync changes)
 *        [--with-sync]   (with --bare: a Sync stream open on the transport, its changes read and dropped)
 */
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { parseArgs } from "node:util";
import { DEFAULT_CACHE_TRANSPORT, type DatabrokerTransportImplementation } from "../src/index.js";
import { newBenchSecret } from "./bench-secret.js";
import { startBenchServer } from "./bench-server.js";
import { seedBenchServer } from "./seed-bench-server.js";
import { frameLabel, indexProfile, type CpuProfile } from "./cpu-profile-frames.js";
import { openPutClient } from "./put-client.js";
import { fullGc, requireExposedGc } from "./full-gc.js";
import { timePutRoundTrips } from "./put-round-trips.js";
import { percentile } from "./stats.js";

requireExposedGc();
const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "20000" },
    calls: { type: "string", default: "3000" },
    transport: { type: "string", default: DEFAULT_CACHE_TRANSPORT },
    "interval-us": { type: "string", default: "100" },
    out: { type: "string" },
    bare: { type: "boolean", default: false },
    "with-sync": { type: "boolean", default: false },
  },
});
const sessions = Number(values.sessions);
const calls = Number(values.calls);

function summarise(profile: CpuProfile, perCallDivisor: number): string {
  const index = indexProfile(profile);
  const self = new Map<string, number>();
  const owner = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] as number;
    const node = index.node(profile.samples[i] as number);
    if (node.callFrame.functionName === "(idle)") {
      idle += dt;
      continue;
    }
    total += dt;
    const name = frameLabel(node);
    self.set(name, (self.get(name) ?? 0) + dt);
    const o = index.ownerLabel(node);
    owner.set(o, (owner.get(o) ?? 0) + dt);
  }
  const top = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 25)
      .map(([k, v]) => `    ${(v / perCallDivisor).toFixed(1).padStart(6)} us/call  ${k}`)
      .join("\n");
  return [
    `busy ${(total / perCallDivisor).toFixed(1)} us per call, idle ${(idle / perCallDivisor).toFixed(1)} us per call`,
    `by self function:\n${top(self)}`,
    `by the innermost frame of this repository:\n${top(owner)}`,
  ].join("\n");
}

const secret = newBenchSecret();
const server = await startBenchServer("pomerium", secret);
try {
  await seedBenchServer(server.url, secret, sessions, 1);

  const implementation = values.transport as DatabrokerTransportImplementation;
  const kind = values.bare ? (values["with-sync"] ? "transport+sync" : "transport") : "cache.client";
  const { put, close } = await openPutClient(kind, server.url, secret, implementation);
  await timePutRoundTrips(put, "warm", 300);
  await fullGc();

  const inspector = new Session();
  inspector.connect();
  await inspector.post("Profiler.enable");
  await inspector.post("Profiler.setSamplingInterval", { interval: Number(values["interval-us"]) });
  await inspector.post("Profiler.start");
  const r = await timePutRoundTrips(put, "profiled", calls);
  const { profile } = (await inspector.post("Profiler.stop")) as unknown as { profile: CpuProfile };
  inspector.disconnect();
  await close();

  if (values.out !== undefined) await writeFile(values.out, JSON.stringify(profile));
  console.log(`${values.transport}${values.bare ? (values["with-sync"] ? " (bare transport, dropped Sync stream)" : " (bare transport)") : " (synced cache)"}: ${calls} Puts (and their deletes), p50 ${percentile(r.ms, 50).toFixed(3)} ms, main-thread CPU ${r.cpuUs.toFixed(0)} us per call, ${r.writesPerCall.toFixed(2)} writes and ${r.readsPerCall.toFixed(2)} reads per call`);
  // Per call: the Puts and their deletes are 2 x calls unary calls.
  console.log(summarise(profile, 2 * calls));
} finally {
  await server.stop();
}
