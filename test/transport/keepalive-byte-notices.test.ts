/**
 * The node-http2 transport tells connect-node's session manager that response bytes arrived (its
 * keepalive pings only an idle connection), but at most once per connection per millisecond: each
 * notice re-arms the manager's ping timer, and a server may send each message in DATA frames of its
 * own. Against a raw node:http2 server that writes a burst of full-size DATA frames, with the real
 * session manager.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { Http2SessionManager } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SyncLatestResponseSchema } from "../../gen/databroker/databroker_pb.js";
import { createDataBrokerClient } from "../../src/transport/databroker-clients.js";
import { createHttp2GrpcTransport } from "../../src/transport/http2-grpc-transport.js";
import { startRawHttp2Server, type RawHttp2Server } from "../support/raw-http2-server.js";

/** Messages of ~16 KB, HTTP/2's default largest DATA frame: each write is at least one frame. */
const MESSAGES = 400;
const record = (n: number) => toBinary(SyncLatestResponseSchema, create(SyncLatestResponseSchema, { response: { case: "record", value: { type: "t", id: `r${n}`, version: 1n, data: { typeUrl: "x", value: new Uint8Array(16_000) } } } }));

function framed(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

let server: RawHttp2Server;
let url: string;

beforeAll(async () => {
  server = await startRawHttp2Server((stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    for (let n = 0; n < MESSAGES; n++) stream.write(framed(record(n)));
    stream.end();
  });
  url = server.url;
});

afterAll(() => server.close());

describe("response byte notices to the session manager", () => {
  it("come at most once per millisecond in which DATA frames arrived, and at least once", async () => {
    const manager = new Http2SessionManager(url);
    let notices = 0;
    const notify = manager.notifyResponseByteRead.bind(manager);
    manager.notifyResponseByteRead = (stream) => {
      notices++;
      notify(stream);
    };
    // The frames as they arrive, seen by a listener of our own on each response stream.
    let frames = 0;
    const milliseconds = new Set<number>();
    const request = manager.request.bind(manager);
    manager.request = async (...args: Parameters<Http2SessionManager["request"]>) => {
      const stream = await request(...args);
      stream.on("data", () => {
        frames++;
        milliseconds.add(Date.now());
      });
      return stream;
    };
    try {
      const transport = createHttp2GrpcTransport({ baseUrl: url, sessionManager: manager });
      let received = 0;
      for await (const m of createDataBrokerClient(transport).syncLatest({})) if (m.response.case === "record") received++;
      expect(received).toBe(MESSAGES);
      expect(frames, "DATA frames received").toBeGreaterThanOrEqual(MESSAGES);
      // Precondition: frames came in bursts (a notice per frame would exceed the bound below).
      expect(milliseconds.size, "milliseconds with frames").toBeLessThan(frames);
      expect(notices).toBeGreaterThanOrEqual(1);
      expect(notices, "notices to the session manager").toBeLessThanOrEqual(milliseconds.size);
    } finally {
      manager.abort();
    }
  });
});
