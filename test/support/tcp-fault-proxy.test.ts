import { createServer, connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startTcpFaultProxy, type TcpFaultProxy } from "./tcp-fault-proxy.js";

/** An echo server: answers every chunk with the same bytes. */
async function echoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

function roundTrip(socket: Socket, text: string, timeoutMs: number): Promise<string | "timeout"> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off("data", onData);
      resolve("timeout");
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      clearTimeout(timer);
      socket.off("data", onData);
      resolve(chunk.toString());
    };
    socket.on("data", onData);
    socket.write(text);
  });
}

async function dial(port: number): Promise<Socket> {
  const s = connect({ host: "127.0.0.1", port });
  s.on("error", () => undefined);
  await new Promise<void>((r) => s.once("connect", () => r()));
  return s;
}

describe("TCP fault proxy", () => {
  let proxy: TcpFaultProxy | undefined;
  let echo: Awaited<ReturnType<typeof echoServer>> | undefined;
  afterEach(async () => {
    await proxy?.close();
    await echo?.close();
  });

  it("forwards bytes both ways while passing", async () => {
    echo = await echoServer();
    proxy = await startTcpFaultProxy(echo.port);
    const s = await dial(proxy.port);
    expect(await roundTrip(s, "hello", 2000)).toBe("hello");
    expect(proxy.connectionsAccepted).toBe(1);
    s.destroy();
  });

  it("blackhole forwards nothing but keeps the socket open; heal restores traffic", async () => {
    echo = await echoServer();
    proxy = await startTcpFaultProxy(echo.port);
    const s = await dial(proxy.port);
    proxy.blackhole();
    expect(await roundTrip(s, "lost", 300)).toBe("timeout");
    expect(s.destroyed).toBe(false);
    proxy.heal();
    expect(await roundTrip(s, "back", 2000)).toBe("back");
    s.destroy();
  });

  it("cut resets every open connection", async () => {
    echo = await echoServer();
    proxy = await startTcpFaultProxy(echo.port);
    const s = await dial(proxy.port);
    const closed = new Promise<void>((r) => s.once("close", () => r()));
    proxy.cut();
    await closed;
    expect(proxy.openConnections).toBe(0);
  });

  it("slow delays each chunk by at least the given time", async () => {
    echo = await echoServer();
    proxy = await startTcpFaultProxy(echo.port);
    const s = await dial(proxy.port);
    proxy.slow(150);
    const started = performance.now();
    expect(await roundTrip(s, "late", 3000)).toBe("late");
    // one delay each way
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    s.destroy();
  });
});
