/** What state$ reports: the cache's readiness and each type stream's condition. */
import type { SyncStateName } from "../sync/sync-state-machine.js";

export interface CacheStreamState {
  /** The type URL this stream mirrors ("" = every type). */
  readonly type: string;
  /** The sync loop's state: idle, connecting, snapshotting, live, backing-off, closed. */
  readonly state: SyncStateName;
  /** The databroker URL in use (or last used). */
  readonly url: string | undefined;
  readonly serverVersion: bigint | undefined;
  /** The record version reads of this type reflect (undefined before its first snapshot). */
  readonly recordVersion: bigint | undefined;
  /**
   * The newest record version known to exist on the server: from this stream and from server
   * answers the cache has seen (getConsistent). Versions are shared by all types, so for a
   * quiet type this can run ahead of what its stream will ever deliver.
   */
  readonly latestKnownRecordVersion: bigint | undefined;
  /** latestKnownRecordVersion - recordVersion (0n when caught up). */
  readonly lag: bigint | undefined;
  /** Consecutive retries since the last progress. */
  readonly attempt: number;
  /** The last error's message (never holds the secret or record contents). */
  readonly lastError: string | undefined;
  /** Date.now() of the last message received on the stream. */
  readonly lastMessageAt: number | undefined;
  /** While backing off: milliseconds until the next attempt. */
  readonly retryInMs: number | undefined;
  /**
   * The clock reading (`clock`, else Date.now()) as of which this stream was last known caught
   * up: its snapshot's request, a message received while live, or a probe answered while quiet.
   */
  readonly caughtUpAt: number | undefined;
  /**
   * Where the stream started: "snapshot" (a warm start from the `snapshot` file, then Sync from
   * its saved position) or "server" (SyncLatest); undefined while the snapshot file is being read.
   */
  readonly startedFrom: "snapshot" | "server" | undefined;
  /** For a warm start: how old the snapshot was when it was loaded, in milliseconds. */
  readonly snapshotAgeMs: number | undefined;
  /** Whether the stream has been current with the server (its backlog read after a warm start). */
  readonly caughtUp: boolean;
  /**
   * With the `cluster` option: the request mode of this stream ("default": the node forwards it
   * to the leader; "local": the node at `url` answers from its own copy). Undefined otherwise.
   */
  readonly requestMode: "default" | "local" | undefined;
  /**
   * Local mode: how many record versions the node at `url` had not copied from the leader at
   * its last check (0n: caught up). Undefined when not knowable.
   */
  readonly behindLeader: bigint | undefined;
}

export interface CacheState {
  /** Sticky: true once every mirrored type had its first snapshot, and never false again. */
  readonly ready: boolean;
  readonly closed: boolean;
  readonly streams: readonly CacheStreamState[];
  /**
   * How stale reads may be, as of this state's emission: milliseconds since the stalest stream's
   * `caughtUpAt` (undefined until each was caught up once). `cache.stalenessMs()` gives it now.
   */
  readonly stalenessMs: number | undefined;
  /** The `maxStalenessMs` option (undefined: no bound). */
  readonly maxStalenessMs: number | undefined;
  /** True while past `maxStalenessMs` (reads throw StaleCacheError); always false without a bound. */
  readonly stale: boolean;
}
