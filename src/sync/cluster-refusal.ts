/**
 * The answers of Pomerium's clustered databroker that mean "this node cannot serve you now",
 * as opposed to an error about the call. Pomerium words them as "<REASON>: <message>" with the
 * same reason in an ErrorInfo detail (domain pomerium.com); the reason prefix is what we read.
 *
 * - CLUSTER_HAS_NO_LEADER (UNAVAILABLE): the node has no elected leader (an election is under
 *   way, or it lost its quorum). Every call fails, in every request mode, the node's own reads
 *   included, until a leader is known. Transient: retried like a connection failure.
 * - NODE_IS_NOT_LEADER (FAILED_PRECONDITION): the call asked for the leader (request mode
 *   "leader"), or wrote in request mode "local", on a follower.
 *
 * Either way another node may serve: the loop backs off and moves on to the next URL.
 */
import { Code, ConnectError } from "@connectrpc/connect";

export type ClusterRefusal = "CLUSTER_HAS_NO_LEADER" | "NODE_IS_NOT_LEADER";

const REFUSALS: ReadonlyMap<ClusterRefusal, Code> = new Map([
  ["CLUSTER_HAS_NO_LEADER", Code.Unavailable],
  ["NODE_IS_NOT_LEADER", Code.FailedPrecondition],
]);

/** The refusal this error is, if it is one (code and reason must both match). */
export function clusterRefusalOf(error: ConnectError): ClusterRefusal | undefined {
  for (const [reason, code] of REFUSALS) {
    if (error.code === code && (error.rawMessage === reason || error.rawMessage.startsWith(`${reason}:`))) return reason;
  }
  return undefined;
}

/** What the state says about a refusal: what the cluster reported, and what the loop does. */
export function clusterRefusalMessage(refusal: ClusterRefusal): string {
  return refusal === "CLUSTER_HAS_NO_LEADER"
    ? "the databroker cluster reported it has no leader (CLUSTER_HAS_NO_LEADER: an election is under way, or this node lost its quorum): trying the next URL"
    : "the databroker node reported it is not the leader (NODE_IS_NOT_LEADER): trying the next URL";
}
