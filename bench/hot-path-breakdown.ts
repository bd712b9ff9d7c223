/**
 * Where getSession's time goes: the cache's read path taken apart step by step (our in-memory
 * server, 20k sessions by default). Each step is timed over ROUNDS rounds of 1M calls on 4,096 already
 * decoded sessions; the table gives the median ns/op (wall and CPU time: CPU time is steadier on
 * a shared machine) and the GC events seen during all rounds (a GC during a read loop means the
 * step allocates). Each step runs in a loop function of its own (new Function), so no step's call
 * site is shared with another's: a megamorphic call site would not inline the read.
 *
 * Then first touch: 10,000 never-read sessions, each getSession timed on its own, with the GC
 * time (PerformanceObserver) that fell inside the timed calls.
 *
 *   npx tsx bench/hot-path-breakdown.ts
 *   BREAKDOWN_SESSIONS=100000 npx tsx bench/hot-path-breakdown.ts   # a larger table (and heap)
 */
import { performance, PerformanceObserver } from "node:perf_hooks";
import { startInMemoryDatabroker } from "../src/server/index.js";
import { createDatabrokerCache, isSessionValid, SESSION_TYPE, type Session } from "../src/index.js";
import { seedDemoData } from "../src/cli/seed-demo-data.js";
import { coarseReading, tickCoarseClock } from "../src/records/clock.js";
import { frontHash } from "../src/replica/front-keys.js";
import { createDataBrokerClient } from "../src/transport/databroker-clients.js";
import { createDatabrokerTransport } from "../src/transport/databroker-transport.js";
import { newBenchSecret } from "./bench-secret.js";
import { median, percentile } from "./stats.js";

const SESSIONS = Number(process.env.BREAKDOWN_SESSIONS ?? 20_000);
const HOT = 4096;
const CALLS = 1_000_000;
const ROUNDS = 5;
const FIRST_TOUCHES = 10_000;

const secret = newBenchSecret();
const server = await startInMemoryDatabroker({ sharedSecret: secret });
const seedTransport = createDatabrokerTransport(server.url, { sharedSecret: secret });
await seedDemoData(createDataBrokerClient(seedTransport.transport), { users: SESSIONS / 10, sessions: SESSIONS });
await seedTransport.close();
const cache = createDatabrokerCache({ url: server.url, sharedSecret: secret });
await cache.ready();

// Ids as a caller has them: equal to the stored keys but separate string objects.
const copyOf = (s: string) => [...s].join("");
const hotIndex = (i: number) => (i * 7919) % SESSIONS;
const ids = Array.from({ length: HOT }, (_, i) => copyOf(`session-${hotIndex(i)}`));
const hotSet = new Set(ids);
const messages: Session[] = ids.map((id) => {
  const s = cache.getSession(id);
  if (s === undefined) throw new Error(`${id} missing`);
  return s;
});
const sameStringMap = new Map(ids.map((id) => [id, { id }]));
const keys = Array.from({ length: SESSIONS }, (_, n) => `session-${n}`);
const copyKeyedMap = new Map(keys.map((k) => [k, { id: k }]));
const includeInvalid = { includeInvalid: true };
// The least any id-keyed front can cost: a bare array with each held id (the table's own string)
// and its message side by side at its hash's place, read with one hash, one comparison of two
// equal strings and one slot read. Ids whose places collide are simply absent here.
const bareSlots = new Array<unknown>(1 << 17).fill(undefined);
for (const [i, id] of ids.entries()) {
  const held = cache.get(SESSION_TYPE, id);
  const at = (frontHash(id) & ((1 << 16) - 1)) << 1;
  if (held !== undefined && bareSlots[at] === undefined) {
    bareSlots[at] = held.id;
    bareSlots[at + 1] = messages[i];
  }
}

let gcEvents = 0;
const gcs: { start: number; end: number }[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ start: e.startTime, end: e.startTime + e.duration });
  gcEvents += list.getEntries().length;
}).observe({ entryTypes: ["gc"] });
const pick = (i: number) => Math.imul(i, 0x9e3779b1) & (HOT - 1);
const settle = () => new Promise((r) => setTimeout(r, 20));

