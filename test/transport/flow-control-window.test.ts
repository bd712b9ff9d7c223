/**
 * The HTTP/2 receive window of the grpc-js and node-http2 transports, as a server sees it on the wire. With HTTP/2's
 * default of 65,535 bytes a server may send only that much of a SyncLatest before it has to wait
 * for the client's WINDOW_UPDATE, so a busy client event loop idles the server; each transport
 * advertises a large window for its streams (SETTINGS_INITIAL_WINDOW_SIZE) and its connection
 * (a WINDOW_UPDATE on stream 0). A raw node:http2 server reads both and answers every call with
 * UNIMPLEMENTED.
 */
import { randomBytes } from "node:crypto";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { createDataBrokerClient } from "../../src/transport/databroker-clients.js";
import { createDatabrokerTransport, type DatabrokerTransport } from "../../src/transport/databroker-transport.js";
import { FLOW_CONTROL_WINDOW_BYTES } from "../../src/transport/flow-control-window.js";

const SECRET = randomBytes(32).toString("base64");
const DEFAULT_WINDOW = 65_535;

interface SeenSession {
  /** The client's SETTINGS_INITIAL_WINDOW_SIZE (each stream's window). */
  streamWindow: number | undefined;
  session: http2.ServerHttp2Session;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startWindowServer(): Promise<{ url: string; sessions: SeenSession[] }> {
  const sessions: SeenSession[] = [];
  const server = http2.createServer();
  server.on("session", (session) => {
    const seen: SeenSession = { streamWindow: undefined, session };
    sessions.push(seen);
    session.on("remoteSettings", (settings) => {
      seen.streamWindow = settings.initialWindowSize;
    });
  });
  server.on("stream", (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": String(Code.Unimplemented), "grpc-message": "window test" }, { endStream: true });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.session.destroy();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sessions };
}

async function callOnce(transport: DatabrokerTransport): Promise<void> {
  const client = createDataBrokerClient(transport.transport);
  const error = await client.serverInfo({}).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(ConnectError.from(error).code).toBe(Code.Unimplemented);
}

describe("HTTP/2 receive window of the grpc-js and node-http2 transports", () => {
  it.each(["grpc-js", "node-http2"] as const)("%s advertises a window of FLOW_CONTROL_WINDOW_BYTES for each stream and for the connection", async (implementation) => {
    const server = await startWindowServer();
    const transport = createDatabrokerTransport(server.url, { sharedSecret: SECRET, implementation });
    cleanups.push(() => transport.close());
    await callOnce(transport);

    expect(server.sessions).toHaveLength(1);
    const [seen] = server.sessions as [SeenSession];
    expect(FLOW_CONTROL_WINDOW_BYTES).toBeGreaterThan(64 * DEFAULT_WINDOW);
    expect(seen.streamWindow).toBe(FLOW_CONTROL_WINDOW_BYTES);
    // What this server may send on the connection before it needs a WINDOW_UPDATE: the client
    // raised it from the default right after the settings exchange (our reply had no body).
    expect(seen.session.state.remoteWindowSize).toBe(FLOW_CONTROL_WINDOW_BYTES);
  });

  it("the same raw server sees HTTP/2's default window from a plain node:http2 client (the check is not vacuous)", async () => {
    const server = await startWindowServer();
    const client = http2.connect(server.url);
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          client.close(() => resolve());
        }),
    );
    const request = client.request({ ":method": "POST", ":path": "/databroker.DataBrokerService/ServerInfo", "content-type": "application/grpc" });
    request.end();
    await new Promise<void>((resolve) => request.on("response", () => resolve()));
    request.resume();
    await new Promise<void>((resolve) => request.on("close", () => resolve()));

    const [seen] = server.sessions as [SeenSession];
    expect(seen.streamWindow).toBe(DEFAULT_WINDOW);
    expect(seen.session.state.remoteWindowSize).toBe(DEFAULT_WINDOW);
  });
});
