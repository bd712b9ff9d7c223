/**
 * What decoding a SyncLatestResponse envelope costs per message: protobuf-es fromBinary versus
 * the fast path (src/transport/sync-response-decoder.ts), over demo sessions (~1.9 KB) wrapped
 * as the server sends them (Record{version, type, id, data: Any, modified_at}) in Buffers, as
 * grpc-js delivers them. The two alternate in one process; round 0 warms up; medians printed.
 * The session bytes inside Any are not decoded by either (the cache keeps them as bytes).
 *
 *   npx tsx bench/envelope-decode-cost.ts [--sessions 20000] [--rounds 5]
 */
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { RecordSchema, SyncLatestResponseSchema, type SyncLatestResponse } from "../gen/databroker/databroker_pb.js";
import { SessionSchema } from "../gen/session/session_pb.js";
import { DemoRecords, SESSION_TYPE_URL } from "../src/demo/demo-records.js";
import { decodeSyncLatestResponse } from "../src/transport/sync-response-decoder.js";
import { median } from "./stats.js";

const { values } = parseArgs({ options: { sessions: { type: "string", default: "20000" }, rounds: { type: "string", default: "5" } } });
const count = Number(values.sessions);
const rounds = Number(values.rounds);

const demo = new DemoRecords({ seed: 1, nowMs: 1_900_000_000_000 });
const messages = Array.from({ length: count }, (_, i) => {
  const session = demo.session(`session-${i}`, i % 1000);
  const record = create(RecordSchema, {
    version: BigInt(1_000_000 + i),
    type: SESSION_TYPE_URL,
    id: session.id,
    data: { typeUrl: SESSION_TYPE_URL, value: toBinary(SessionSchema, session) },
    modifiedAt: { seconds: 1_900_000_000n + BigInt(i), nanos: 123_456_789 },
  });
  return Buffer.from(toBinary(SyncLatestResponseSchema, create(SyncLatestResponseSchema, { response: { case: "record", value: record } })));
});
const meanBytes = messages.reduce((n, b) => n + b.length, 0) / count;

const decoders: Record<string, (b: Uint8Array) => SyncLatestResponse> = {
  "fromBinary (protobuf-es)": (b) => fromBinary(SyncLatestResponseSchema, b),
  "decodeSyncLatestResponse (fast path)": decodeSyncLatestResponse,
};
const samples = new Map<string, number[]>(Object.keys(decoders).map((k) => [k, []]));
let sink = 0;
for (let round = 0; round <= rounds; round++) {
  for (const [name, decode] of Object.entries(decoders)) {
    const t0 = process.hrtime.bigint();
    for (const b of messages) {
      const m = decode(b);
      if (m.response.case === "record") sink += m.response.value.id.length;
    }
    const ns = Number(process.hrtime.bigint() - t0) / count;
    if (round > 0) samples.get(name)!.push(ns);
  }
}
process.stdout.write(`messages: ${count} SyncLatestResponse, mean ${meanBytes.toFixed(0)} B; ${rounds} rounds (+1 warm-up), alternating (sink ${sink})\n`);
process.stdout.write(`| decoder | ns per message (median) | rounds (ns) |\n|---|---:|---|\n`);
for (const [name, xs] of samples) {
  process.stdout.write(`| ${name} | ${median(xs).toFixed(0)} | ${xs.map((x) => x.toFixed(0)).join(", ")} |\n`);
}
const [slow, fast] = [...samples.values()].map(median) as [number, number];
process.stdout.write(`speed-up: ${(slow / fast).toFixed(1)}x\n`);