type Loop = (step: (i: number) => unknown, calls: number) => number;
async function time(label: string, step: (i: number) => unknown): Promise<void> {
  const loop = new Function("step", "calls", "let found = 0; for (let i = 0; i < calls; i++) if (step(i) !== undefined) found++; return found;") as Loop;
  loop(step, 300_000);
  await settle();
  gcEvents = 0;
  const wall: number[] = [];
  const cpu: number[] = [];
  let missed = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = process.cpuUsage();
    const start = process.hrtime.bigint();
    missed += CALLS - loop(step, CALLS);
    wall.push(Number(process.hrtime.bigint() - start) / CALLS);
    const c = process.cpuUsage(c0);
    cpu.push(((c.user + c.system) * 1000) / CALLS);
  }
  await settle();
  const note = missed === 0 ? "" : ` (${missed} undefined)`;
  process.stdout.write(`| ${label} | ${median(wall).toFixed(0)} | ${median(cpu).toFixed(0)} | ${gcEvents} |${note}\n`);
}

process.stdout.write(`| step | ns/op (wall, median of ${ROUNDS}) | ns/op (CPU) | GC events in ${ROUNDS}x${CALLS / 1e6}M calls |\n|---|---:|---:|---:|\n`);
await time("plain `Map.get`, the very string objects as keys (floor)", (i) => sameStringMap.get(ids[pick(i)] as string));
await time("plain `Map.get` of 20k, equal strings (what an id lookup costs)", (i) => copyKeyedMap.get(ids[pick(i)] as string));
await time("bare direct-mapped array: hash, compare an equal string, read the slot (floor of any front)", (i) => {
  const id = ids[pick(i)] as string;
  const at = (frontHash(id) & ((1 << 16) - 1)) << 1;
  return bareSlots[at] === id ? bareSlots[at + 1] : true;
});
await time("`cache.get(SESSION_TYPE, id)`", (i) => cache.get(SESSION_TYPE, ids[pick(i)] as string));
await time("`cache.get(...).message` (memoised decode)", (i) => cache.get(SESSION_TYPE, ids[pick(i)] as string)?.message);
await time("`cache.getSession(id, { includeInvalid: true })`", (i) => cache.getSession(ids[pick(i)] as string, includeInvalid));
await time("`Date.now()` alone", (i) => (Date.now() > i ? true : undefined));
await time("coarse clock (tick + typed-array read) alone", (i) => {
  tickCoarseClock();
  return (coarseReading[0] as number) > i ? true : undefined;
});
await time("`isSessionValid(session)` alone (BigInt per read, no memo)", (i) => (isSessionValid(messages[pick(i)] as Session) ? true : undefined));
await time("`cache.getSession(id)` (the public call)", (i) => cache.getSession(ids[pick(i)] as string));

// First touch: sessions never read before, in a fixed pseudo-random order.
const freshKeys = new Set<string>();
for (let n = 1; freshKeys.size < FIRST_TOUCHES && n < SESSIONS * 4; n++) {
  const k = `session-${(Math.imul(n, 0x9e3779b1) >>> 0) % SESSIONS}`;
  if (!hotSet.has(k)) freshKeys.add(k);
}
const fresh = [...freshKeys].map(copyOf);
await settle();
const gcBefore = gcs.length;
const spans: [number, number][] = [];
const micros: number[] = [];
for (const id of fresh) {
  const t0 = performance.now();
  const s = cache.getSession(id);
  const t1 = performance.now();
  if (s === undefined) throw new Error(`${id} missing`);
  spans.push([t0, t1]);
  micros.push((t1 - t0) * 1000);
}
await settle();
const during = gcs.slice(gcBefore);
let gcInside = 0;
let slowWithGc = 0;
const slowLimit = percentile(micros, 99);
for (const [a, b] of spans) {
  let overlap = 0;
  for (const g of during) overlap += Math.max(0, Math.min(b, g.end) - Math.max(a, g.start));
  gcInside += overlap;
  if ((b - a) * 1000 >= slowLimit && overlap > 0) slowWithGc++;
}
const total = micros.reduce((x, y) => x + y, 0) / 1000;
process.stdout.write(
  `\nFirst touch (${fresh.length} never-read sessions): p50 ${percentile(micros, 50).toFixed(1)} µs, p90 ${percentile(micros, 90).toFixed(1)} µs, ` +
    `p99 ${percentile(micros, 99).toFixed(1)} µs, max ${percentile(micros, 100).toFixed(0)} µs; ` +
    `${during.length} GC events during the loop (${during.reduce((x, g) => x + g.end - g.start, 0).toFixed(0)} ms), ` +
    `${gcInside.toFixed(0)} ms of it inside the timed calls (${total.toFixed(0)} ms in all); ` +
    `${slowWithGc} of the ${micros.filter((m) => m >= slowLimit).length} calls at or above p99 overlap a GC\n`,
);

await cache.close();
await server.close();
process.exit(0);
