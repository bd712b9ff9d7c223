/**
 * The node-http2 transport's reading of the gRPC wire format, against a raw node:http2 server
 * that writes exactly the bytes each case chooses: messages cut at arbitrary points across DATA
 * frames, empty messages, compressed messages, trailers-only answers, missing statuses, a body
 * that ends inside a message, HTTP errors, an unsupported encoding, and flow control (a reader
 * that stops reading stops the stream).
 *
 * The expected results come from the protocol (gRPC over HTTP/2: a 5-byte prefix, flags then a
 * big-endian length, per message; the status in the trailers or in the headers of a
 * trailers-only answer), not from the code under test.
 */
import { randomBytes } from "node:crypto";
import * as http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataBrokerService, SyncLatestResponseSchema, type SyncLatestResponse } from "../../gen/databroker/databroker_pb.js";
import { createDataBrokerClient } from "../../src/transport/databroker-clients.js";
import { createDatabrokerTransport, type DatabrokerTransport } from "../../src/transport/databroker-transport.js";
import { Http2GrpcCall } from "../../src/transport/http2-grpc-call.js";
import { grpcTimeoutHeader } from "../../src/transport/http2-grpc-transport.js";
import { startRawHttp2Server, type RawHttp2Server } from "../support/raw-http2-server.js";

const SECRET = randomBytes(32).toString("base64");

/** A message as the protocol frames it. */
function framed(bytes: Uint8Array, flags = 0): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out[0] = flags;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

function recordMessage(id: string): SyncLatestResponse {
  return create(SyncLatestResponseSchema, { response: { case: "record", value: { type: "t", id, version: 1n } } });
}

/** What the server does for one call, chosen by the test through the `x-case` header. */
type Script = (stream: http2.ServerHttp2Stream, session: http2.ServerHttp2Session, request: http2.IncomingHttpHeaders) => void | Promise<void>;

const scripts = new Map<string, Script>();
let nextCase = 0;
function script(s: Script): Record<string, string> {
  const id = String(nextCase++);
  scripts.set(id, s);
  return { "x-case": id };
}

const OK_TRAILERS = { "grpc-status": "0" };
const GRPC_HEADERS = { ":status": 200, "content-type": "application/grpc" };

let server: RawHttp2Server;
let url: string;
let transport: DatabrokerTransport;

beforeAll(async () => {
  server = await startRawHttp2Server((stream, headers) => {
    const run = scripts.get(String(headers["x-case"]));
    if (run === undefined) {
      stream.respond({ ...GRPC_HEADERS, "grpc-status": String(Code.Unimplemented) }, { endStream: true });
      return;
    }
    void run(stream, stream.session as http2.ServerHttp2Session, headers);
  });
  url = server.url;
  transport = createDatabrokerTransport(url, { sharedSecret: SECRET, implementation: "node-http2" });
});

afterAll(async () => {
  await transport.close();
  await server.close();
});

async function readIds(headers: Record<string, string>): Promise<{ ids: string[]; error: ConnectError | undefined }> {
  const ids: string[] = [];
  try {
    for await (const m of createDataBrokerClient(transport.transport).syncLatest({}, { headers })) {
      ids.push(m.response.case === "record" ? m.response.value.id : "(empty)");
    }
  } catch (e) {
    return { ids, error: ConnectError.from(e) };
  }
  return { ids, error: undefined };
}

function writeAll(stream: http2.ServerHttp2Stream, pieces: Buffer[]): Promise<void> {
  return pieces.reduce<Promise<void>>((done, piece) => done.then(() => new Promise<void>((resolve) => stream.write(piece, () => resolve()))), Promise.resolve());
}

