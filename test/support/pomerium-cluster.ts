/**
 * Starts Pomerium's clustered databroker for tests: N nodes of the Go peer on loopback, each
 * with its own storage (memory, or a file directory that survives a restart), the same shared
 * secret, and Raft on loopback ports (or a pinned leader, which disables the election).
 *
 * Nodes reach each other through per-pair TCP fault proxies (node i's view of node j's Raft and
 * gRPC addresses is a proxy of its own), so a node can be partitioned away from the others in
 * both directions while clients still reach it. Any node can be SIGKILLed and restarted on the
 * same ports and storage. Which node leads is read from GetCheckpoint's `is_leader`, which every
 * node answers from its own state.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConnectError } from "@connectrpc/connect";
import { createCheckpointClient, createDataBrokerClient, type CheckpointClient, type DataBrokerClient } from "../../src/transport/databroker-clients.js";
import { createDatabrokerTransport, type DatabrokerTransport } from "../../src/transport/databroker-transport.js";
import { startPomerium, type PomeriumInstance } from "./pomerium-harness.js";
import { startTcpFaultProxy, type TcpFaultProxy } from "./tcp-fault-proxy.js";
import { untilAsync } from "./wait-until.js";

/** The gRPC metadata key of Pomerium's cluster request mode. */
export const CLUSTER_REQUEST_MODE_HEADER = "pomerium-cluster-request-mode";
export type ClusterRequestMode = "default" | "local" | "leader";

export interface PomeriumClusterOptions {
  readonly nodes: number;
  readonly storage: "memory" | "file";
  readonly sharedSecret: string;
  /** Pins the leader (databroker_cluster_leader_id): no Raft, no failover. */
  readonly pinnedLeader?: string;
  /** Label for log files. */
  readonly name?: string;
}

export interface ClusterCheckpoint {
  readonly isLeader: boolean;
  /** The leader's versions this node has copied up to (on the leader: its own latest). */
  readonly serverVersion: bigint;
  readonly recordVersion: bigint;
}

export interface PomeriumClusterNode {
  readonly id: string;
  /** h2c URL of the node's gRPC port (stable across restarts). */
  readonly url: string;
  readonly running: boolean;
  /** The process now running (undefined while down). */
  readonly instance: PomeriumInstance | undefined;
}

export interface PomeriumCluster {
  readonly nodes: readonly PomeriumClusterNode[];
  /** Every node's URL, in node order. */
  readonly urls: readonly string[];
  node(id: string): PomeriumClusterNode;
  /** SIGKILL (a crash). */
  kill(id: string): Promise<void>;
  /** Starts a stopped node again on the same ports and storage; resolves once it is ready. */
  restart(id: string): Promise<void>;
  /** Cuts the node off from every other node (Raft and forwarding), both ways; clients still reach it. */
  partition(id: string): void;
  /** Ends the partition (and drops the connections it held, which lost their bytes). */
  heal(id: string): void;
  /** How node `from` reaches node `to`: its Raft and gRPC proxies (block one to stall just that path). */
  link(from: string, to: string): { readonly raft: TcpFaultProxy; readonly grpc: TcpFaultProxy };
  /** The node's own view: GetCheckpoint (answered locally on every node). Rejects while it has no leader. */
  checkpoint(id: string): Promise<ClusterCheckpoint>;
  /** Waits until exactly one running node says it leads and returns its id. */
  leader(timeoutMs?: number): Promise<string>;
  /** A client of one node that sends `mode` (default: no header, which Pomerium treats as "default"). */
  client(id: string, mode?: ClusterRequestMode): DataBrokerClient;
  close(): Promise<void>;
}

interface NodeSlot {
  readonly id: string;
  readonly grpcPort: number;
  readonly raftPort: number;
  readonly dir: string | undefined;
  readonly args: readonly string[];
  instance: PomeriumInstance | undefined;
}

/** Cluster starts that fail on a port taken between freePorts() and the node's bind, retried on new ports. */
const START_ATTEMPTS = 4;

