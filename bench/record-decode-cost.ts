/**
 * What decoding one record's data costs: protobuf-es fromBinary versus the compiled decoder
 * (src/records/record-data-decoder.ts), over demo sessions (~1.8 KB), each a view into one large
 * byte block as the replica holds them. Also the same decode followed by the deep freeze the
 * replica applies on a first read. The decoders alternate in one process; round 0 warms up;
 * medians of ns per session.
 *
 *   npx tsx bench/record-decode-cost.ts [--sessions 20000] [--rounds 5]
 *
 * Prints one JSON line.
 */
import { parseArgs } from "node:util";
import { fromBinary, toBinary, type Message } from "@bufbuild/protobuf";
import { SessionSchema } from "../gen/session/session_pb.js";
import { DemoRecords } from "../src/demo/demo-records.js";
import { deepFreezeMessage } from "../src/records/frozen-message.js";
import { decodeMessageData, fastDecodeMessageData } from "../src/records/record-data-decoder.js";
import { median } from "./stats.js";

const { values } = parseArgs({ options: { sessions: { type: "string", default: "20000" }, rounds: { type: "string", default: "5" } } });
const count = Number(values.sessions);
const rounds = Number(values.rounds);

const demo = new DemoRecords({ seed: 1, nowMs: 1_900_000_000_000 });
const encoded = Array.from({ length: count }, (_, i) => toBinary(SessionSchema, demo.session(`session-${i}`, i % 1000)));
const total = encoded.reduce((n, b) => n + b.length, 0);
const block = new Uint8Array(total);
const views: Uint8Array[] = [];
let at = 0;
for (const b of encoded) {
  block.set(b, at);
  views.push(block.subarray(at, at + b.length));
  at += b.length;
}
encoded.length = 0;
for (const v of views) {
  if (fastDecodeMessageData(SessionSchema, v) === undefined) throw new Error("a demo session took the fallback");
}

const decoders: Record<string, (b: Uint8Array) => Message> = {
  fromBinary: (b) => fromBinary(SessionSchema, b),
  compiled: (b) => decodeMessageData(SessionSchema, b),
  fromBinaryAndFreeze: (b) => deepFreezeMessage(SessionSchema, fromBinary(SessionSchema, b)),
  compiledAndFreeze: (b) => deepFreezeMessage(SessionSchema, decodeMessageData(SessionSchema, b)),
};
const samples = new Map<string, number[]>(Object.keys(decoders).map((k) => [k, []]));
let sink = 0;
for (let round = 0; round <= rounds; round++) {
  const order = round % 2 === 0 ? Object.entries(decoders) : Object.entries(decoders).reverse();
  for (const [name, decode] of order) {
    const t0 = process.hrtime.bigint();
    for (const b of views) sink += (decode(b) as unknown as { id: string }).id.length;
    const ns = Number(process.hrtime.bigint() - t0) / count;
    if (round > 0) samples.get(name)!.push(ns);
  }
}
const med = (name: string) => median(samples.get(name)!);
process.stdout.write(
  `${JSON.stringify({
    sessions: count,
    meanBytes: Math.round(total / count),
    rounds,
    nsPerSessionMedian: Object.fromEntries([...samples.keys()].map((k) => [k, Math.round(med(k))])),
    speedUp: Number((med("fromBinary") / med("compiled")).toFixed(2)),
    speedUpWithFreeze: Number((med("fromBinaryAndFreeze") / med("compiledAndFreeze")).toFixed(2)),
    nsPerRound: Object.fromEntries([...samples].map(([k, xs]) => [k, xs.map((x) => Math.round(x))])),
    sink,
  })}\n`,
);
