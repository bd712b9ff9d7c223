/**
 * A TCP proxy of ours that sits between a client and a server on loopback and injects network
 * faults on command: cut every connection (RST), blackhole (keep sockets open, forward nothing:
 * a silent partition), slow (delay every chunk). Used by the fault tests; never listens beyond
 * 127.0.0.1.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

export type FaultMode = "pass" | "blackhole" | "slow";

export interface TcpFaultProxy {
  /** "http://127.0.0.1:PORT": point the client here. */
  readonly url: string;
  readonly port: number;
  /** Connections accepted so far (each client reconnect adds one). */
  readonly connectionsAccepted: number;
  /** Number of currently open client connections. */
  readonly openConnections: number;
  /** Destroys every open connection in both directions (the client sees a reset). */
  cut(): void;
  /** Forward nothing in either direction until `heal()`; new connections are held too. */
  blackhole(): void;
  /** Delay every chunk by `delayMs` in both directions until `heal()`. */
  slow(delayMs: number): void;
  /** Back to forwarding normally; data held while blackholed is dropped (as a partition would). */
  heal(): void;
  /** Points new connections at another upstream port (e.g. a restarted server). */
  retarget(upstreamPort: number): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

export async function startTcpFaultProxy(upstreamPort: number, listenPort = 0): Promise<TcpFaultProxy> {
  let mode: FaultMode = "pass";
  let delayMs = 0;
  let target = upstreamPort;
  let accepted = 0;
  const pairs = new Set<Pair>();

  const forward = (from: Socket, to: Socket) => {
    from.on("data", (chunk: Buffer) => {
      if (mode === "blackhole") return; // swallowed, like packets into a partition
      if (mode === "slow") {
        setTimeout(() => {
          if (!to.destroyed) to.write(chunk);
        }, delayMs).unref();
        return;
      }
      if (!to.destroyed) to.write(chunk);
    });
  };

  const server: Server = createServer((client) => {
    accepted++;
    const upstream = connect({ host: "127.0.0.1", port: target });
    const pair: Pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    forward(client, upstream);
    forward(upstream, client);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listenPort, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("proxy has no TCP address");
  const port = address.port;

  const cut = () => {
    for (const { client, upstream } of pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    pairs.clear();
  };

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get connectionsAccepted() {
      return accepted;
    },
    get openConnections() {
      return pairs.size;
    },
    cut,
    blackhole() {
      mode = "blackhole";
    },
    slow(ms: number) {
      mode = "slow";
      delayMs = ms;
    },
    heal() {
      mode = "pass";
      delayMs = 0;
    },
    retarget(upstreamPort: number) {
      target = upstreamPort;
    },
    close() {
      cut();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
