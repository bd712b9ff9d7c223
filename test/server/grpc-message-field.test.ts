/**
 * Status messages the server sends are bounded: a message built from request input (a 64 KiB
 * field-mask path echoed by Patch, a long method name, a handler's error) reaches the client
 * truncated with a marker, as the right status, on a connection that keeps serving.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack, FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataBrokerService, PatchRequestSchema, RecordSchema } from "../../gen/databroker/databroker_pb.js";
import { SessionSchema } from "../../gen/session/session_pb.js";
import { boundStatusMessage, encodeGrpcMessage, MAX_STATUS_MESSAGE_BYTES } from "../../src/server/grpc-message-field.js";
import { listenHttp2, type Http2Listener } from "../../src/server/http2-listener.js";
import { startInMemoryDatabroker, type RunningInMemoryDatabroker } from "../../src/server/index.js";
import { createDatabrokerTransport, DATABROKER_TRANSPORT_IMPLEMENTATIONS } from "../../src/transport/databroker-transport.js";
import { parseSharedSecret, signDatabrokerJwt } from "../../src/transport/shared-secret.js";
import { grpcEnvelope, RawGrpcConnection } from "../conformance/raw-grpc-call.js";
import { failure } from "./call-failure.js";

const SESSION_TYPE = "type.googleapis.com/session.Session";
const session = (id: string) => create(RecordSchema, { type: SESSION_TYPE, id, data: anyPack(SessionSchema, create(SessionSchema, { id })) });
const utf8Bytes = (text: string) => new TextEncoder().encode(text).length;
const LONG_PATH = "x".repeat(64 * 1024);
const PATCH_PREFIX = "storage.pebble: Patch failed: pebble: error patching record (type=type.googleapis.com/session.Session id=s1)";

function expectBounded(message: string | undefined, prefix: string): void {
  expect(message?.startsWith(prefix)).toBe(true);
  expect(message).toMatch(/\.\.\. \[truncated from \d+ bytes\]$/);
  expect(utf8Bytes(message ?? "")).toBeLessThanOrEqual(MAX_STATUS_MESSAGE_BYTES);
}

describe("boundStatusMessage", () => {
  it("leaves a message within the bound alone", () => {
    expect(boundStatusMessage("record not found")).toBe("record not found");
    const exact = "é".repeat(MAX_STATUS_MESSAGE_BYTES / 2);
    expect(boundStatusMessage(exact)).toBe(exact);
  });

  it("cuts a long message to the bound, says so and how long it was", () => {
    const out = boundStatusMessage("a".repeat(100_000));
    expect(out).toMatch(/^a+\.\.\. \[truncated from 100000 bytes\]$/);
    expect(utf8Bytes(out)).toBe(MAX_STATUS_MESSAGE_BYTES);
  });

  it("never splits a character: multi-byte and surrogate pairs stay whole at the cut", () => {
    for (let pad = 0; pad < 4; pad++) {
      const out = boundStatusMessage("a".repeat(pad) + "😀é".repeat(5_000));
      const kept = out.slice(0, out.indexOf("... [truncated"));
      expect(kept).toBe(kept.normalize());
      expect(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(kept)).toBe(false);
      expect(utf8Bytes(out)).toBeLessThanOrEqual(MAX_STATUS_MESSAGE_BYTES);
      expect(utf8Bytes(out)).toBeGreaterThan(MAX_STATUS_MESSAGE_BYTES - 4);
    }
  });
});

describe("encodeGrpcMessage", () => {
  it("percent-encodes as grpc-go does: printable ASCII but % as is, every other UTF-8 byte as %XX", () => {
    expect(encodeGrpcMessage("invalid JWT: a/b=c?")).toBe("invalid JWT: a/b=c?");
    expect(encodeGrpcMessage("100% done\n\u00e9\u{1F600}")).toBe("100%25 done%0A%C3%A9%F0%9F%98%80");
  });
});

describe("status messages over the wire", () => {
  const sharedSecret = randomBytes(32).toString("base64");
  let server: RunningInMemoryDatabroker;

  beforeAll(async () => {
    server = await startInMemoryDatabroker({ sharedSecret });
  });
  afterAll(async () => {
    await server.close();
  });

  for (const implementation of DATABROKER_TRANSPORT_IMPLEMENTATIONS) {
    it(`${implementation}: a Patch echoing a 64 KiB field-mask path answers UNKNOWN, truncated, and the connection keeps serving`, async () => {
      const dt = createDatabrokerTransport(server.url, { sharedSecret, implementation });
      try {
        const db = createClient(DataBrokerService, dt.transport);
        await db.put({ records: [session("s1")] });
        const error = await failure(db.patch({ records: [session("s1")], fieldMask: create(FieldMaskSchema, { paths: [LONG_PATH] }) }));
        expect(error.code).toBe(Code.Unknown);
        expectBounded(error.rawMessage, PATCH_PREFIX);
        expect((await db.get({ type: SESSION_TYPE, id: "s1" })).record?.id).toBe("s1");
      } finally {
        await dt.close();
      }
    });
  }

  it("bare node:http2: the same Patch, then other calls on the same HTTP/2 connection", async () => {
    const raw = new RawGrpcConnection(server.url);
    try {
      const jwt = await signDatabrokerJwt(parseSharedSecret(sharedSecret));
      const request = toBinary(PatchRequestSchema, create(PatchRequestSchema, { records: [session("s1")], fieldMask: { paths: [LONG_PATH] } }));
      const answer = await raw.call("/databroker.DataBrokerService/Patch", { jwt }, grpcEnvelope(request));
      expect(answer.grpcStatus).toBe(Code.Unknown);
      expectBounded(answer.grpcMessage, "storage.pebble: Patch failed");
      const next = await raw.call("/databroker.DataBrokerService/ServerInfo", { jwt });
      expect([next.grpcStatus, next.rstCode, next.messages.length]).toEqual([0, 0, 1]);
      expect(raw.sessionError).toBeUndefined();
    } finally {
      raw.close();
    }
  });

  it("an unknown method with a 32 KiB name answers UNIMPLEMENTED, truncated", async () => {
    const raw = new RawGrpcConnection(server.url);
    try {
      const answer = await raw.call(`/databroker.DataBrokerService/${"M".repeat(32 * 1024)}`, {});
      expect(answer.grpcStatus).toBe(Code.Unimplemented);
      expectBounded(answer.grpcMessage, "unknown method MMMM");
    } finally {
      raw.close();
    }
  });
});

describe("status messages of streams", () => {
  let listener: Http2Listener;
  const longError = `stream failed: ${"z".repeat(100_000)}`;

  beforeAll(async () => {
    // A real listener with a server-streaming method that fails after one message.
    listener = await listenHttp2({
      host: "127.0.0.1",
      port: 0,
      routes: (router) =>
        router.service(DataBrokerService, {
          async *syncLatest() {
            yield { response: { case: "record", value: session("first") } };
            throw new ConnectError(longError, Code.DataLoss);
          },
        }),
      interceptors: [],
      readMaxBytes: 4 * 1024 * 1024,
      knownServices: new Set([DataBrokerService.typeName]),
    });
  });
  afterAll(async () => {
    await listener.close();
  });

  for (const implementation of DATABROKER_TRANSPORT_IMPLEMENTATIONS) {
    it(`${implementation}: an error after a stream's first message arrives truncated, with its code`, async () => {
      const dt = createDatabrokerTransport(`http://127.0.0.1:${listener.port}`, { sharedSecret: randomBytes(32).toString("base64"), implementation });
      try {
        const db = createClient(DataBrokerService, dt.transport);
        const ids: string[] = [];
        const error = await failure(async () => {
          for await (const msg of db.syncLatest({})) if (msg.response.case === "record") ids.push(msg.response.value.id);
        });
        expect(ids).toEqual(["first"]);
        expect(error.code).toBe(Code.DataLoss);
        expectBounded(error.rawMessage, "stream failed: zzz");
      } finally {
        await dt.close();
      }
    });
  }
});
