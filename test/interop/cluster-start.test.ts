/**
 * A cluster node started on a Raft address another process holds fails at once and says so, so
 * that the cluster harness can retry on other ports (its ports are picked free, released, then
 * bound by the nodes, and another process can take one in between). Pomerium itself only logs
 * a Raft listener that fails to bind and runs on without one: such a node never joins its
 * cluster, and the peer's readiness check would wait out its minute.
 */
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { expect, it } from "vitest";
import { SECRET } from "../faults/fault-fixtures.js";
import { startPomerium } from "../support/pomerium-harness.js";
import { requirePomeriumOrExplain } from "./interop-availability.js";

it("a cluster node whose Raft address is taken exits at once, naming the flag and the cause", async () => {
  await requirePomeriumOrExplain();
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
  try {
    const taken = `127.0.0.1:${(holder.address() as AddressInfo).port}`;
    const error = await startPomerium({
      storage: "memory",
      sharedSecret: SECRET,
      name: "raft-address-taken",
      extraArgs: [
        "-cluster-node-id", "node-a",
        "-cluster-nodes", JSON.stringify([{ id: "node-a", grpc_address: "http://127.0.0.1:1", raft_address: taken }]),
        "-raft-bind-address", taken,
      ],
    }).then(
      async (instance) => {
        await instance.stop();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(String(error)).toMatch(/-raft-bind-address: .*address already in use/);
  } finally {
    await new Promise<void>((resolve) => holder.close(() => resolve()));
  }
}, 20_000);
