import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { freeLoopbackPort, startPostgresCluster, type PostgresCluster } from "./postgres-cluster.js";

describe("throwaway PostgreSQL cluster", () => {
  let cluster: PostgresCluster | undefined;
  const closers: Array<() => void> = [];
  afterEach(async () => {
    await cluster?.stop();
    for (const close of closers) close();
  });

  it("picks another port when the first one is taken before the server binds it", { timeout: 90_000 }, async () => {
    // A listener on 127.0.0.1 holds the first port offered, as a parallel test would.
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    closers.push(() => holder.close());
    const taken = (holder.address() as { port: number }).port;
    const offered: number[] = [];
    cluster = await startPostgresCluster({
      pickPort: async () => {
        const port = offered.length === 0 ? taken : await freeLoopbackPort();
        offered.push(port);
        return port;
      },
    });
    expect(offered[0]).toBe(taken);
    expect(offered.length).toBeGreaterThanOrEqual(2);
    expect(cluster.port).toBe(offered.at(-1));
    expect(cluster.port).not.toBe(taken);
  });
});
