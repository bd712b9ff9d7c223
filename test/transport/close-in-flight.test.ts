/**
 * close() while a call is still being prepared (its JWT is signed asynchronously) must not let
 * that call open a new connection afterwards: nothing would ever close it, and connect-node's
 * idle timer would pin it for 15 minutes.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { startInMemoryDatabroker, type RunningInMemoryDatabroker } from "../../src/server/index.js";
import { createDataBrokerClient } from "../../src/transport/databroker-clients.js";
import { DATABROKER_TRANSPORT_IMPLEMENTATIONS, createDatabrokerTransport } from "../../src/transport/databroker-transport.js";
import { startTcpFaultProxy, type TcpFaultProxy } from "../support/tcp-fault-proxy.js";
import { sleep } from "../support/wait-until.js";

const sharedSecret = Buffer.alloc(32, 3).toString("base64");

describe("transport close with a call in flight", () => {
  let server: RunningInMemoryDatabroker | undefined;
  let proxy: TcpFaultProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    await server?.close();
  });

  it.each(DATABROKER_TRANSPORT_IMPLEMENTATIONS)("refuses the call instead of opening a new connection after close() (%s)", async (implementation) => {
    server = await startInMemoryDatabroker({ sharedSecret, port: 0 });
    proxy = await startTcpFaultProxy(server.port);
    const transport = createDatabrokerTransport(proxy.url, { sharedSecret, implementation });
    const client = createDataBrokerClient(transport.transport);
    await client.serverInfo({});
    expect(proxy.connectionsAccepted).toBe(1);

    // Still signing its JWT when close() runs; its outcome is captured before close() is awaited.
    const outcome = client.serverInfo({}).then(
      () => "resolved",
      (e: unknown) => ConnectError.from(e),
    );
    await transport.close();
    const result = await outcome;
    expect(result instanceof ConnectError && result.code).toBe(Code.Canceled);
    await sleep(200);
    expect(proxy.connectionsAccepted).toBe(1);
    expect(proxy.openConnections).toBe(0);
  });
});
