/**
 * Where getSession's time goes: the cache's read path taken apart step by step, each timed over
 * 3M calls on 4096 already decoded sessions (our in-memory server, 10k sessions), with the GC
 * events seen during each loop (a GC during a read loop means the step allocates).
 *
 *   npx tsx bench/hot-path-breakdown.ts
 */
import { PerformanceObserver } from "node:perf_hooks";
import { startInMemoryDatabroker } from "../src/server/index.js";
import { createDatabrokerCache, isSessionValid, SESSION_TYPE, type Session } from "../src/index.js";
import { seedDemoData } from "../src/cli/seed-demo-data.js";
import { createDataBrokerClient } from "../src/transport/databroker-clients.js";
import { createDatabrokerTransport } from "../src/transport/databroker-transport.js";
import { newBenchSecret } from "./bench-secret.js";

const SESSIONS = 10_000;
const HOT = 4096;
const CALLS = 3_000_000;

const secret = newBenchSecret();
const server = await startInMemoryDatabroker({ sharedSecret: secret });
const seedTransport = createDatabrokerTransport(server.url, { sharedSecret: secret });
await seedDemoData(createDataBrokerClient(seedTransport.transport), { users: SESSIONS / 10, sessions: SESSIONS });
await seedTransport.close();
const cache = createDatabrokerCache({ url: server.url, sharedSecret: secret });
await cache.ready();

const ids = Array.from({ length: HOT }, (_, i) => `session-${(i * 7919) % SESSIONS}`);
const messages: Session[] = ids.map((id) => {
  const s = cache.getSession(id);
  if (s === undefined) throw new Error(`${id} missing`);
  return s;
});
const plainMap = new Map(ids.map((id) => [id, { id }]));
const FIRST_SECOND_OF_1971 = 31_536_000n;
const expiresMs = messages.map((m) => Number(m.expiresAt?.seconds ?? 0n) * 1000 + (m.expiresAt?.nanos ?? 0) / 1e6);

let gcEvents = 0;
new PerformanceObserver((list) => (gcEvents += list.getEntries().length)).observe({ entryTypes: ["gc"] });
const pick = (i: number) => Math.imul(i, 0x9e3779b1) & (HOT - 1);

async function time(label: string, step: (i: number) => unknown): Promise<void> {
  for (let i = 0; i < 300_000; i++) step(i);
  await new Promise((r) => setTimeout(r, 10));
  gcEvents = 0;
  let found = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) if (step(i) !== undefined) found++;
  const ns = Number(process.hrtime.bigint() - start) / CALLS;
  await new Promise((r) => setTimeout(r, 10));
  process.stdout.write(`| ${label} | ${ns.toFixed(0)} | ${gcEvents} |${found === CALLS ? "" : ` ${CALLS - found} undefined`}\n`);
}

process.stdout.write("| step | ns/op | GC events in 3M calls |\n|---|---:|---:|\n");
await time("plain `Map.get` (floor)", (i) => plainMap.get(ids[pick(i)] as string));
await time("`cache.get(SESSION_TYPE, id)`", (i) => cache.get(SESSION_TYPE, ids[pick(i)] as string));
await time("`cache.get(...).message` (memoised decode)", (i) => cache.get(SESSION_TYPE, ids[pick(i)] as string)?.message);
await time("`cache.getSession(id, { includeInvalid: true })`", (i) => cache.getSession(ids[pick(i)] as string, { includeInvalid: true }));
await time("`isSessionValid(session)` alone", (i) => (isSessionValid(messages[pick(i)] as Session) ? true : undefined));
await time("one BigInt compare (`seconds < 31_536_000n`)", (i) => ((messages[pick(i)] as Session).expiresAt!.seconds < FIRST_SECOND_OF_1971 ? undefined : true));
await time("expiry kept as a double, compared with Date.now()", (i) => ((expiresMs[pick(i)] as number) > Date.now() ? true : undefined));
await time("`cache.getSession(id)` (the public call)", (i) => cache.getSession(ids[pick(i)] as string));

await cache.close();
await server.close();
process.exit(0);
