/**
 * The sync loop's lifecycle as an explicit, immutable state machine.
 *
 *   idle --start--> connecting --connected--> snapshotting   (no position: SyncLatest)
 *                              --connected--> live           (position held: resume Sync)
 *   snapshotting --streamMessage--> snapshotting --snapshotReceived--> live
 *   live --streamMessage--> live                              (a change batch: real progress)
 *   live --refresh--> live                                    (a new Sync from an older position)
 *   connecting/snapshotting/live --aborted|cancelledByServer|refused|connectionReset|streamEnded|idleTimeout|error|unauthenticated--> backing-off
 *   backing-off --retry--> connecting
 *   any --close--> closed (terminal)
 *
 * `connecting` means what it says: the HTTP/2 connection to the current URL is being opened
 * (or verified with a PING), so `live` is only shown for a Sync stream on a connected session.
 * Every path that loops back to a request passes through backing-off, whose timer is the guard
 * (no hot loops); how long it waits depends on why (see RetryKind). ABORTED, a server-side
 * CANCELLED and a change the replica refused forget the position, so the retry is a resync from
 * SyncLatest; the other failures keep it and resume Sync. `refresh` restarts a healthy Sync
 * stream from an older position it held (re-reading a short window catches commits that became
 * visible late, and a new stream brings the type's current options).
 *
 * `TRANSITIONS` is typed as a complete Record over (state, event): adding a state or an event
 * fails to compile until every pair is decided. The pure `transition` function applies it.
 */
import type { ClusterRefusal } from "./cluster-refusal.js";

export const SYNC_STATE_NAMES = ["idle", "connecting", "snapshotting", "live", "backing-off", "closed"] as const;
export type SyncStateName = (typeof SYNC_STATE_NAMES)[number];

export const SYNC_EVENT_TYPES = [
  "start",
  "connected",
  "streamMessage",
  "snapshotReceived",
  "aborted",
  "cancelledByServer",
  "refused",
  "connectionReset",
  "streamEnded",
  "idleTimeout",
  "error",
  "unauthenticated",
  "refresh",
  "retry",
  "close",
] as const;
export type SyncEventType = (typeof SYNC_EVENT_TYPES)[number];

/** Inputs to the machine. They carry only what the machine's context needs, never record data. */
export type SyncMachineEvent =
  | { readonly type: "start" }
  /** The HTTP/2 connection to the current URL is up: open the stream. */
  | { readonly type: "connected" }
  /** Messages arrived on the open stream; `highestRecordVersion` is set for Sync change batches. */
  | { readonly type: "streamMessage"; readonly at: number; readonly highestRecordVersion?: bigint }
  /** SyncLatest finished with its versions message: the snapshot is complete. */
  | { readonly type: "snapshotReceived"; readonly at: number; readonly serverVersion: bigint; readonly recordVersion: bigint }
  /** ABORTED: the server version changed or our record version was compacted away. */
  | { readonly type: "aborted"; readonly message: string }
  /** CANCELLED that we did not cause: the server's Clear (or a shutdown) cancelled the stream. */
  | { readonly type: "cancelledByServer"; readonly message: string }
  /** The replica refused what the stream delivered (it no longer matches the position): resync. */
  | { readonly type: "refused"; readonly message: string }
  /**
   * The stream failed because this client reset its connection (a failover after another
   * stream's connection failure): not the server's doing, so the position is kept.
   */
  | { readonly type: "connectionReset" }
  /**
   * The stream ended OK (only expected of a Sync stream that was told to wait, e.g. a proxy's
   * idle timeout). `healthy`: it had been open long enough not to count as a failure.
   */
  | { readonly type: "streamEnded"; readonly healthy: boolean }
  /** Nothing arrived for longer than the idle limit. */
  | { readonly type: "idleTimeout"; readonly idleMs: number }
  | {
      readonly type: "error";
      readonly message: string;
      readonly connectionFailure: boolean;
      /** A cluster node said it cannot serve (cluster-refusal.ts): back off, then the next URL. */
      readonly clusterRefusal?: ClusterRefusal;
    }
  /** UNAUTHENTICATED or PERMISSION_DENIED: almost always a shared secret mismatch. */
  | { readonly type: "unauthenticated"; readonly message: string }
  /** Restart the live Sync from `from`, a position this stream held (at or below the current one). */
  | { readonly type: "refresh"; readonly from: bigint }
  /** The backoff timer fired. */
  | { readonly type: "retry" }
  | { readonly type: "close" };

