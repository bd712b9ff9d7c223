/**
 * What happens when the start-up probe finds connect-node's reset wording changed: every cache's
 * logger hears it once (through the transport's onWarning), and a connect-node reset then reads
 * as the server's own CANCELLED status (a Clear, healed by a resync: nothing lost), while the
 * grpc-js transport still recognises its resets (it marks them). The probe runs once per process,
 * so this file has one of its own: its first call decides, and stands for a changed release.
 */
import { randomBytes } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataBrokerService } from "../../gen/databroker/databroker_pb.js";
import { createDatabrokerCache, SESSION_TYPE, type DatabrokerCacheLogAttributes } from "../../src/index.js";
import { streamErrorEvent } from "../../src/sync/stream-error-events.js";
import { checkConnectNodeResetWording, probeConnectNodeResetWording } from "../../src/transport/connect-node-reset-probe.js";
import { isConnectionFailure, isStreamReset } from "../../src/transport/connection-errors.js";
import { createDatabrokerTransport, type DatabrokerTransport, type DatabrokerTransportImplementation } from "../../src/transport/databroker-transport.js";
import type { TransportWarningAttributes } from "../../src/transport/transport-warnings.js";
import { until } from "../support/wait-until.js";
import { RESET_STREAM, startBehaviourServer, type BehaviourServer } from "./transport-behaviour-server.js";

const SECRET = randomBytes(32).toString("base64");
let server: BehaviourServer;
const transports: DatabrokerTransport[] = [];

beforeAll(async () => {
  // A release that words resets differently, as the real probe would see it.
  const reworded = await checkConnectNodeResetWording(() =>
    probeConnectNodeResetWording([
      (next) => async (request) => {
        try {
          return await next(request);
        } catch (e) {
          throw e instanceof ConnectError && e.rawMessage.startsWith("http/2 stream closed") ? new ConnectError("stream reset by the peer", e.code) : e;
        }
      },
    ]),
  );
  expect(reworded).toBe(false);
  server = await startBehaviourServer();
});
afterAll(async () => {
  await Promise.all(transports.map((t) => t.close()));
  await server.close();
});

function open(implementation: DatabrokerTransportImplementation, onWarning?: (message: string, attributes: TransportWarningAttributes) => void) {
  const transport = createDatabrokerTransport(server.url, { sharedSecret: SECRET, implementation, onWarning });
  transports.push(transport);
  return createClient(DataBrokerService, transport.transport);
}

async function resetFailure(implementation: DatabrokerTransportImplementation): Promise<unknown> {
  const client = open(implementation);
  try {
    for await (const _ of client.syncLatest({}, { headers: { [RESET_STREAM]: "1" } }));
  } catch (error) {
    return error;
  }
  throw new Error("expected the reset stream to fail");
}

describe("connect-node reset wording changed", () => {
  it("warns each listener once, whatever the number of connect-node transports", async () => {
    const warnings: string[] = [];
    const onWarning = (message: string, attributes: TransportWarningAttributes) => warnings.push(`${attributes.guard} ${attributes.dependency}: ${message}`);
    open("connect-node", onWarning);
    await until(() => warnings.length > 0, "the warning");
    open("connect-node", onWarning);
    await checkConnectNodeResetWording();
    expect(warnings).toEqual([
      expect.stringMatching(/^connect-node-stream-reset @connectrpc\/connect-node: @connectrpc\/connect-node no longer reports a stream reset/),
    ]);
    const other: string[] = [];
    open("connect-node", (message) => other.push(message));
    await until(() => other.length > 0, "the second listener's warning");
    expect(other).toHaveLength(1);
  });

  it("reaches a cache's logger as one warn line, with the guard and the dependency", async () => {
    const lines: Array<{ message: string; attributes: DatabrokerCacheLogAttributes | undefined }> = [];
    const cache = createDatabrokerCache({
      url: server.url,
      sharedSecret: SECRET,
      transport: "connect-node",
      types: [SESSION_TYPE],
      logger: { warn: (message, attributes) => lines.push({ message, attributes }) },
    });
    const fromGuard = () => lines.filter((l) => l.attributes?.["guard"] === "connect-node-stream-reset");
    try {
      await until(() => fromGuard().length > 0, "the warning in the cache's log");
    } finally {
      await cache.close();
    }
    expect(fromGuard()).toEqual([
      { message: expect.stringContaining("no longer reports a stream reset"), attributes: { guard: "connect-node-stream-reset", dependency: "@connectrpc/connect-node" } },
    ]);
  });

  it("reads a connect-node reset as the server's CANCELLED (resync), no longer as a connection failure", async () => {
    const error = await resetFailure("connect-node");
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Canceled);
    expect(isStreamReset(error)).toBe(false);
    expect(isConnectionFailure(error)).toBe(false);
    expect(streamErrorEvent(error)).toMatchObject({ type: "cancelledByServer" });
  });

  it("still recognises the grpc-js transport's resets, which it marks rather than words", async () => {
    const error = await resetFailure("grpc-js");
    expect(isStreamReset(error)).toBe(true);
    expect(streamErrorEvent(error)).toMatchObject({ type: "error", connectionFailure: true });
  });
});
