/**
 * The gRPC call on our own HTTP/2 stream, fed the handler events a connection would give it: a
 * reader that falls behind leaves the rest as received octets (decoded only as it reads), every
 * message still reaches it in order after the stream has ended, and the stream's window is given
 * back only for what has been decoded into the queue.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ServerInfoResponseSchema } from "../../../gen/databroker/databroker_pb.js";
import type { FrameStream } from "../../../src/transport/http2-frames/frame-connection.js";
import { FrameGrpcCall } from "../../../src/transport/http2-frames/frame-grpc-call.js";

const READ_AHEAD = 4;

function framed(messages: number): Buffer {
  return Buffer.concat(
    Array.from({ length: messages }, (_, i) => {
      const bytes = toBinary(ServerInfoResponseSchema, create(ServerInfoResponseSchema, { serverVersion: BigInt(i + 1) }));
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(bytes.length, 1);
      return Buffer.concat([prefix, bytes]);
    }),
  );
}

function call(): { call: FrameGrpcCall<typeof ServerInfoResponseSchema>; decoded: () => number; credited: () => number } {
  let decoded = 0;
  let credited = 0;
  const c = new FrameGrpcCall(
    ServerInfoResponseSchema,
    (bytes) => {
      decoded++;
      return fromBinary(ServerInfoResponseSchema, bytes);
    },
    READ_AHEAD,
    () => undefined,
  );
  // Only what the call asks of its stream: window credits and a cancel.
  c.attach({ consumed: (n: number) => (credited += n), cancel: () => undefined } as unknown as FrameStream);
  return { call: c, decoded: () => decoded, credited: () => credited };
}

const OK_HEADERS: [string, string][] = [
  [":status", "200"],
  ["content-type", "application/grpc"],
];

describe("FrameGrpcCall", () => {
  it("decodes no further ahead than its queue holds, and hands out every message in order after the end", async () => {
    const { call: c, decoded, credited } = call();
    c.handler.onHeaders(OK_HEADERS, false);
    const data = framed(100);
    c.handler.onData(data, false);
    expect(decoded()).toBe(READ_AHEAD);
    c.handler.onHeaders([["grpc-status", "0"]], true);
    c.handler.onEnd({ kind: "ended" });
    expect(c.hasEnded).toBe(false); // 96 messages are still held for the reader
    const versions: bigint[] = [];
    for (let r = await c.next(); r.done !== true; r = await c.next()) versions.push(r.value.serverVersion);
    expect(versions).toEqual(Array.from({ length: 100 }, (_, i) => BigInt(i + 1)));
    expect(decoded()).toBe(100);
    // The DATA came while the queue had room: its window was given back at once.
    expect(credited()).toBe(data.length);
  });

  it("gives the stream's window back only for what it has decoded into the queue", async () => {
    const { call: c, credited } = call();
    c.handler.onHeaders(OK_HEADERS, false);
    const first = framed(READ_AHEAD);
    c.handler.onData(first, false);
    const second = framed(3);
    c.handler.onData(second, false);
    // The queue was full for all of the second chunk: none of it is given back yet.
    expect(credited()).toBe(first.length);
    await c.next();
    const one = framed(1).length; // each message of `framed` has the same size
    expect(credited()).toBe(first.length + one);
    await c.next();
    await c.next();
    expect(credited()).toBe(first.length + second.length);
  });

  it("ends with the trailers' error once the messages before it are read", async () => {
    const { call: c } = call();
    c.handler.onHeaders(OK_HEADERS, false);
    c.handler.onData(framed(10), false);
    c.handler.onHeaders(
      [
        ["grpc-status", String(Code.Aborted)],
        ["grpc-message", "gone"],
      ],
      true,
    );
    c.handler.onEnd({ kind: "ended" });
    let read = 0;
    const error = await (async () => {
      try {
        for (let r = await c.next(); r.done !== true; r = await c.next()) read++;
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(read).toBe(10);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Aborted);
  });

  it("builds its header and trailer objects from the fields as received, whether read before or after they came", async () => {
    const early = call().call;
    const earlyHeader = early.header; // read before anything came: filled in place later
    early.handler.onHeaders([...OK_HEADERS, ["x-h", "1"]], false);
    early.handler.onHeaders([["grpc-status", "0"], ["x-t", "2"]], true);
    early.handler.onEnd({ kind: "ended" });
    expect(early.header).toBe(earlyHeader);
    // Pseudo-headers are left out.
    expect([...earlyHeader.keys()].sort()).toEqual(["content-type", "x-h"]);
    expect([earlyHeader.get("x-h"), earlyHeader.get("content-type")]).toEqual(["1", "application/grpc"]);
    expect(early.trailer.get("x-t")).toBe("2");
    expect(await early.next()).toEqual({ done: true, value: undefined });

    const late = call().call;
    late.handler.onHeaders([...OK_HEADERS, ["x-h", "3"]], false);
    late.handler.onHeaders([["grpc-status", "0"], ["x-t", "4"]], true);
    late.handler.onEnd({ kind: "ended" });
    expect(await late.next()).toEqual({ done: true, value: undefined });
    expect([late.header.get("x-h"), late.trailer.get("x-t"), late.trailer.get("grpc-status")]).toEqual(["3", "4", "0"]);
  });

  it("reads a status the quick check does not take as OK through the full checks: two grpc-status fields, a non-zero one, compression", async () => {
    const twice = call().call;
    twice.handler.onHeaders(OK_HEADERS, false);
    twice.handler.onHeaders([["grpc-status", "0"], ["grpc-status", "0"]], true);
    twice.handler.onEnd({ kind: "ended" });
    // As a Headers object reads them: "0, 0", which is no status code.
    await expect(twice.next()).rejects.toBeInstanceOf(ConnectError);

    const failed = call().call;
    failed.handler.onHeaders(OK_HEADERS, false);
    failed.handler.onHeaders([["grpc-status", String(Code.NotFound)], ["grpc-message", "gone%20away"]], true);
    failed.handler.onEnd({ kind: "ended" });
    await expect(failed.next()).rejects.toMatchObject({ code: Code.NotFound, rawMessage: "gone away" });

    const compressed = call().call;
    compressed.handler.onHeaders([...OK_HEADERS, ["grpc-encoding", "gzip"]], false);
    await expect(compressed.headers).rejects.toMatchObject({ code: Code.Internal });

    // Two encodings read as one joined value, which is not identity.
    const twoEncodings = call().call;
    twoEncodings.handler.onHeaders([...OK_HEADERS, ["grpc-encoding", "identity"], ["grpc-encoding", "identity"]], false);
    await expect(twoEncodings.headers).rejects.toMatchObject({ code: Code.Internal });

    const notGrpc = call().call;
    notGrpc.handler.onHeaders([[":status", "200"], ["content-type", "text/html"]], false);
    await expect(notGrpc.headers).rejects.toMatchObject({ code: Code.Unknown });
  });
});