/**
 * How backing-off waits, by why the stream stopped (retry-delay.ts):
 * - "resync": the position is gone (ABORTED, the server's Clear, a refused change): at once,
 *   unless resyncs keep failing fast (then the fast-loop delay);
 * - "resume": a healthy stream ended or went idle: a short jitter, the attempt count reset;
 * - "reconnect": the connection failed (refused, reset, TLS, timeout), or a cluster node has no
 *   leader: full-jitter backoff capped low (`maxReconnectDelayMs`), so a databroker (or a leader)
 *   that comes back is used again within that bound;
 * - "backoff": any other failure: full-jitter exponential backoff up to `maxDelayMs`;
 * - "auth": a rejected token: the long fixed delay.
 */
export type RetryKind = "resync" | "resume" | "reconnect" | "backoff" | "auth";

export interface SyncState {
  readonly name: SyncStateName;
  /** Bumped on every change of state (each starts a new effect): inputs from older epochs are stale. */
  readonly epoch: number;
  /** The position to resume from; undefined means the next attempt is a fresh SyncLatest. */
  readonly serverVersion: bigint | undefined;
  readonly recordVersion: bigint;
  /** Consecutive retries since the last real progress (completed snapshot or change received). */
  readonly attempt: number;
  readonly lastError: string | undefined;
  readonly lastMessageAt: number | undefined;
  /** Set while backing-off. */
  readonly retryKind: RetryKind | undefined;
}

export const INITIAL_SYNC_STATE: SyncState = Object.freeze({
  name: "idle",
  epoch: 0,
  serverVersion: undefined,
  recordVersion: 0n,
  attempt: 0,
  lastError: undefined,
  lastMessageAt: undefined,
  retryKind: undefined,
});

/**
 * What a (state, event) pair does: "ignore" leaves the state untouched (the event is
 * irrelevant or stale there), "resume" picks live or snapshotting by whether a position is held.
 */
export type TransitionTarget = SyncStateName | "resume" | "ignore";

const STREAM_FAILURES = {
  aborted: "backing-off",
  cancelledByServer: "backing-off",
  refused: "backing-off",
  connectionReset: "backing-off",
  streamEnded: "backing-off",
  idleTimeout: "backing-off",
  error: "backing-off",
  unauthenticated: "backing-off",
} as const satisfies Partial<Record<SyncEventType, TransitionTarget>>;

export const TRANSITIONS: { readonly [S in SyncStateName]: { readonly [E in SyncEventType]: TransitionTarget } } = {
  idle: {
    start: "connecting",
    connected: "ignore",
    streamMessage: "ignore",
    snapshotReceived: "ignore",
    aborted: "ignore",
    cancelledByServer: "ignore",
    refused: "ignore",
    connectionReset: "ignore",
    streamEnded: "ignore",
    idleTimeout: "ignore",
    error: "ignore",
    unauthenticated: "ignore",
    refresh: "ignore",
    retry: "ignore",
    close: "closed",
  },
  connecting: {
    start: "ignore",
    connected: "resume",
    streamMessage: "ignore",
    snapshotReceived: "ignore",
    ...STREAM_FAILURES,
    refresh: "ignore",
    retry: "ignore",
    close: "closed",
  },
  snapshotting: {
    start: "ignore",
    connected: "ignore",
    streamMessage: "snapshotting",
    snapshotReceived: "live",
    ...STREAM_FAILURES,
    refresh: "ignore",
    retry: "ignore",
    close: "closed",
  },
  live: {
    start: "ignore",
    connected: "ignore",
    streamMessage: "live",
    snapshotReceived: "ignore",
    ...STREAM_FAILURES,
    refresh: "live",
    retry: "ignore",
    close: "closed",
  },
  "backing-off": {
    start: "ignore",
    connected: "ignore",
    streamMessage: "ignore",
    snapshotReceived: "ignore",
    aborted: "ignore",
    cancelledByServer: "ignore",
    refused: "ignore",
    connectionReset: "ignore",
    streamEnded: "ignore",
    idleTimeout: "ignore",
    error: "ignore",
    unauthenticated: "ignore",
    refresh: "ignore",
    retry: "connecting",
    close: "closed",
  },
  closed: {
    start: "ignore",
    connected: "ignore",
    streamMessage: "ignore",
    snapshotReceived: "ignore",
    aborted: "ignore",
    cancelledByServer: "ignore",
    refused: "ignore",
    connectionReset: "ignore",
    streamEnded: "ignore",
    idleTimeout: "ignore",
    error: "ignore",
    unauthenticated: "ignore",
    refresh: "ignore",
    retry: "ignore",
    close: "ignore",
  },
};

/** The message shown when the databroker rejects our token. Never includes the secret. */
export function unauthenticatedMessage(serverMessage: string): string {
  return (
    `the databroker rejected our token (${serverMessage}): ` +
    "check that sharedSecret matches Pomerium's shared_secret"
  );
}

