/**
 * openServerStream (the sync loop's way to open its streams) against a real HTTP/2 server, on
 * both transport implementations: the same messages, errors, trailers' metadata and
 * cancellation as the generated client's streaming method, which it replaces for the loop.
 */
import { randomBytes } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DataBrokerService, type SyncLatestResponse } from "../../gen/databroker/databroker_pb.js";
import { DATABROKER_TRANSPORT_IMPLEMENTATIONS, createDatabrokerTransport, type DatabrokerTransport } from "../../src/transport/databroker-transport.js";
import { openServerStream } from "../../src/transport/server-stream.js";
import { until } from "../support/wait-until.js";
import { FAIL_CODE, HANG, RECORDS, startBehaviourServer, type BehaviourServer } from "./transport-behaviour-server.js";

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
  await Promise.all(transports.splice(0).map((t) => t.close()));
});

/** The ids of the records read, and how the stream ended (undefined: cleanly). */
async function readAll(iterable: AsyncIterable<SyncLatestResponse>): Promise<{ ids: string[]; error: ConnectError | undefined }> {
  const ids: string[] = [];
  try {
    for await (const m of iterable) if (m.response.case === "record") ids.push(m.response.value.id);
  } catch (e) {
    expect(e).toBeInstanceOf(ConnectError);
    return { ids, error: e as ConnectError };
  }
  return { ids, error: undefined };
}

describe.each(DATABROKER_TRANSPORT_IMPLEMENTATIONS)("openServerStream (%s)", (implementation) => {
  function open(): DatabrokerTransport {
    const transport = createDatabrokerTransport(server.url, { sharedSecret: SECRET, implementation });
    transports.push(transport);
    return transport;
  }

  it("reads what the generated client reads: every message, in order, with the request's headers applied", async () => {
    const transport = open();
    const client = createClient(DataBrokerService, transport.transport);
    const headers = { [RECORDS]: "2500" };
    const direct = await readAll(openServerStream(transport.transport, DataBrokerService.method.syncLatest, {}, { signal: new AbortController().signal, headers }));
    const viaClient = await readAll(client.syncLatest({}, { headers }));
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
      const direct = await readAll(openServerStream(transport.transport, DataBrokerService.method.syncLatest, {}, { signal: new AbortController().signal, headers }));
      const viaClient = await readAll(client.syncLatest({}, { headers }));
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
    const direct = await readAll(openServerStream(refused.transport, DataBrokerService.method.syncLatest, {}, { signal: new AbortController().signal }));
    const viaClient = await readAll(createClient(DataBrokerService, refused.transport).syncLatest({}));
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
