/**
 * Both DatabrokerTransport implementations ("connect-node" and "grpc-js") against one real
 * server: the same errors (code, message, metadata, details), headers and trailers, abort,
 * timeout, resets classified as connection failures, close() with a stream open, and
 * resetConnection(). What one does, the other must do too. Also openServerStream, the sync
 * loop's way to open its streams, against the generated client's streaming method.
 */
import { randomBytes } from "node:crypto";
import { getEventListeners } from "node:events";
import { StringValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { DataBrokerService, type SyncLatestResponse } from "../../gen/databroker/databroker_pb.js";
import { isConnectionFailure } from "../../src/transport/connection-errors.js";
import {
  CLOSE_STREAMS_TIMEOUT_MS,
  DATABROKER_TRANSPORT_IMPLEMENTATIONS,
  createDatabrokerTransport,
  type DatabrokerTransport,
  type DatabrokerTransportImplementation,
} from "../../src/transport/databroker-transport.js";
import { streamErrorEvent } from "../../src/sync/stream-error-events.js";
import { openServerStream } from "../../src/transport/server-stream.js";
import { until } from "../support/wait-until.js";
import {
  DROP_CONNECTION,
  FAIL_CODE,
  HANG,
  RECORDS,
  RESET_STREAM,
  WITH_DETAIL,
  startBehaviourServer,
  type BehaviourServer,
} from "./transport-behaviour-server.js";

const SECRET = randomBytes(32).toString("base64");
let server: BehaviourServer;
const transports: DatabrokerTransport[] = [];
beforeAll(async () => {
  server = await startBehaviourServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  // A test that failed with Date frozen must not leave it frozen for the next one (or for close()).
  vi.useRealTimers();
  await Promise.all(transports.splice(0).map((t) => t.close()));
});

async function failureOf(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(ConnectError);
    return e as ConnectError;
  }
  throw new Error("expected the call to fail, it succeeded");
}

async function drain(iterable: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of iterable) n += 1;
  return n;
}