export async function startPomeriumCluster(options: PomeriumClusterOptions): Promise<PomeriumCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startPomeriumClusterOnce(options);
    } catch (err) {
      // The ports are picked free, released, then bound by the nodes (their addresses must be in
      // every node's configuration up front); another process can take one in between. A node
      // then exits at once saying so (the peer checks its Raft address before it starts).
      if (attempt < START_ATTEMPTS && /address already in use/.test(String(err))) continue;
      throw err;
    }
  }
}

async function startPomeriumClusterOnce(options: PomeriumClusterOptions): Promise<PomeriumCluster> {
  const ids = Array.from({ length: options.nodes }, (_, i) => `node-${String.fromCharCode(97 + i)}`);
  if (options.pinnedLeader !== undefined && !ids.includes(options.pinnedLeader)) throw new Error(`unknown pinned leader ${options.pinnedLeader}`);
  const ports = await freePorts(ids.length * 2);
  const grpcPort = (i: number) => ports[2 * i]!;
  const raftPort = (i: number) => ports[2 * i + 1]!;

  // proxies[i][j]: how node i reaches node j (Raft and gRPC).
  const proxies: Array<Array<{ raft: TcpFaultProxy; grpc: TcpFaultProxy } | undefined>> = [];
  for (let i = 0; i < ids.length; i++) {
    const row: Array<{ raft: TcpFaultProxy; grpc: TcpFaultProxy } | undefined> = [];
    for (let j = 0; j < ids.length; j++) {
      row.push(i === j ? undefined : { raft: await startTcpFaultProxy(raftPort(j)), grpc: await startTcpFaultProxy(grpcPort(j)) });
    }
    proxies.push(row);
  }

  const slots: NodeSlot[] = [];
  for (let i = 0; i < ids.length; i++) {
    const view = ids.map((id, j) => {
      const p = proxies[i]![j];
      return {
        id,
        grpc_address: `http://127.0.0.1:${p?.grpc.port ?? grpcPort(j)}`,
        raft_address: `127.0.0.1:${p?.raft.port ?? raftPort(j)}`,
      };
    });
    const dir = options.storage === "file" ? await mkdtemp(join(tmpdir(), `pomerium-${ids[i]}-`)) : undefined;
    const args = [
      "-cluster-node-id", ids[i]!,
      "-cluster-nodes", JSON.stringify(view),
      "-raft-bind-address", `127.0.0.1:${raftPort(i)}`,
      ...(options.pinnedLeader !== undefined ? ["-cluster-leader-id", options.pinnedLeader] : []),
    ];
    slots.push({ id: ids[i]!, grpcPort: grpcPort(i), raftPort: raftPort(i), dir, args, instance: undefined });
  }

  const launch = async (slot: NodeSlot) => {
    slot.instance = await startPomerium({
      storage: options.storage,
      sharedSecret: options.sharedSecret,
      port: slot.grpcPort,
      name: `${options.name ?? "cluster"}-${slot.id}`,
      extraArgs: slot.args,
      ...(slot.dir !== undefined ? { dsn: slot.dir } : {}),
    });
  };
  const transports = new Map<string, DatabrokerTransport>();
  const transportFor = (slot: NodeSlot) => {
    let t = transports.get(slot.id);
    if (t === undefined) {
      t = createDatabrokerTransport(`http://127.0.0.1:${slot.grpcPort}`, { sharedSecret: options.sharedSecret });
      transports.set(slot.id, t);
    }
    return t;
  };
  const checkpointClients = new Map<string, CheckpointClient>();
  const slotOf = (id: string): NodeSlot => {
    const slot = slots.find((s) => s.id === id);
    if (slot === undefined) throw new Error(`no cluster node ${id}`);
    return slot;
  };
  const running = (slot: NodeSlot) => slot.instance !== undefined;
  const links = (id: string) => {
    const k = ids.indexOf(id);
    return proxies.flatMap((row, i) => row.flatMap((p, j) => (p !== undefined && (i === k || j === k) ? [p.raft, p.grpc] : [])));
  };

  const close = async () => {
    await Promise.all(slots.map((s) => s.instance?.stop()));
    await Promise.all([...transports.values()].map((t) => t.close()));
    await Promise.all(proxies.flat().flatMap((p) => (p ? [p.raft.close(), p.grpc.close()] : [])));
    await Promise.all(slots.map((s) => (s.dir !== undefined ? rm(s.dir, { recursive: true, force: true }) : undefined)));
  };

  try {
    await Promise.all(slots.map(launch));
  } catch (err) {
    await close();
    throw err;
  }

  const cluster: PomeriumCluster = {
    get nodes() {
      return slots.map((s) => ({ id: s.id, url: `http://127.0.0.1:${s.grpcPort}`, running: running(s), instance: s.instance }));
    },
    urls: slots.map((s) => `http://127.0.0.1:${s.grpcPort}`),
    node(id) {
      const s = slotOf(id);
      return { id: s.id, url: `http://127.0.0.1:${s.grpcPort}`, running: running(s), instance: s.instance };
    },
    async kill(id) {
      const slot = slotOf(id);
      await slot.instance?.kill();
      slot.instance = undefined;
      transports.get(id)?.resetConnection();
    },
    async restart(id) {
      const slot = slotOf(id);
      if (slot.instance !== undefined) throw new Error(`${id} is running`);
      await launch(slot);
    },
    partition(id) {
      for (const p of links(id)) {
        p.blackhole();
        p.cut();
      }
    },
    heal(id) {
      // Connections held during the partition lost their bytes: drop them, the nodes redial.
      for (const p of links(id)) {
        p.heal();
        p.cut();
      }
    },
    link(from, to) {
      const p = proxies[ids.indexOf(from)]?.[ids.indexOf(to)];
      if (p === undefined) throw new Error(`no link from ${from} to ${to}`);
      return p;
    },
    async checkpoint(id) {
      const slot = slotOf(id);
      let client = checkpointClients.get(id);
      if (client === undefined) {
        client = createCheckpointClient(transportFor(slot).transport);
        checkpointClients.set(id, client);
      }
      const res = await client.getCheckpoint({}, { timeoutMs: 2000 });
      return { isLeader: res.isLeader, serverVersion: res.checkpoint?.serverVersion ?? 0n, recordVersion: res.checkpoint?.recordVersion ?? 0n };
    },
    async leader(timeoutMs = 30_000) {
      let found: string | undefined;
      await untilAsync(
        async () => {
          const views = await Promise.all(
            slots.filter(running).map(async (s) => {
              try {
                return (await cluster.checkpoint(s.id)).isLeader ? s.id : undefined;
              } catch (err) {
                if (err instanceof ConnectError) return undefined; // no leader yet, or going down
                throw err;
              }
            }),
          );
          const leaders = views.filter((v): v is string => v !== undefined);
          found = leaders.length === 1 ? leaders[0] : undefined;
          return found !== undefined;
        },
        "one cluster node reports is_leader",
        timeoutMs,
      );
      return found!;
    },
    client(id, mode) {
      const transport = transportFor(slotOf(id)).transport;
      if (mode === undefined) return createDataBrokerClient(transport);
      return createDataBrokerClient({
        unary: (method, signal, timeoutMs, header, input, contextValues) => {
          const h = new Headers(header);
          h.set(CLUSTER_REQUEST_MODE_HEADER, mode);
          return transport.unary(method, signal, timeoutMs, h, input, contextValues);
        },
        stream: (method, signal, timeoutMs, header, input, contextValues) => {
          const h = new Headers(header);
          h.set(CLUSTER_REQUEST_MODE_HEADER, mode);
          return transport.stream(method, signal, timeoutMs, h, input, contextValues);
        },
      });
    },
    close,
  };
  return cluster;
}

/** Ports free now (bound, read, released): fixed ports are needed to list every node in every config. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once("error", reject);
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === "string") throw new Error("no TCP address");
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}
