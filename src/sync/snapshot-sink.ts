/**
 * Where a SyncLatest goes as it streams: the loop adds each batch of records as it arrives and,
 * once the Versions message is in, completes the snapshot in slices, yielding to the event loop
 * between them, before it moves on to Sync (see ReplicaTarget in replica-target.ts).
 */
import type { Options } from "../../gen/databroker/databroker_pb.js";
import type { RawRecord } from "../replica/replica-events.js";

export interface SnapshotSink {
  add(records: readonly RawRecord[]): void;
  /**
   * Completes with the final versions: `prepare(budgetMs)` until it returns true, then `swap()`
   * (short; the loop calls it in the same step as its move to Sync). Both may throw Aborted.
   */
  finishInSteps(versions: { readonly serverVersion: bigint; readonly recordVersion: bigint }, options: ReadonlyMap<string, Options>): SnapshotSwap;
  /** The stream failed or the loop left the snapshot: nothing of it may take effect. */
  discard(): void;
}

export interface SnapshotSwap {
  prepare(budgetMs: number): boolean;
  swap(): unknown;
}

/** How long one slice of snapshot completion may hold the event loop. */
export const SNAPSHOT_SLICE_MS = 4;