/** Rejects after `ms` of real time: turns a hang into a failure naming what never happened. */
function hangGuard(ms: number, what: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} (${ms} ms)`)), ms).unref());
}

const ALL_ERROR_CODES = Object.values(Code).filter((c): c is Code => typeof c === "number");

describe.each(DATABROKER_TRANSPORT_IMPLEMENTATIONS)("transport behaviour (%s)", (implementation: DatabrokerTransportImplementation) => {
  function open(now?: () => number): { transport: DatabrokerTransport; client: Client<typeof DataBrokerService> } {
    const transport = createDatabrokerTransport(server.url, { sharedSecret: SECRET, implementation, ...(now ? { now } : {}) });
    transports.push(transport);
    return { transport, client: createClient(DataBrokerService, transport.transport) };
  }

  it.each(ALL_ERROR_CODES)("maps a unary error with code %i to the same ConnectError code, message and metadata", async (code) => {
    const { client } = open();
    const error = await failureOf(client.serverInfo({}, { headers: { [FAIL_CODE]: String(code) } }));
    expect(error.code).toBe(code);
    expect(error.rawMessage).toBe(`failed with ${Code[code]} ü%`);
    expect(error.metadata.get("x-error-meta")).toBe("m1");
  });

  it("decodes error details sent as grpc-status-details-bin", async () => {
    const { client } = open();
    const error = await failureOf(client.serverInfo({}, { headers: { [FAIL_CODE]: String(Code.FailedPrecondition), [WITH_DETAIL]: "1" } }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.findDetails(StringValueSchema).map((d) => d.value)).toEqual(["the detail"]);
  });

  it("maps an error at the end of a stream after its messages, with the trailer metadata", async () => {
    const { client } = open();
    const received: unknown[] = [];
    const error = await failureOf(
      (async () => {
        for await (const m of client.syncLatest({}, { headers: { [RECORDS]: "3", [FAIL_CODE]: String(Code.Aborted) } })) received.push(m);
      })(),
    );
    expect(received).toHaveLength(3);
    expect(error.code).toBe(Code.Aborted);
    expect(error.rawMessage).toBe("stream failed with Aborted");
    expect(error.metadata.get("x-error-meta")).toBe("m1");
    expect(streamErrorEvent(error).type).toBe("aborted");
  });

  it("exposes response headers and trailers of unary calls and streams", async () => {
    const { client } = open();
    const seen: Array<[string, string | null]> = [];
    await client.serverInfo({}, { onHeader: (h) => seen.push(["h", h.get("x-response-header")]), onTrailer: (t) => seen.push(["t", t.get("x-response-trailer")]) });
    await drain(client.syncLatest({}, { headers: { [RECORDS]: "2" }, onHeader: (h) => seen.push(["h", h.get("x-response-header")]), onTrailer: (t) => seen.push(["t", t.get("x-response-trailer")]) }));
    expect(seen).toEqual([["h", "h1"], ["t", "t1"], ["h", "h1"], ["t", "t1"]]);
  });

  it("delivers a long stream complete and in order", async () => {
    const { client } = open();
    const ids: string[] = [];
    for await (const m of client.syncLatest({}, { headers: { [RECORDS]: "3000" } })) {
      if (m.response.case === "record") ids.push(m.response.value.id);
    }
    expect(ids).toHaveLength(3000);
    expect(ids.every((id, i) => id === `r-${i}`)).toBe(true);
  });

  it("signs each stream's token when the stream starts: a stream a second later carries a new token", async () => {
    let nowMs = Date.now();
    const { client } = open(() => nowMs);
    const before = server.tokens.length;
    await drain(client.syncLatest({}));
    nowMs += 1000; // the token's only claim is exp, in whole seconds
    await drain(client.syncLatest({}));
    const tokens = server.tokens.slice(before);
    expect(tokens).toHaveLength(2);
    expect(tokens[0]).not.toBe(tokens[1]);
  });

  it("cancels a stream when its signal aborts: the reader sees Canceled and the server's handler is cancelled", async () => {
    const { client } = open();
    const controller = new AbortController();
    const cancelledBefore = server.cancelledHandlers;
    const it = client.syncLatest({}, { signal: controller.signal, headers: { [RECORDS]: "1", [HANG]: "1" } })[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    const pending = it.next();
    controller.abort();
    const error = await failureOf(pending);
    expect(error.code).toBe(Code.Canceled);
    await until(() => server.cancelledHandlers > cancelledBefore, "the server handler to see the cancellation", 3000);
  });

  it("fails a call past its timeout with DeadlineExceeded, and the server's handler is cancelled", async () => {
    const { client } = open();
    const cancelledBefore = server.cancelledHandlers;
    // The handler hangs until it is cancelled: only the deadline can end this call.
    const error = await failureOf(client.serverInfo({}, { timeoutMs: 150, headers: { [HANG]: "1" } }));
    expect(error.code).toBe(Code.DeadlineExceeded);
    await until(() => server.cancelledHandlers > cancelledBefore, "the server handler to see the deadline", 5000);
  });

  it("cancels a unary call when its signal aborts: the caller sees Canceled and the server's handler is cancelled", async () => {
    const { client } = open();
    const controller = new AbortController();
    const cancelledBefore = server.cancelledHandlers;
    const hangingBefore = server.hangingHandlers;
    const pending = failureOf(client.serverInfo({}, { signal: controller.signal, headers: { [HANG]: "1" } }));
    await until(() => server.hangingHandlers > hangingBefore, "the server handler to start", 3000);
    controller.abort();
    expect((await pending).code).toBe(Code.Canceled);
    await until(() => server.cancelledHandlers > cancelledBefore, "the server handler to see the cancellation", 3000);
    // A signal that is aborted already fails the call before anything is sent.
    expect((await failureOf(client.serverInfo({}, { signal: controller.signal }))).code).toBe(Code.Canceled);
  });

  it("a unary call's signal, as interceptors see it, ends with the call; the caller's signal keeps no listener", async () => {
    const seen: AbortSignal[] = [];
    const transport = createDatabrokerTransport(server.url, {
      sharedSecret: SECRET,
      implementation,
      interceptors: [
        (next) => async (req) => {
          seen.push(req.signal);
          return next(req);
        },
      ],
    });
    transports.push(transport);
    const client = createClient(DataBrokerService, transport.transport);
    const callerSignal = new AbortController().signal;
    for (let i = 0; i < 5; i++) await client.serverInfo({}, { signal: callerSignal });
    await failureOf(client.serverInfo({}, { signal: callerSignal, headers: { [FAIL_CODE]: String(Code.NotFound) } }));
    await client.serverInfo({}, { signal: callerSignal, timeoutMs: 60_000 });
    expect(seen).toHaveLength(7);
    expect(seen.every((s) => s.aborted), "every call's signal aborted once the call ended").toBe(true);
    expect((seen[5]?.reason as ConnectError).code, "a failed call's signal carries its error").toBe(Code.NotFound);
    expect(getEventListeners(callerSignal, "abort"), "listeners left on the caller's signal").toHaveLength(0);
  });

  it("reports a stream the server resets (RST_STREAM CANCEL) as a connection failure", async () => {
    const { client } = open();
    const error = await failureOf(drain(client.syncLatest({}, { headers: { [RESET_STREAM]: "1" } })));
    expect(isConnectionFailure(error)).toBe(true);
    expect(streamErrorEvent(error)).toMatchObject({ type: "error", connectionFailure: true });
  });

  it("reports a connection dropped mid-stream as a connection failure", async () => {
    const { client } = open();
    const error = await failureOf(drain(client.syncLatest({}, { headers: { [DROP_CONNECTION]: "1" } })));
    expect(isConnectionFailure(error)).toBe(true);
    expect(streamErrorEvent(error)).toMatchObject({ type: "error", connectionFailure: true });
  });

  // close() waits for open streams until Date.now() passes a deadline CLOSE_STREAMS_TIMEOUT_MS
  // ahead. The next two tests freeze Date (only Date: timers and sockets run for real), so that
  // deadline passes exactly when a test moves the clock: which of the two ended the wait, the
  // streams or the timeout, shows in the clock's reading when close() resolves, not in how long
  // it took.
  it("close() with a stream open: refuses new calls at once, waits for the stream until its timeout, then ends it and drops the connection", async () => {
    const { transport, client } = open();
    const it = client.syncLatest({}, { headers: { [RECORDS]: "1", [HANG]: "1" } })[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    const sessionsOpen = server.openSessions();
    const pending = failureOf(it.next());
    let closedAt: number;
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const start = Date.now();
      const closing = transport.close().then(() => Date.now());
      await expect(client.serverInfo({})).rejects.toMatchObject({ code: Code.Canceled });
      vi.setSystemTime(start + CLOSE_STREAMS_TIMEOUT_MS);
      closedAt = (await closing) - start;
    } finally {
      vi.useRealTimers();
    }
    expect(closedAt, "ms on the frozen clock when close() resolved (the stream never ended by itself)").toBe(CLOSE_STREAMS_TIMEOUT_MS);
    const error = await pending;
    expect([Code.Canceled, Code.Unavailable, Code.Aborted]).toContain(error.code);
    await until(() => server.openSessions() < sessionsOpen, "the connection to close", 3000);
  });

  it("close() resolves once the caller has cancelled its open stream, before the close timeout", async () => {
    const { transport, client } = open();
    const controller = new AbortController();
    const it = client.syncLatest({}, { signal: controller.signal, headers: { [RECORDS]: "1", [HANG]: "1" } })[Symbol.asyncIterator]();
    await it.next();
    const ended: string[] = [];
    const pending = it.next().then(
      () => ended.push("stream"),
      () => ended.push("stream"),
    );
    let closedAt: number;
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const start = Date.now();
      const closing = transport.close().then(() => {
        ended.push("close");
        return Date.now();
      });
      controller.abort();
      // The clock stays put: close() cannot reach its deadline, only the stream's end can let it
      // resolve. Were it waiting for the timeout it would never resolve: the guard (real time,
      // far past any scheduling delay) turns that hang into a failure that says so.
      closedAt = (await Promise.race([closing, hangGuard(10_000, "close() still waiting after its only stream was cancelled")])) - start;
      await pending;
    } finally {
      vi.useRealTimers();
    }
    expect(closedAt, "ms on the frozen clock when close() resolved").toBe(0);
    expect(ended, "what finished first").toEqual(["stream", "close"]);
  });

  it("resetConnection() drops the connection: the open stream ends with Canceled (not a failure of its own) and the next call reconnects", async () => {
    const { transport, client } = open();
    await transport.connect();
    const it = client.syncLatest({}, { headers: { [RECORDS]: "1", [HANG]: "1" } })[Symbol.asyncIterator]();
    await it.next();
    const pending = it.next();
    transport.resetConnection();
    const error = await failureOf(pending);
    // connect-node's wording: the other streams of a connection some caller reported as failed
    // must not each report it again (with one URL that would reset the next connection too).
    expect(error.code).toBe(Code.Canceled);
    expect(error.rawMessage).toBe("connection aborted");
    expect(isConnectionFailure(error)).toBe(false);
    const info = await client.serverInfo({});
    expect(info.serverVersion).toBe(7n);
  });
});

/** The ids of the records read, and how the stream ended (undefined: cleanly). */
async function readAllRecords(iterable: AsyncIterable<SyncLatestResponse>): Promise<{ ids: string[]; error: ConnectError | undefined }> {
  const ids: string[] = [];
  try {
    for await (const m of iterable) if (m.response.case === "record") ids.push(m.response.value.id);
  } catch (e) {
    expect(e).toBeInstanceOf(ConnectError);
    return { ids, error: e as ConnectError };
  }
  return { ids, error: undefined };
}

// openServerStream (the sync loop's way to open its streams) replaces the generated client's
// streaming method for the loop: the same messages, errors, trailers' metadata and cancellation.
describe.each(DATABROKER_TRANSPORT_IMPLEMENTATIONS)("openServerStream (%s)", (implementation: DatabrokerTransportImplementation) => {
  function open(): DatabrokerTransport {
    const transport = createDatabrokerTransport(server.url, { sharedSecret: SECRET, implementation });
    transports.push(transport);
    return transport;
  }

  it("reads what the generated client reads: every message, in order, with the request's headers applied", async () => {
    const transport = open();
    const client = createClient(DataBrokerService, transport.transport);
    const headers = { [RECORDS]: "2500" };
    const direct = await readAllRecords(openServerStream(transport.transport, DataBrokerService.method.syncLatest, {}, { signal: new AbortController().signal, headers }));
    const viaClient = await readAllRecords(client.syncLatest({}, { headers }));
    expect(direct.error).toBeUndefined();
    expect(direct.ids).toHaveLength(2500);
    expect(direct.ids).toEqual(viaClient.ids);
    expect(direct.ids.every((id, i) => id === `r-${i}`)).toBe(true);
  });

  it("fails as the client does: after the messages, and before any, with the server's code, message and trailer metadata", async () => {
    const transport = open();
    const client = createClient(DataBrokerService, transport.transport);
    for (const records of ["3", "0"]) {
      const headers = { [RECORDS]: records, [FAIL_CODE]: String(Code.Aborted) };
      const direct = await readAllRecords(openServerStream(transport.transport, DataBrokerService.method.syncLatest, {}, { signal: new AbortController().signal, headers }));
      const viaClient = await readAllRecords(client.syncLatest({}, { headers }));
      expect(direct.ids).toHaveLength(Number(records));
      expect(direct.ids).toEqual(viaClient.ids);
      expect(direct.error?.code).toBe(Code.Aborted);
      expect(direct.error?.rawMessage).toBe(viaClient.error?.rawMessage);
      expect(direct.error?.metadata.get("x-error-meta")).toBe("m1");
    }
  });

  it("a call that cannot start (nothing listens) fails the first read with the client's error", async () => {
    // Port 1 on loopback: nothing listens there, the connection is refused.
    const refused = createDatabrokerTransport("http://127.0.0.1:1", { sharedSecret: SECRET, implementation });
    transports.push(refused);
    const direct = await readAllRecords(openServerStream(refused.transport, DataBrokerService.method.syncLatest, {}, { signal: new AbortController().signal }));
    const viaClient = await readAllRecords(createClient(DataBrokerService, refused.transport).syncLatest({}));
    expect(direct.ids).toEqual([]);
    expect(direct.error?.code).toBe(Code.Unavailable);
    expect(direct.error?.code).toBe(viaClient.error?.code);
  });

  it("cancels the call when the signal aborts: the reader sees Canceled and the server's handler is cancelled", async () => {
    const transport = open();
    const controller = new AbortController();
    const cancelledBefore = server.cancelledHandlers;
    const it = openServerStream(transport.transport, DataBrokerService.method.syncLatest, {}, { signal: controller.signal, headers: { [RECORDS]: "1", [HANG]: "1" } })[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    const pending = it.next();
    controller.abort();
    const error = await pending.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Canceled);
    await until(() => server.cancelledHandlers > cancelledBefore, "the server handler to see the cancellation", 3000);
  });
});