describe("the node-http2 transport reads the gRPC wire format", () => {
  it("delivers every message, in order, however the body is cut into DATA frames (empty messages included)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.option(fc.string({ minLength: 0, maxLength: 300 }), { nil: undefined }), { minLength: 0, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        async (messages, cutSeeds) => {
          const body = Buffer.concat(messages.map((id) => framed(id === undefined ? new Uint8Array(0) : toBinary(SyncLatestResponseSchema, recordMessage(id)))));
          const cuts = [...new Set(cutSeeds.map((c) => (body.length === 0 ? 0 : c % body.length)))].filter((c) => c > 0).sort((a, b) => a - b);
          const pieces = [0, ...cuts].map((start, i) => body.subarray(start, cuts[i] ?? body.length));
          const result = await readIds(
            script(async (stream) => {
              stream.respond(GRPC_HEADERS, { waitForTrailers: true });
              stream.on("wantTrailers", () => stream.sendTrailers(OK_TRAILERS));
              await writeAll(stream, pieces);
              stream.end();
            }),
          );
          expect(result.error).toBeUndefined();
          // An empty message decodes to a SyncLatestResponse with no case set.
          expect(result.ids).toEqual(messages.map((id) => (id === undefined ? "(empty)" : id)));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("fails with Internal when a message is flagged compressed (no compression was offered)", async () => {
    const result = await readIds(
      script((stream) => {
        stream.respond(GRPC_HEADERS, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers(OK_TRAILERS));
        stream.end(Buffer.concat([framed(toBinary(SyncLatestResponseSchema, recordMessage("a"))), framed(new Uint8Array([1, 2, 3]), 1)]));
      }),
    );
    expect(result.ids).toEqual(["a"]);
    expect(result.error?.code).toBe(Code.Internal);
    expect(result.error?.rawMessage).toMatch(/compressed/);
  });

  it("fails with Internal when the body ends inside a message, even with an OK status", async () => {
    const whole = framed(toBinary(SyncLatestResponseSchema, recordMessage("cut")));
    const result = await readIds(
      script((stream) => {
        stream.respond(GRPC_HEADERS, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers(OK_TRAILERS));
        stream.end(whole.subarray(0, whole.length - 1));
      }),
    );
    expect(result.ids).toEqual([]);
    expect(result.error?.code).toBe(Code.Internal);
  });

  it("fails with Internal when the trailers carry no grpc-status", async () => {
    const result = await readIds(
      script((stream) => {
        stream.respond(GRPC_HEADERS, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "x-other": "1" }));
        stream.end(framed(toBinary(SyncLatestResponseSchema, recordMessage("a"))));
      }),
    );
    expect(result.ids).toEqual(["a"]);
    expect(result.error).toMatchObject({ code: Code.Internal, rawMessage: "protocol error: missing status" });
  });

  it("reads a trailers-only error answer: the code, the percent-decoded message and the metadata", async () => {
    const result = await readIds(
      script((stream) => {
        stream.respond({ ...GRPC_HEADERS, "grpc-status": String(Code.PermissionDenied), "grpc-message": "no%20access%20%E2%9C%93", "x-why": "policy" }, { endStream: true });
      }),
    );
    expect(result.error).toMatchObject({ code: Code.PermissionDenied, rawMessage: "no access ✓" });
    expect(result.error?.metadata.get("x-why")).toBe("policy");
  });

  it("a unary call answered trailers-only with OK fails: a unary call needs exactly one message", async () => {
    const error = await createDataBrokerClient(transport.transport)
      .serverInfo({}, { headers: script((stream) => stream.respond({ ...GRPC_HEADERS, "grpc-status": "0" }, { endStream: true })) })
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    expect(error).toMatchObject({ code: Code.Unimplemented, rawMessage: "protocol error: missing output message for unary method" });
  });

  it("maps an HTTP error status as gRPC does, and refuses a content type or encoding it did not ask for", async () => {
    for (const [status, code] of [
      [503, Code.Unavailable],
      [401, Code.Unauthenticated],
      [404, Code.Unimplemented],
      [500, Code.Unknown],
    ] as const) {
      const answer = await readIds(script((stream) => stream.respond({ ":status": status }, { endStream: true })));
      expect(answer.error, `HTTP ${status}`).toMatchObject({ code, rawMessage: `HTTP ${status}` });
    }
    const json = await readIds(script((stream) => stream.respond({ ":status": 200, "content-type": "application/grpc+json", "grpc-status": "0" }, { endStream: true })));
    expect(json.error?.code).toBe(Code.Unknown);
    const withCharset = await readIds(script((stream) => stream.respond({ ":status": 200, "content-type": "application/grpc+proto; charset=binary", "grpc-status": "0" }, { endStream: true })));
    expect(withCharset.error).toBeUndefined();
    const gzip = await readIds(
      script((stream) => {
        stream.respond({ ...GRPC_HEADERS, "grpc-encoding": "gzip" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers(OK_TRAILERS));
        stream.end(framed(new Uint8Array([0x1f, 0x8b]), 1));
      }),
    );
    expect(gzip.error?.code).toBe(Code.Internal);
    expect(gzip.error?.rawMessage).toMatch(/encoding "gzip"/);
  });

  it("sends the call's timeout as grpc-timeout, in whole units of at most 8 digits, and none without one", async () => {
    const seen: unknown[] = [];
    const headers = script((stream, _session, request) => {
      seen.push(request["grpc-timeout"]);
      stream.respond({ ...GRPC_HEADERS, "grpc-status": String(Code.NotFound) }, { endStream: true });
    });
    const client = createDataBrokerClient(transport.transport);
    await expect(client.serverInfo({}, { headers })).rejects.toMatchObject({ code: Code.NotFound });
    await expect(client.serverInfo({}, { headers, timeoutMs: 1500 })).rejects.toMatchObject({ code: Code.NotFound });
    expect(seen).toEqual([undefined, "1500m"]);
    expect(grpcTimeoutHeader(0.2)).toBe("1m");
    expect(grpcTimeoutHeader(99_999_999)).toBe("99999999m");
    expect(grpcTimeoutHeader(100_000_000)).toBe("100000S");
    expect(grpcTimeoutHeader(2 ** 31 - 1)).toBe("2147484S");
    expect(grpcTimeoutHeader(1e15)).toBe("99999999H");
  });
});