function lastErrorFor(event: SyncMachineEvent): string | undefined {
  switch (event.type) {
    case "aborted":
      return `sync aborted by the server (${event.message}): resyncing`;
    case "cancelledByServer":
      return `stream cancelled by the server (${event.message}): resyncing`;
    case "refused":
      return `the replica refused a change (${event.message}): resyncing`;
    case "connectionReset":
      return "connection reset by this client after another stream's connection failure: resuming";
    case "streamEnded":
      return event.healthy ? "stream ended: resuming" : "stream ended right after it opened: backing off";
    case "idleTimeout":
      return `no message for ${event.idleMs} ms: reconnecting`;
    case "error":
      return event.message;
    case "unauthenticated":
      return unauthenticatedMessage(event.message);
    default:
      return undefined;
  }
}

/**
 * A state with every field given: one allocation, always the same shape. Every change the loop
 * takes in is a transition, so this is on each change's path; the object spreads it replaces
 * (two per transition) made an intermediate object and a slow generic copy each time.
 */
function stateOf(
  name: SyncStateName,
  epoch: number,
  serverVersion: bigint | undefined,
  recordVersion: bigint,
  attempt: number,
  lastError: string | undefined,
  lastMessageAt: number | undefined,
  retryKind: RetryKind | undefined,
): SyncState {
  return { name, epoch, serverVersion, recordVersion, attempt, lastError, lastMessageAt, retryKind };
}

/**
 * The pure transition function. Returns the very same object when the event is ignored, so
 * callers can detect "no transition" by identity.
 */
export function transition(state: SyncState, event: SyncMachineEvent): SyncState {
  const target = TRANSITIONS[state.name][event.type];
  if (target === "ignore") return state;
  const to: SyncStateName = target === "resume" ? (state.serverVersion === undefined ? "snapshotting" : "live") : target;
  // A refresh stays live but replaces the stream: a new effect, so a new epoch.
  const epoch = to === state.name && event.type !== "refresh" ? state.epoch : state.epoch + 1;
  const { serverVersion, recordVersion, attempt, lastError, lastMessageAt, retryKind } = state;

  switch (event.type) {
    case "start":
    case "connected":
    case "retry":
    case "close":
      return stateOf(to, epoch, serverVersion, recordVersion, attempt, lastError, lastMessageAt, undefined);
    case "streamMessage": {
      const highest = event.highestRecordVersion;
      const advanced = highest !== undefined && highest > recordVersion ? highest : recordVersion;
      // A change batch in live is real progress; snapshot messages are not (yet).
      const progress = state.name === "live" && highest !== undefined;
      return stateOf(to, epoch, serverVersion, advanced, progress ? 0 : attempt, progress ? undefined : lastError, event.at, retryKind);
    }
    case "snapshotReceived":
      return stateOf(to, epoch, event.serverVersion, event.recordVersion, 0, undefined, event.at, retryKind);
    case "refresh":
      // Never past the position: a refresh only re-reads.
      return stateOf(to, epoch, serverVersion, event.from < recordVersion ? event.from : recordVersion, attempt, lastError, lastMessageAt, retryKind);
    case "aborted":
    case "cancelledByServer":
    case "refused":
      // The position is no good any more: the retry starts over with SyncLatest, at once.
      return stateOf(to, epoch, undefined, 0n, attempt + 1, lastErrorFor(event), lastMessageAt, "resync");
    case "streamEnded":
      // A clean end of a healthy stream (a proxy closing idle streams) is not a failure.
      return event.healthy
        ? stateOf(to, epoch, serverVersion, recordVersion, 0, lastErrorFor(event), lastMessageAt, "resume")
        : stateOf(to, epoch, serverVersion, recordVersion, attempt + 1, lastErrorFor(event), lastMessageAt, "backoff");
    case "idleTimeout":
      return stateOf(to, epoch, serverVersion, recordVersion, 0, lastErrorFor(event), lastMessageAt, "resume");
    case "connectionReset":
      return stateOf(to, epoch, serverVersion, recordVersion, attempt, lastErrorFor(event), lastMessageAt, "resume");
    case "error":
      return stateOf(
        to,
        epoch,
        serverVersion,
        recordVersion,
        attempt + 1,
        lastErrorFor(event),
        lastMessageAt,
        event.connectionFailure || event.clusterRefusal === "CLUSTER_HAS_NO_LEADER" ? "reconnect" : "backoff",
      );
    case "unauthenticated":
      return stateOf(to, epoch, serverVersion, recordVersion, attempt + 1, lastErrorFor(event), lastMessageAt, "auth");
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}
