/**
 * What deep-freezing a decoded session costs next to decoding it, measured in one process on the
 * same messages (rounds alternate, so both halves see the same machine load): the part of a
 * first-touch getSession that src/records/frozen-message.ts adds. Realistic ~1.8 KB sessions,
 * decoded as the replica decodes them (src/records/record-data-decoder.ts).
 *
 *   npx tsx bench/freeze-cost.ts [--sessions 20000] [--rounds 11] [--tree PATH]
 *
 * --tree PATH: the root of another checkout (e.g. an export of an older commit, with a
 * node_modules link): each round also freezes an equal set of fresh messages with that tree's
 * deepFreezeMessage, the two trees taking turns going first ("otherFreezeUs" in the output).
 *
 * Prints one JSON line: µs per session for the decode and for the freeze, median and minimum
 * over the rounds, in main-thread CPU time (Linux schedstat). On the bench machine that clock
 * advances in 4 ms scheduler ticks, so a round must take many ticks: 20,000 sessions make a
 * step of 0.2 µs per session (2,000 made it 2 µs).
 */
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { toBinary, type DescMessage, type Message } from "@bufbuild/protobuf";
import { SessionSchema } from "../gen/session/session_pb.js";
import { DemoRecords } from "../src/demo/demo-records.js";
import { deepFreezeMessage } from "../src/records/frozen-message.js";
import { decodeMessageData } from "../src/records/record-data-decoder.js";
import { mainThreadCpuMs } from "./main-thread-cpu.js";
import { median } from "./stats.js";

type Freeze = (schema: DescMessage, message: Message) => Message;

const { values } = parseArgs({ options: { sessions: { type: "string", default: "20000" }, rounds: { type: "string", default: "11" }, tree: { type: "string" } } });
const SESSIONS = Number(values.sessions);
const ROUNDS = Number(values.rounds);
let otherFreeze: Freeze | undefined;
if (values.tree !== undefined) {
  const other = (await import(pathToFileURL(`${values.tree}/src/records/frozen-message.ts`).href)) as { deepFreezeMessage: Freeze };
  otherFreeze = other.deepFreezeMessage;
}

const demo = new DemoRecords({ seed: 1, nowMs: Date.now() });
const encoded = Array.from({ length: SESSIONS }, (_, i) => toBinary(SessionSchema, demo.session(`session-${i}`, i)));
const decodeUs: number[] = [];
const freezeUs: number[] = [];
const otherFreezeUs: number[] = [];

/** µs of main-thread CPU per session to freeze a fresh decode of every session with `freeze`. */
function freezeRound(freeze: Freeze, record?: number[]): number {
  let t = mainThreadCpuMs();
  const messages = encoded.map((bytes) => decodeMessageData(SessionSchema, bytes));
  record?.push(((mainThreadCpuMs() - t) * 1000) / SESSIONS);
  t = mainThreadCpuMs();
  for (const message of messages) freeze(SessionSchema, message);
  return ((mainThreadCpuMs() - t) * 1000) / SESSIONS;
}

for (let r = 0; r < ROUNDS; r++) {
  if (otherFreeze !== undefined && r % 2 === 1) otherFreezeUs.push(freezeRound(otherFreeze));
  freezeUs.push(freezeRound(deepFreezeMessage, decodeUs));
  if (otherFreeze !== undefined && r % 2 === 0) otherFreezeUs.push(freezeRound(otherFreeze));
}
const round = (x: number) => Number(x.toFixed(2));
const figures = (xs: number[]) => ({ median: round(median(xs)), min: round(Math.min(...xs)) });
process.stdout.write(
  `${JSON.stringify({
    sessions: SESSIONS,
    rounds: ROUNDS,
    decodeUs: figures(decodeUs),
    freezeUs: figures(freezeUs),
    ...(otherFreeze === undefined ? {} : { otherTree: values.tree, otherFreezeUs: figures(otherFreezeUs) }),
  })}\n`,
);