describe("Http2GrpcCall flow control", () => {
  it("stops reading once its queue is full: DATA that arrives meanwhile is not decoded until the reader takes a message", async () => {
    const first = Array.from({ length: 10 }, (_, i) => framed(toBinary(SyncLatestResponseSchema, recordMessage(`a${i}`))));
    const second = Array.from({ length: 10 }, (_, i) => framed(toBinary(SyncLatestResponseSchema, recordMessage(`b${i}`))));
    let secondDelivered!: () => void;
    const secondArrived = new Promise<void>((resolve) => (secondDelivered = resolve));
    const headers = script(async (stream, session) => {
      stream.respond(GRPC_HEADERS, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers(OK_TRAILERS));
      await writeAll(stream, [Buffer.concat(first)]);
      await writeAll(stream, [Buffer.concat(second)]);
      // The client processes frames in order: once it acknowledges a PING sent after the second
      // DATA frame, that frame has reached its stream.
      await new Promise<void>((resolve) => session.ping(() => resolve()));
      secondDelivered();
      stream.end();
    });
    const client = http2.connect(url);
    try {
      let decoded = 0;
      let firstDecoded!: () => void;
      const firstDone = new Promise<void>((resolve) => (firstDecoded = resolve));
      const decode = (bytes: Uint8Array) => {
        decoded += 1;
        if (decoded === 10) firstDecoded();
        return fromBinary(SyncLatestResponseSchema, bytes);
      };
      const call = new Http2GrpcCall(DataBrokerService.method.syncLatest.output, decode, 2, () => undefined, () => undefined);
      const stream = client.request({ ":method": "POST", ":path": "/databroker.DataBrokerService/SyncLatest", "content-type": "application/grpc", te: "trailers", ...headers });
      call.attach(stream);
      stream.end(framed(new Uint8Array(0)));
      await call.headers;
      await firstDone;
      await secondArrived;
      expect(decoded, "messages decoded while the reader took none (one DATA frame's worth)").toBe(10);
      const ids: string[] = [];
      for (let r = await call.next(); r.done !== true; r = await call.next()) ids.push(r.value.response.case === "record" ? r.value.response.value.id : "?");
      expect(ids).toEqual([...first.map((_, i) => `a${i}`), ...second.map((_, i) => `b${i}`)]);
      expect(decoded).toBe(20);
    } finally {
      await new Promise<void>((resolve) => client.close(() => resolve()));
    }
  });
});
