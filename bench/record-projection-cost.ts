/**
 * What `projection: "lean"` costs per ingested record: leanProjection over demo sessions
 * (~1.9 KB), beside the copy every record already gets at ingest (`slice()` of its data) and
 * beside a decode + clear + re-encode (what the wire-level copy avoids); then the replica's whole
 * snapshot ingest of the same sessions without and with the projection hook. Steps alternate in
 * one process, several rounds; medians are printed.
 *
 *   npx tsx bench/record-projection-cost.ts [--sessions 2000] [--rounds 7]
 */
import { parseArgs } from "node:util";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { SessionSchema } from "../gen/session/session_pb.js";
import { DemoRecords } from "../src/demo/demo-records.js";
import { leanProjection, leanProjectionTransient } from "../src/records/record-projection.js";
import { SESSION_TYPE } from "../src/records/type-urls.js";
import { Replica } from "../src/replica/replica.js";
import type { RawRecord } from "../src/replica/replica-events.js";
import { median } from "./stats.js";

const { values } = parseArgs({ options: { sessions: { type: "string", default: "2000" }, rounds: { type: "string", default: "7" } } });
const count = Number(values.sessions);
const rounds = Number(values.rounds);

const demo = new DemoRecords({ seed: 1 });
const encoded = Array.from({ length: count }, (_, i) => toBinary(SessionSchema, demo.session(`session-${i}`, i % 1000)));
const meanBytes = encoded.reduce((n, b) => n + b.length, 0) / count;

function decodeClearEncode(bytes: Uint8Array): Uint8Array {
  const s = fromBinary(SessionSchema, bytes);
  if (s.idToken !== undefined) s.idToken.raw = "";
  if (s.oauthToken !== undefined) {
    s.oauthToken.accessToken = "";
    if (s.oauthToken.refreshToken !== "") s.oauthToken.refreshToken = "*";
  }
  return toBinary(SessionSchema, s);
}

const steps: Record<string, (b: Uint8Array) => Uint8Array> = {
  "leanProjection (new exact-size array)": (b) => leanProjection(SESSION_TYPE, b),
  "leanProjectionTransient (reused buffer, for a caller that copies)": (b) => leanProjectionTransient(SESSION_TYPE, b),
  "slice() copy (already paid per record at ingest)": (b) => b.slice(),
  "decode + clear + re-encode (protobuf-es)": decodeClearEncode,
};
const samples = new Map<string, number[]>(Object.keys(steps).map((k) => [k, []]));
let sink = 0;
for (let round = 0; round <= rounds; round++) {
  for (const [name, step] of Object.entries(steps)) {
    const repeat = name.startsWith("decode") ? 2 : 20;
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < repeat; k++) for (const b of encoded) sink += step(b).length;
    const ns = Number(process.hrtime.bigint() - t0) / (repeat * count);
    if (round > 0) samples.get(name)!.push(ns); // round 0 warms up
  }
}
const keptBytes = leanProjection(SESSION_TYPE, encoded[0]!).length;
process.stdout.write(`sessions: ${count}, mean ${meanBytes.toFixed(0)} B encoded; lean keeps ${keptBytes} B of the first (${encoded[0]!.length} B)\n`);
process.stdout.write(`| step | ns per session (median of ${rounds}) | sessions/s |\n|---|---:|---:|\n`);
for (const [name, xs] of samples) {
  const ns = median(xs);
  process.stdout.write(`| ${name} | ${ns.toFixed(0)} | ${Math.round(1e9 / ns).toLocaleString("en")} |\n`);
}

// The replica's snapshot ingest (malformed check, projection, slab copy, indexes), per record.
const raws: RawRecord[] = encoded.map((data, i) => ({
  type: SESSION_TYPE,
  id: `session-${i}`,
  version: BigInt(i + 1),
  modifiedAt: undefined,
  deletedAt: undefined,
  typeUrl: SESSION_TYPE,
  data,
}));
const ingestVariants: Record<string, ((typeUrl: string, data: Uint8Array) => Uint8Array) | undefined> = {
  "full (no projection)": undefined,
  "lean (leanProjectionTransient, what the cache passes the replica)": leanProjectionTransient,
  "lean (leanProjection, allocating)": leanProjection,
};
const ingest = new Map<string, number[]>(Object.keys(ingestVariants).map((k) => [k, []]));
for (let round = 0; round <= rounds; round++) {
  for (const [name, projectData] of Object.entries(ingestVariants)) {
    const replica = new Replica({ projectData });
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < 5; k++) {
      const builder = replica.beginSnapshot(SESSION_TYPE);
      for (let i = 0; i < raws.length; i += 500) builder.add(raws.slice(i, i + 500));
      builder.finish({ serverVersion: 1n, recordVersion: BigInt(raws.length) });
    }
    const ns = Number(process.hrtime.bigint() - t0) / (5 * raws.length);
    sink += replica.size(SESSION_TYPE);
    if (round > 0) ingest.get(name)!.push(ns);
  }
}
process.stdout.write(`\n| replica snapshot ingest | ns per session (median of ${rounds}) | sessions/s |\n|---|---:|---:|\n`);
for (const [name, xs] of ingest) {
  const ns = median(xs);
  process.stdout.write(`| ${name} | ${ns.toFixed(0)} | ${Math.round(1e9 / ns).toLocaleString("en")} |\n`);
}
if (sink === 0) process.stdout.write("\n");
