/**
 * Child process for bench/transport-throughput.ts --server replay: an h2c server that answers
 * every call with the same pre-encoded SyncLatest response (N demo sessions, then the versions
 * message), written as fast as HTTP/2 flow control lets it. It does almost no work per record,
 * so the client's transport is the only thing measured. Prints "READY <url>"; exits on stdin EOF.
 *
 *   node --import tsx bench/sync-latest-replay-server.ts <sessions>
 */
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { SyncLatestResponseSchema, VersionsSchema } from "../gen/databroker/databroker_pb.js";
import { DemoRecords } from "../src/demo/demo-records.js";

const sessions = Number(process.argv[2]);
if (!(sessions > 0)) throw new Error("usage: sync-latest-replay-server.ts <sessions>");

function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

const demo = new DemoRecords({ seed: 1 });
const frames: Buffer[] = [];
for (let n = 0; n < sessions; n++) {
  const record = DemoRecords.record(demo.session(`session-${n}`, n % 1000));
  record.version = BigInt(n + 1);
  frames.push(frame(toBinary(SyncLatestResponseSchema, create(SyncLatestResponseSchema, { response: { case: "record", value: record } }))));
}
const versions = create(VersionsSchema, { serverVersion: 1n, latestRecordVersion: BigInt(sessions) });
frames.push(frame(toBinary(SyncLatestResponseSchema, create(SyncLatestResponseSchema, { response: { case: "versions", value: versions } }))));
const body = Buffer.concat(frames);

const server = http2.createServer();
server.on("stream", (stream) => {
  stream.on("error", () => undefined);
  stream.resume(); // the request body is ignored
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  stream.end(body);
});
server.on("session", (session) => session.on("error", () => undefined));
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
