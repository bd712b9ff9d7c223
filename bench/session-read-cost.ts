/**
 * What a getSession costs on the replica alone (no server, no streams): hot (4,096 already
 * decoded sessions, ROUNDS rounds of 1M calls, median ns/op) and first touch (10,000 never-read
 * sessions, each call timed on its own: the decode, and whatever the replica does to the decoded
 * message before handing it out). Realistic ~1.8 KB sessions from src/demo.
 *
 *   node --expose-gc --import tsx bench/session-read-cost.ts [--sessions 20000] [--rounds 5] [--tree PATH]
 *
 * --tree PATH: the root of another checkout (e.g. an export of an older commit, with a
 * node_modules link): its Replica gets the same records and the hot rounds alternate between
 * the two in this one process ("other" figures in the output).
 *
 * Prints one JSON line: wall figures, and main-thread CPU time figures (Linux schedstat; steadier
 * on a shared machine, where wall time includes being descheduled). Before/after in one go: run the same script in an export of the old tree
 * (git archive), alternating, so both see the same machine load.
 */
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { setImmediate as nextTurn } from "node:timers/promises";
import { SESSION_TYPE } from "../src/records/type-urls.js";
import type { RawRecord } from "../src/replica/replica-events.js";
import { Replica } from "../src/replica/replica.js";
import { demoSessionRecords } from "./demo-session-records.js";
import { fullGc, requireExposedGc } from "./full-gc.js";
import { mainThreadCpuMs } from "./main-thread-cpu.js";
import { median, percentile } from "./stats.js";

requireExposedGc();

const { values } = parseArgs({ options: { sessions: { type: "string", default: "20000" }, rounds: { type: "string", default: "5" }, tree: { type: "string" } } });
const SESSIONS = Number(values.sessions);
const ROUNDS = Number(values.rounds);
const HOT = 4096;
const CALLS = 1_000_000;
const FIRST_TOUCHES = Math.min(10_000, SESSIONS - HOT);

const records: RawRecord[] = demoSessionRecords(SESSIONS);
type SessionReader = { getSession(id: string): unknown };
const snapshot = { kind: "snapshot", type: SESSION_TYPE, serverVersion: 1n, recordVersion: BigInt(SESSIONS), records, options: new Map() } as const;
const replica = new Replica();
replica.apply(snapshot);
let other: SessionReader | undefined;
if (values.tree !== undefined) {
  const { Replica: OtherReplica } = (await import(pathToFileURL(`${values.tree}/src/replica/replica.ts`).href)) as { Replica: new () => SessionReader & { apply(e: unknown): void } };
  const r = new OtherReplica();
  r.apply(snapshot);
  other = r;
}
records.length = 0;

// Ids as a caller has them: equal to the stored keys but separate string objects.
const copyOf = (s: string) => [...s].join("");
const hotIds = Array.from({ length: HOT }, (_, i) => copyOf(`session-${(i * 7919) % SESSIONS}`));
const hotSet = new Set(hotIds);
const freshIds: string[] = [];
for (let n = 1; freshIds.length < FIRST_TOUCHES && n < SESSIONS * 4; n++) {
  const id = `session-${(Math.imul(n, 0x9e3779b1) >>> 0) % SESSIONS}`;
  if (!hotSet.has(id) && !freshIds.includes(id)) freshIds.push(copyOf(id));
}
await fullGc();

// First touch first, while nothing but the hot set's absence is decoded.
const micros: number[] = [];
const firstTouchCpu0 = mainThreadCpuMs();
for (const id of freshIds) {
  const t0 = performance.now();
  const s = replica.getSession(id);
  const t1 = performance.now();
  if (s === undefined) throw new Error(`${id} missing`);
  micros.push((t1 - t0) * 1000);
}
// Where the slowest 1 % of first touches fall, per 1,000 calls in order (early: JIT; spread: GC).
const firstTouchP99 = percentile(micros, 99);
const slowByThousand = Array.from({ length: Math.ceil(micros.length / 1000) }, (_, k) => micros.slice(k * 1000, (k + 1) * 1000).filter((m) => m >= firstTouchP99).length);
const firstTouchCpuUs = ((mainThreadCpuMs() - firstTouchCpu0) * 1000) / freshIds.length;
await fullGc();

const pick = (i: number) => Math.imul(i, 0x9e3779b1) & (HOT - 1);
// One loop function per reader, so each is optimised for its own receiver.
const makeLoop = (reader: SessionReader) => (calls: number): number => {
  let found = 0;
  for (let i = 0; i < calls; i++) if (reader.getSession(hotIds[pick(i)] as string) !== undefined) found++;
  return found;
};
const readers = [{ name: "this", loop: makeLoop(replica) }, ...(other === undefined ? [] : [{ name: "other", loop: makeLoop(other) }])];
for (const { loop } of readers) {
  if (loop(HOT * 4) !== HOT * 4) throw new Error("a hot session is missing");
  loop(300_000);
}
await nextTurn();
const hotBy = new Map<string, { wall: number[]; cpu: number[] }>(readers.map((r) => [r.name, { wall: [], cpu: [] }]));
for (let r = 0; r < ROUNDS; r++) {
  for (const { name, loop } of r % 2 === 0 ? readers : [...readers].reverse()) {
    const cpu0 = mainThreadCpuMs();
    const start = process.hrtime.bigint();
    if (loop(CALLS) !== CALLS) throw new Error("a hot session went missing");
    hotBy.get(name)!.wall.push(Number(process.hrtime.bigint() - start) / CALLS);
    hotBy.get(name)!.cpu.push(((mainThreadCpuMs() - cpu0) * 1e6) / CALLS);
  }
}
const hot = hotBy.get("this")!.wall;
const hotCpu = hotBy.get("this")!.cpu;
const otherHot = hotBy.get("other");

process.stdout.write(
  `${JSON.stringify({
    sessions: SESSIONS,
    hotNsMedian: Number(median(hot).toFixed(1)),
    hotCpuNsMedian: Number(median(hotCpu).toFixed(1)),
    ...(otherHot === undefined ? {} : { otherHotNsMedian: Number(median(otherHot.wall).toFixed(1)), otherHotCpuNsMedian: Number(median(otherHot.cpu).toFixed(1)), hotNsPerRound: hot.map((n) => Number(n.toFixed(1))), otherHotNsPerRound: otherHot.wall.map((n) => Number(n.toFixed(1))) }),
    firstTouchCpuUsMean: Number(firstTouchCpuUs.toFixed(2)),
    firstTouchUs: {
      mean: Number((micros.reduce((a, b) => a + b, 0) / micros.length).toFixed(2)),
      p50: Number(percentile(micros, 50).toFixed(2)),
      p90: Number(percentile(micros, 90).toFixed(2)),
      p99: Number(firstTouchP99.toFixed(2)),
    },
    firstTouchSlowByThousand: slowByThousand,
    // The touches numbered 256, 512, ..., 8,192: where a table that doubles as first reads
    // come in would rehash (the front's key copies were a Map until that showed here).
    firstTouchAtDoublingsUs: micros.map((us, i) => [us, i] as const).filter(([, i]) => i >= 256 && (i & (i - 1)) === 0).map(([us]) => Number(us.toFixed(1))),
  })}\n`,
);
