/**
 * The "http2-frames" transport's connection manager over real loopback sockets: opening must
 * finish within the ping timeout, and a failed attempt leaves the next call free to try again.
 */
import { once } from "node:events";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { createDatabrokerTransport, type DatabrokerTransport } from "../../../src/transport/databroker-transport.js";

const SECRET = Buffer.alloc(32, 7).toString("base64");
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A TCP server that accepts connections and never says anything. */
async function silentPeer(): Promise<{ port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createServer((socket) => {
    accepted.push(socket);
    socket.on("error", () => undefined);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  closers.push(async () => {
    for (const s of accepted) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, accepted };
}

function transportTo(port: number): DatabrokerTransport {
  const transport = createDatabrokerTransport(`http://127.0.0.1:${port}`, { sharedSecret: SECRET, implementation: "http2-frames", pingTimeoutMs: 200 });
  closers.push(() => transport.close());
  return transport;
}

describe("the http2-frames connection manager", () => {
  it("gives up on a peer that accepts the connection and never sends its HTTP/2 settings, within the ping timeout", async () => {
    const { port, accepted } = await silentPeer();
    const transport = transportTo(port);
    const error = await transport.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Unavailable);
    expect((error as ConnectError).rawMessage).toMatch(/no HTTP\/2 connection to http:\/\/127\.0\.0\.1:\d+ within 200 ms/);
    expect(accepted).toHaveLength(1);
    // The next attempt opens a new connection rather than waiting on the failed one.
    await expect(transport.connect()).rejects.toThrow(/within 200 ms/);
    expect(accepted).toHaveLength(2);
  });
});
