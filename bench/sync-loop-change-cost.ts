/**
 * What one Sync change costs the stream reader, the sync loop and the replica together, with no
 * network and no server: a SyncLoop over a replica, its source an in-process generator that hands
 * out SyncLatest (`--sessions` sessions) and then one change per event-loop turn, each awaited
 * until the replica shows it (a new session, then its tombstone, and so on). Prints each round's
 * main-thread CPU and wall time per change; the first rounds include V8 compiling the path.
 * The transport's share of a change is measured with a real server by bench/change-intake-cpu.ts.
 *
 *   node --import tsx bench/sync-loop-change-cost.ts [--sessions 20000] [--rounds 8] [--changes 4000]
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { RecordSchema, SyncLatestResponseSchema, SyncResponseSchema, type Record as DatabrokerRecord, type SyncLatestResponse, type SyncResponse } from "../gen/databroker/databroker_pb.js";
import { DemoRecords } from "../src/demo/demo-records.js";
import { Replica } from "../src/replica/replica.js";
import { replicaTarget } from "../src/sync/replica-target.js";
import { SyncLoop } from "../src/sync/sync-loop.js";
import type { SyncStreamSource } from "../src/sync/sync-stream-source.js";
import { mainThreadCpuMs } from "./main-thread-cpu.js";

const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "20000" },
    rounds: { type: "string", default: "8" },
    changes: { type: "string", default: "4000" },
  },
});
const sessions = Number(values.sessions);
const changesPerRound = Number(values.changes);

const demo = new DemoRecords({ seed: 1 });
const seeded = Array.from({ length: sessions }, (_, i) => create(RecordSchema, { ...DemoRecords.record(demo.session(`s-${i}`, 0)), version: BigInt(i + 1) }));

/** The live stream's messages, handed to its reader as they are pushed. */
const queued: SyncResponse[] = [];
let wake: (() => void) | undefined;
function push(message: SyncResponse): void {
  queued.push(message);
  const resume = wake;
  wake = undefined;
  resume?.();
}
async function* liveStream(signal: AbortSignal): AsyncIterable<SyncResponse> {
  while (!signal.aborted) {
    const next = queued.shift();
    if (next !== undefined) yield next;
    else await new Promise<void>((resolve) => (wake = resolve));
  }
}
async function* snapshot(): AsyncIterable<SyncLatestResponse> {
  for (const record of seeded) yield create(SyncLatestResponseSchema, { response: { case: "record", value: record } });
  yield create(SyncLatestResponseSchema, { response: { case: "versions", value: { serverVersion: 7n, latestRecordVersion: BigInt(sessions) } } });
}
const source: SyncStreamSource = {
  url: "in-process",
  resets: 0,
  connect: async () => undefined,
  syncLatest: () => snapshot(),
  sync: (_request, signal) => liveStream(signal),
};

const replica = new Replica();
let applied: (() => void) | undefined;
replica.subscribe(() => applied?.());
const type = seeded[0]!.type;
const loop = new SyncLoop({ type, source: { current: () => source, reportConnectionFailure: () => undefined }, replica: replicaTarget(replica) });
const live = new Promise<void>((resolve) => {
  const subscription = loop.status$.subscribe((status) => {
    if (status.state !== "live") return;
    resolve();
    queueMicrotask(() => subscription.unsubscribe());
  });
});
loop.start();
await live;

const changed: DatabrokerRecord[] = Array.from({ length: 10_000 }, (_, i) => DemoRecords.record(demo.session(`c-${i}`, 0)));
let version = BigInt(sessions);
let next = 0;
for (let round = 1; round <= Number(values.rounds); round++) {
  const cpu0 = mainThreadCpuMs();
  const wall0 = performance.now();
  for (let i = 0; i < changesPerRound; i++) {
    // Even changes add a session, odd ones delete it again.
    const base = changed[(next >> 1) % changed.length]!;
    const record = create(RecordSchema, { type: base.type, id: base.id, data: base.data, version: ++version, ...(next % 2 === 1 ? { deletedAt: timestampNow() } : {}) });
    next++;
    const shown = new Promise<void>((resolve) => (applied = resolve));
    await new Promise<void>((resolve) => setImmediate(resolve)); // a turn of its own, as a socket read would be
    push(create(SyncResponseSchema, { response: { case: "record", value: record } }));
    await shown;
  }
  const cpuUs = ((mainThreadCpuMs() - cpu0) * 1000) / changesPerRound;
  const wallUs = ((performance.now() - wall0) * 1000) / changesPerRound;
  console.log(`round ${round}: ${cpuUs.toFixed(2)} us of main-thread CPU and ${wallUs.toFixed(2)} us of wall time per change`);
}
loop.close();
