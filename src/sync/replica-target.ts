/**
 * Where a sync loop puts what it reads: a streamed snapshot (SyncLatest, batch by batch, then
 * completed in slices), and the Sync stream's events, applied synchronously in the step that
 * advances the loop's position. If the target refuses an event (throws), the position it would
 * have reached is not taken: the loop resyncs. The replica is one (`replicaTarget`); the sync
 * module itself does not depend on the replica.
 */
import type { Replica } from "../replica/replica.js";
import type { ReplicaEvent } from "../replica/replica-events.js";
import type { SnapshotSink } from "./snapshot-sink.js";

export interface ReplicaTarget {
  /** Starts a snapshot of `type` ("" = every type); a newer one supersedes it. */
  begin(type: string): SnapshotSink;
  /** Applies a change, options or floor event; throws when it cannot (the loop then resyncs). */
  apply(event: ReplicaEvent): void;
}

export interface ReplicaTargetHooks {
  /** A snapshot swapped in or a change applied: how many records, and the replica's work in seconds. */
  readonly onApplied?: (recordCount: number, workSeconds: number) => void;
}

/**
 * The replica as a loop's target. Reports how many records each completed snapshot or change
 * held and how long the replica spent on it (the work, not the wall time between slices).
 */
export function replicaTarget(replica: Replica, hooks: ReplicaTargetHooks = {}): ReplicaTarget {
  const { onApplied } = hooks;
  return {
    begin(type: string): SnapshotSink {
      const builder = replica.beginSnapshot(type);
      let records = 0;
      let workMs = 0;
      return {
        add(chunk) {
          const started = performance.now();
          builder.add(chunk);
          workMs += performance.now() - started;
          records += chunk.length;
        },
        finishInSteps(versions, options) {
          const completion = builder.finishInSteps(versions, options);
          return {
            prepare(budgetMs) {
              const started = performance.now();
              const done = completion.prepare(budgetMs);
              workMs += performance.now() - started;
              return done;
            },
            swap() {
              const started = performance.now();
              const batches = completion.swap();
              workMs += performance.now() - started;
              onApplied?.(records, workMs / 1000);
              return batches;
            },
          };
        },
        discard: () => builder.discard(),
      };
    },
    apply(event) {
      const started = performance.now();
      replica.apply(event);
      if (event.kind === "change") onApplied?.(event.records.length, (performance.now() - started) / 1000);
    },
  };
}
