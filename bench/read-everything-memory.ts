/**
 * What a service that reads every session costs in memory and time, on the replica alone (no
 * server): N realistic ~1.8 KB demo sessions are loaded, then every one is read once through
 * getSession (in a random order, in bursts of 200 per event-loop turn, as a host serving
 * requests would), twice. Reports the JS heap after a full GC before the reads and after each
 * pass, per session, and each pass's time per read. The second pass shows the price of a bound
 * on decoded messages: a message let go and collected is decoded again.
 *
 *   node --expose-gc --import tsx bench/read-everything-memory.ts [--sessions 100000] [--limit N]
 *
 * --limit: the replica's decodedMessageLimit (its default when omitted). Before/after: copy this
 * file and demo-session-records.ts into an export of the older tree (git archive, with a
 * node_modules link) and run it there too, alternating; a tree without the option ignores
 * --limit. Prints one JSON line.
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { setImmediate as nextTurn } from "node:timers/promises";
import { seededRandom } from "../src/demo/demo-records.js";
import { SESSION_TYPE } from "../src/records/type-urls.js";
import type { RawRecord } from "../src/replica/replica-events.js";
import { Replica } from "../src/replica/replica.js";
import { demoSessionRecords } from "./demo-session-records.js";
import { fullGc, requireExposedGc } from "./full-gc.js";
import { mainThreadCpuMs } from "./main-thread-cpu.js";

requireExposedGc();
const { values } = parseArgs({ options: { sessions: { type: "string", default: "100000" }, limit: { type: "string" } } });
const SESSIONS = Number(values.sessions);
const BURST = 200;

const records: RawRecord[] = demoSessionRecords(SESSIONS);
const replica = new Replica(values.limit === undefined ? {} : ({ decodedMessageLimit: Number(values.limit) } as object));
replica.apply({ kind: "snapshot", type: SESSION_TYPE, serverVersion: 1n, recordVersion: BigInt(SESSIONS), records, options: new Map() });
records.length = 0;

// A random order of every id (Fisher-Yates with a fixed seed), as separate string objects.
const random = seededRandom(11);
const ids = Array.from({ length: SESSIONS }, (_, i) => [...`session-${i}`].join(""));
for (let i = ids.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [ids[i], ids[j]] = [ids[j] as string, ids[i] as string];
}

async function heapAfterGc(): Promise<number> {
  await fullGc();
  return process.memoryUsage().heapUsed;
}

async function pass(): Promise<{ usPerRead: number; cpuUsPerRead: number }> {
  const t0 = performance.now();
  const cpu0 = mainThreadCpuMs();
  for (let i = 0; i < ids.length; i++) {
    if (replica.getSession(ids[i] as string, { includeInvalid: true }) === undefined) throw new Error(`${ids[i]} missing`);
    if ((i + 1) % BURST === 0) await nextTurn();
  }
  return { usPerRead: ((performance.now() - t0) * 1000) / ids.length, cpuUsPerRead: ((mainThreadCpuMs() - cpu0) * 1000) / ids.length };
}

const heapBefore = await heapAfterGc();
const first = await pass();
const heapAfterFirst = await heapAfterGc();
const second = await pass();
const heapAfterSecond = await heapAfterGc();
const perSession = (bytes: number) => Math.round(bytes / SESSIONS);
console.log(
  JSON.stringify({
    sessions: SESSIONS,
    limit: values.limit ?? "default",
    heapBeforeMiB: Math.round(heapBefore / 2 ** 20),
    heapAfterFirstPassMiB: Math.round(heapAfterFirst / 2 ** 20),
    heapAfterSecondPassMiB: Math.round(heapAfterSecond / 2 ** 20),
    heldPerSessionAfterReadsB: perSession(heapAfterSecond - heapBefore),
    rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
    firstPass: first,
    secondPass: second,
  }),
);
