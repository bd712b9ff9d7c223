/**
 * Settings for Pomerium's clustered databroker (several nodes, one Raft-elected leader,
 * followers copying the leader by Sync). Any node accepts every call and forwards it to the
 * leader ("default" request mode); in "local" mode a node answers reads from its own copy.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { MAX_TIMER_DELAY_MS } from "../transport/max-timer-delay.js";

/** The gRPC metadata key Pomerium reads the request mode from. */
export const CLUSTER_REQUEST_MODE_HEADER = "pomerium-cluster-request-mode";

/** How the sync streams ask a cluster node: forwarded to the leader, or from the node's own copy. */
export type ClusterSyncMode = "default" | "local";

export interface ClusterOptions {
  /**
   * "default" (the default): every node forwards the sync streams to the leader. "local": the
   * node the cache uses (the first reachable URL: list the nearest node first) answers them
   * from its own copy, which is behind the leader by what it has not copied yet (Pomerium's
   * followers copy in batches of up to 64 records or 1 s). Writes through `cache.client` always
   * use the default mode.
   */
  readonly syncMode?: ClusterSyncMode;
  /**
   * How often a live stream asks its node whether it still serves the same leader's data. A
   * stream a node opened keeps running after the node loses its leader (partitioned, or the
   * leader changed) and then goes silent: this check ends it. Default 2000 ms.
   */
  readonly leaderCheckIntervalMs?: number;
}

export const DEFAULT_LEADER_CHECK_INTERVAL_MS = 2000;

export interface ResolvedClusterOptions {
  readonly syncMode: ClusterSyncMode;
  readonly leaderCheckIntervalMs: number;
}

/** @throws ConnectError InvalidArgument */
export function resolveClusterOptions(options: ClusterOptions): ResolvedClusterOptions {
  const syncMode = options.syncMode ?? "default";
  if (syncMode !== "default" && syncMode !== "local") {
    throw new ConnectError(`cluster.syncMode must be "default" or "local", got ${JSON.stringify(syncMode)}`, Code.InvalidArgument);
  }
  const leaderCheckIntervalMs = options.leaderCheckIntervalMs ?? DEFAULT_LEADER_CHECK_INTERVAL_MS;
  if (!(typeof leaderCheckIntervalMs === "number" && leaderCheckIntervalMs > 0 && leaderCheckIntervalMs <= MAX_TIMER_DELAY_MS)) {
    throw new ConnectError(`cluster.leaderCheckIntervalMs must be a positive number of milliseconds, at most ${MAX_TIMER_DELAY_MS}, got ${String(leaderCheckIntervalMs)}`, Code.InvalidArgument);
  }
  return { syncMode, leaderCheckIntervalMs };
}
