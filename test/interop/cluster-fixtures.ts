/**
 * Shared pieces of the cluster interop tests: one cluster per test file, and the retry settings
 * the caches use there (waits on the cluster: test/support/pomerium-cluster-waits.ts).
 */
import { afterAll, beforeAll } from "vitest";
import { Cleanups, SECRET } from "../faults/fault-fixtures.js";
import { startPomeriumCluster, type PomeriumCluster, type PomeriumClusterOptions } from "../support/pomerium-cluster.js";
import { requirePomeriumOrExplain } from "./interop-availability.js";

/** Fast enough for tests, still through the backoff: a reconnect waits at most 400 ms. */
export const CLUSTER_RETRY = { initialDelayMs: 100, maxDelayMs: 1000, maxReconnectDelayMs: 400, fastLoopMaxRetries: 50, fastLoopWindowMs: 2000 };

/** Starts one cluster (shared secret SECRET) for the file, once a leader is known; closes it and `cleanups` after. */
export function clusterForFile(options: Omit<PomeriumClusterOptions, "sharedSecret">): { readonly cluster: PomeriumCluster; readonly cleanups: Cleanups } {
  let cluster: PomeriumCluster | undefined;
  const cleanups = new Cleanups();
  beforeAll(async () => {
    await requirePomeriumOrExplain();
    cluster = await startPomeriumCluster({ ...options, sharedSecret: SECRET });
    await cluster.leader();
  }, 120_000);
  afterAll(async () => {
    await cleanups.run();
    await cluster?.close();
  }, 30_000);
  return {
    get cluster() {
      if (cluster === undefined) throw new Error("cluster not started");
      return cluster;
    },
    cleanups,
  };
}
