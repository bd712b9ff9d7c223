/**
 * The sync loop's lifecycle as an explicit, immutable state machine.
 *
 *   idle --start--> connecting --connected--> snapshotting   (no position: SyncLatest)
 *                              --connected--> live           (position held: resume Sync)
 *   snapshotting --streamMessage--> snapshotting --snapshotReceived--> live
 *   live --streamMessage--> live                              (a change batch: real progress)
 *   connecting/snapshotting/live --aborted|cancelledByServer|streamEnded|idleTimeout|error|unauthenticated--> backing-off
 *   backing-off --retry--> connecting
 *   any --close--> closed (terminal)
 *
 * `connecting` means what it says: the HTTP/2 connection to the current URL is being opened
 * (or verified with a PING), so `live` is only shown for a Sync stream on a connected session.
 * Every path that loops back to a request passes through backing-off, so every retry waits
 * for the backoff (no hot loops). ABORTED and a server-side CANCELLED forget the position,
 * so the retry is a resync from SyncLatest; the other failures keep it and resume Sync.
 *
 * `TRANSITIONS` is typed as a complete Record over (state, event): adding a state or an event
 * fails to compile until every pair is decided. The pure `transition` function applies it.
 */

export const SYNC_STATE_NAMES = ["idle", "connecting", "snapshotting", "live", "backing-off", "closed"] as const;
export type SyncStateName = (typeof SYNC_STATE_NAMES)[number];

export const SYNC_EVENT_TYPES = [
  "start",
  "connected",
  "streamMessage",
  "snapshotReceived",
  "aborted",
  "cancelledByServer",
  "streamEnded",
  "idleTimeout",
  "error",
  "unauthenticated",
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
  /** The stream ended OK (only expected of a Sync stream that was told to wait). */
  | { readonly type: "streamEnded" }
  /** Nothing arrived for longer than the idle limit. */
  | { readonly type: "idleTimeout"; readonly idleMs: number }
  | { readonly type: "error"; readonly message: string; readonly connectionFailure: boolean }
  /** UNAUTHENTICATED or PERMISSION_DENIED: almost always a shared secret mismatch. */
  | { readonly type: "unauthenticated"; readonly message: string }
  /** The backoff timer fired. */
  | { readonly type: "retry" }
  | { readonly type: "close" };

/** How backing-off waits: the jittered backoff, or the long fixed delay for auth failures. */
export type RetryKind = "backoff" | "auth";

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
    streamEnded: "ignore",
    idleTimeout: "ignore",
    error: "ignore",
    unauthenticated: "ignore",
    retry: "ignore",
    close: "closed",
  },
  connecting: {
    start: "ignore",
    connected: "resume",
    streamMessage: "ignore",
    snapshotReceived: "ignore",
    ...STREAM_FAILURES,
    retry: "ignore",
    close: "closed",
  },
  snapshotting: {
    start: "ignore",
    connected: "ignore",
    streamMessage: "snapshotting",
    snapshotReceived: "live",
    ...STREAM_FAILURES,
    retry: "ignore",
    close: "closed",
  },
  live: {
    start: "ignore",
    connected: "ignore",
    streamMessage: "live",
    snapshotReceived: "ignore",
    ...STREAM_FAILURES,
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
    streamEnded: "ignore",
    idleTimeout: "ignore",
    error: "ignore",
    unauthenticated: "ignore",
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
    streamEnded: "ignore",
    idleTimeout: "ignore",
    error: "ignore",
    unauthenticated: "ignore",
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
    case "streamEnded":
      return "stream ended: resuming";
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
 * The pure transition function. Returns the very same object when the event is ignored, so
 * callers can detect "no transition" by identity.
 */
export function transition(state: SyncState, event: SyncMachineEvent): SyncState {
  const target = TRANSITIONS[state.name][event.type];
  if (target === "ignore") return state;
  const to: SyncStateName = target === "resume" ? (state.serverVersion === undefined ? "snapshotting" : "live") : target;
  const epoch = to === state.name ? state.epoch : state.epoch + 1;
  const base = { ...state, name: to, epoch };

  switch (event.type) {
    case "start":
    case "connected":
    case "retry":
    case "close":
      return { ...base, retryKind: undefined };
    case "streamMessage": {
      const advanced =
        event.highestRecordVersion !== undefined && event.highestRecordVersion > state.recordVersion
          ? event.highestRecordVersion
          : state.recordVersion;
      // A change batch in live is real progress; snapshot messages are not (yet).
      const progress = state.name === "live" && event.highestRecordVersion !== undefined;
      return {
        ...base,
        recordVersion: advanced,
        lastMessageAt: event.at,
        attempt: progress ? 0 : state.attempt,
        lastError: progress ? undefined : state.lastError,
      };
    }
    case "snapshotReceived":
      return {
        ...base,
        serverVersion: event.serverVersion,
        recordVersion: event.recordVersion,
        lastMessageAt: event.at,
        attempt: 0,
        lastError: undefined,
      };
    case "aborted":
    case "cancelledByServer":
      // The position is no good any more: the retry starts over with SyncLatest.
      return {
        ...base,
        serverVersion: undefined,
        recordVersion: 0n,
        attempt: state.attempt + 1,
        lastError: lastErrorFor(event),
        retryKind: "backoff",
      };
    case "streamEnded":
    case "idleTimeout":
    case "error":
      return { ...base, attempt: state.attempt + 1, lastError: lastErrorFor(event), retryKind: "backoff" };
    case "unauthenticated":
      return { ...base, attempt: state.attempt + 1, lastError: lastErrorFor(event), retryKind: "auth" };
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}
