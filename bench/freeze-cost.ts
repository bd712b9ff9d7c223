/**
 * What deep-freezing a decoded session costs next to decoding it, measured in one process on the
 * same messages (rounds alternate, so both halves see the same machine load): the part of a
 * first-touch getSession that src/records/frozen-message.ts adds. Realistic ~1.8 KB sessions.
 *
 *   npx tsx bench/freeze-cost.ts [--sessions 2000] [--rounds 21]
 *
 * Prints one JSON line: µs per session for the decode (protobuf-es fromBinary) and for the
 * freeze, median and minimum over the rounds, in main-thread CPU time (Linux schedstat).
 */
import { parseArgs } from "node:util";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { SessionSchema } from "../gen/session/session_pb.js";
import { DemoRecords } from "../src/demo/demo-records.js";
import { deepFreezeMessage } from "../src/records/frozen-message.js";
import { mainThreadCpuMs } from "./main-thread-cpu.js";
import { median } from "./stats.js";

const { values } = parseArgs({ options: { sessions: { type: "string", default: "2000" }, rounds: { type: "string", default: "21" } } });
const SESSIONS = Number(values.sessions);
const ROUNDS = Number(values.rounds);

const demo = new DemoRecords({ seed: 1, nowMs: Date.now() });
const encoded = Array.from({ length: SESSIONS }, (_, i) => toBinary(SessionSchema, demo.session(`session-${i}`, i)));
const decodeUs: number[] = [];
const freezeUs: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  let t = mainThreadCpuMs();
  const messages = encoded.map((bytes) => fromBinary(SessionSchema, bytes));
  decodeUs.push(((mainThreadCpuMs() - t) * 1000) / SESSIONS);
  t = mainThreadCpuMs();
  for (const message of messages) deepFreezeMessage(SessionSchema, message);
  freezeUs.push(((mainThreadCpuMs() - t) * 1000) / SESSIONS);
}
const round = (x: number) => Number(x.toFixed(2));
process.stdout.write(
  `${JSON.stringify({
    sessions: SESSIONS,
    rounds: ROUNDS,
    decodeUs: { median: round(median(decodeUs)), min: round(Math.min(...decodeUs)) },
    freezeUs: { median: round(median(freezeUs)), min: round(Math.min(...freezeUs)) },
  })}\n`,
);
