/**
 * Turns a stream's failure into the machine event that heals it. The caller has already
 * excluded failures it caused itself (its own abort on close, idle timeout or state change).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { isConnectionFailure } from "../transport/connection-errors.js";
import { connectionFailureHint } from "../transport/connection-failure-hint.js";
import { clusterRefusalMessage, clusterRefusalOf } from "./cluster-refusal.js";
import type { SyncMachineEvent } from "./sync-state-machine.js";

export function streamErrorEvent(reason: unknown): SyncMachineEvent {
  const error = ConnectError.from(reason);
  const connectionFailure = isConnectionFailure(reason);
  switch (error.code) {
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      return { type: "unauthenticated", message: error.rawMessage };
    case Code.Aborted:
      // connect-node reports a reset socket as Aborted too; that is a connection failure,
      // not the server telling us our version is stale.
      if (!connectionFailure) return { type: "aborted", message: error.rawMessage };
      break;
    case Code.Canceled:
      if (!connectionFailure) return { type: "cancelledByServer", message: error.rawMessage };
      break;
    default:
      break;
  }
  // A cluster node's refusal is its answer (a status it sent), though UNAVAILABLE otherwise
  // reads as a connection failure: the node is up, only without a leader.
  const refusal = clusterRefusalOf(error);
  if (refusal !== undefined) return { type: "error", message: clusterRefusalMessage(refusal), connectionFailure: false, clusterRefusal: refusal };
  return { type: "error", message: `${Code[error.code] ?? "Unknown"}: ${connectionFailureHint(reason) ?? error.rawMessage}`, connectionFailure };
}
