/**
 * What a getSession costs when the ids read are spread over the whole table, so most reads miss
 * the read front (record-front.ts) and go to the id map: N demo sessions on the replica alone,
 * every one decoded once (the decoded-message limit raised above N, so no read decodes), then
 * ROUNDS rounds of 1M reads of uniformly random ids, median ns per read.
 *
 *   node --expose-gc --import tsx bench/random-read-cost.ts [--sessions 100000] [--rounds 6] [--tree PATH]
 *
 * --tree PATH: another checkout (an export of an older commit with a node_modules link); its
 * Replica gets the same records and the rounds alternate between the two in this one process.
 * Prints one JSON line.
 */
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { setImmediate as nextTurn } from "node:timers/promises";
import { seededRandom } from "../src/demo/demo-records.js";
import { SESSION_TYPE } from "../src/records/type-urls.js";
import { Replica } from "../src/replica/replica.js";
import { demoSessionRecords } from "./demo-session-records.js";
import { fullGc, requireExposedGc } from "./full-gc.js";
import { median } from "./stats.js";

requireExposedGc();
const { values } = parseArgs({ options: { sessions: { type: "string", default: "100000" }, rounds: { type: "string", default: "6" }, tree: { type: "string" } } });
const SESSIONS = Number(values.sessions);
const ROUNDS = Number(values.rounds);
const CALLS = 1_000_000;

type SessionReader = { getSession(id: string, options?: { includeInvalid?: boolean }): unknown; apply(event: unknown): void };
const options = { decodedMessageLimit: SESSIONS * 2 };
const snapshot = { kind: "snapshot", type: SESSION_TYPE, serverVersion: 1n, recordVersion: BigInt(SESSIONS), records: demoSessionRecords(SESSIONS), options: new Map() } as const;
const readers: Array<{ name: string; replica: SessionReader }> = [{ name: "this", replica: new Replica(options) }];
if (values.tree !== undefined) {
  const other = (await import(pathToFileURL(`${values.tree}/src/replica/replica.ts`).href)) as { Replica: new (o: object) => SessionReader };
  readers.push({ name: "other", replica: new other.Replica(options) });
}
for (const { replica } of readers) replica.apply(snapshot);
(snapshot.records as unknown[]).length = 0;

// Random ids as a caller has them (separate flat strings), a pool large enough to miss the front.
const random = seededRandom(5);
const ids = Array.from({ length: 1 << 16 }, () => [...`session-${Math.floor(random() * SESSIONS)}`].join(""));
const makeLoop = (replica: SessionReader) => (calls: number): number => {
  let found = 0;
  for (let i = 0; i < calls; i++) if (replica.getSession(ids[Math.imul(i, 0x9e3779b1) >>> 16] as string, { includeInvalid: true }) !== undefined) found++;
  return found;
};
const loops = readers.map((r) => ({ name: r.name, loop: makeLoop(r.replica), ns: [] as number[] }));
// Every session decoded once, and the loops optimised.
for (const { replica } of readers) for (let i = 0; i < SESSIONS; i++) replica.getSession(`session-${i}`, { includeInvalid: true });
for (const { loop } of loops) loop(300_000);
await fullGc();
for (let r = 0; r < ROUNDS; r++) {
  for (const l of r % 2 === 0 ? loops : [...loops].reverse()) {
    const t0 = process.hrtime.bigint();
    if (l.loop(CALLS) !== CALLS) throw new Error("a session is missing");
    l.ns.push(Number(process.hrtime.bigint() - t0) / CALLS);
    await nextTurn();
  }
}
console.log(JSON.stringify({ sessions: SESSIONS, ...Object.fromEntries(loops.map((l) => [`${l.name}NsMedian`, median(l.ns)])), ...Object.fromEntries(loops.map((l) => [`${l.name}NsPerRound`, l.ns.map((n) => Math.round(n * 10) / 10)])) }));
