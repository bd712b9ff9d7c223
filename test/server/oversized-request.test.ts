/**
 * A request over the receive limit gets RESOURCE_EXHAUSTED, and the HTTP/2 connection it came on
 * keeps serving other calls, whatever the client: both SDK transports and a bare node:http2
 * client with Node's default settings. 12 MiB is past the 10 MB a Node client's session may
 * hold queued (maxSessionMemory), where an early answer used to poison the connection.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataBrokerService, PutRequestSchema, RecordSchema, SyncRequestSchema } from "../../gen/databroker/databroker_pb.js";
import { startInMemoryDatabroker, type RunningInMemoryDatabroker } from "../../src/server/index.js";
import { createDatabrokerTransport, DATABROKER_TRANSPORT_IMPLEMENTATIONS } from "../../src/transport/databroker-transport.js";
import { parseSharedSecret, signDatabrokerJwt } from "../../src/transport/shared-secret.js";
import { grpcEnvelope, RawGrpcConnection } from "../conformance/raw-grpc-call.js";
import { failure } from "./call-failure.js";

const MiB = 1024 * 1024;
const bigRecord = (bytes: number) => create(RecordSchema, { type: "t", id: "x".repeat(bytes) });

describe("oversized requests", () => {
  const sharedSecret = randomBytes(32).toString("base64");
  let server: RunningInMemoryDatabroker;

  beforeAll(async () => {
    server = await startInMemoryDatabroker({ sharedSecret });
  });
  afterAll(async () => {
    await server.close();
  });

  for (const implementation of DATABROKER_TRANSPORT_IMPLEMENTATIONS) {
    it(`${implementation}: a 12 MiB Put and a 12 MiB Sync get RESOURCE_EXHAUSTED, and the connection keeps serving`, async () => {
      const dt = createDatabrokerTransport(server.url, { sharedSecret, implementation });
      try {
        const db = createClient(DataBrokerService, dt.transport);
        await db.serverInfo({});
        const put = await failure(db.put({ records: [bigRecord(12 * MiB)] }));
        expect(put.code).toBe(Code.ResourceExhausted);
        expect(put.rawMessage).toMatch(/larger than/);
        expect(typeof (await db.serverInfo({})).serverVersion).toBe("bigint");
        const sync = await failure(db.sync({ serverVersion: server.serverVersion, type: "x".repeat(12 * MiB) }));
        expect(sync.code).toBe(Code.ResourceExhausted);
        expect(typeof (await db.serverInfo({})).serverVersion).toBe("bigint");
      } finally {
        await dt.close();
      }
    });
  }

  it("bare node:http2 with Node's defaults: oversized requests one after another on one connection, each answered, the connection still serving", async () => {
    const raw = new RawGrpcConnection(server.url);
    try {
      const jwt = await signDatabrokerJwt(parseSharedSecret(sharedSecret));
      const bodies = [
        ["Put", grpcEnvelope(toBinary(PutRequestSchema, create(PutRequestSchema, { records: [bigRecord(12 * MiB)] })))],
        ["Sync", grpcEnvelope(toBinary(SyncRequestSchema, create(SyncRequestSchema, { type: "x".repeat(5 * MiB) })))],
        ["Put", grpcEnvelope(toBinary(PutRequestSchema, create(PutRequestSchema, { records: [bigRecord(24 * MiB)] })))],
      ] as const;
      for (const [method, body] of bodies) {
        const answer = await raw.call(`/databroker.DataBrokerService/${method}`, { jwt }, body);
        expect([method, answer.grpcStatus, answer.rstCode]).toEqual([method, Code.ResourceExhausted, 0]);
        const next = await raw.call("/databroker.DataBrokerService/ServerInfo", { jwt });
        expect([next.grpcStatus, next.rstCode, next.messages.length]).toEqual([0, 0, 1]);
      }
      // A request for an unknown method is read to its end too before the answer.
      const unknown = await raw.call("/databroker.DataBrokerService/NoSuchMethod", { jwt }, grpcEnvelope(new Uint8Array(12 * MiB)));
      expect([unknown.grpcStatus, unknown.rstCode]).toEqual([Code.Unimplemented, 0]);
      expect((await raw.call("/databroker.DataBrokerService/ServerInfo", { jwt })).grpcStatus).toBe(0);
      expect(raw.sessionError).toBeUndefined();
    } finally {
      raw.close();
    }
  });
});
