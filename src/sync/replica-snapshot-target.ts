/**
 * Feeds a SyncLoop's SyncLatest straight into a replica's snapshot builder (see
 * snapshot-sink.ts), and reports how many records a completed snapshot held and how long the
 * replica spent on it (the work, not the wall time between slices), for metrics.
 */
import type { Replica } from "../replica/replica.js";
import type { SnapshotSink, SnapshotTarget } from "./snapshot-sink.js";

export function replicaSnapshotTarget(replica: Replica, onCompleted?: (recordCount: number, workSeconds: number) => void): SnapshotTarget {
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
              onCompleted?.(records, workMs / 1000);
              return batches;
            },
          };
        },
        discard: () => builder.discard(),
      };
    },
  };
}
