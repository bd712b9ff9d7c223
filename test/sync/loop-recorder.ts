/**
 * A replica target that records what a sync loop delivers, for assertions: each completed
 * snapshot as one `snapshot` event (at its swap, as a replica would take it), then change,
 * options and floor events in order. `refuse` makes `apply` throw, as a replica that refuses an
 * event would.
 */
import type { Options } from "../../gen/databroker/databroker_pb.js";
import type { RawRecord, ReplicaEvent } from "../../src/replica/replica-events.js";
import type { ReplicaTarget } from "../../src/sync/replica-target.js";
import type { SyncLoop, SyncLoopOptions, SyncStatus } from "../../src/sync/sync-loop.js";

export interface RecordingTarget extends ReplicaTarget {
  readonly events: ReplicaEvent[];
  /** Return an error to refuse the event (it is not recorded then). */
  refuse: ((event: ReplicaEvent) => Error | undefined) | undefined;
}

export function recordingTarget(): RecordingTarget {
  const events: ReplicaEvent[] = [];
  const target: RecordingTarget = {
    events,
    refuse: undefined,
    begin(type) {
      const records: RawRecord[] = [];
      return {
        add: (chunk) => void records.push(...chunk),
        finishInSteps: (versions, options: ReadonlyMap<string, Options>) => ({
          prepare: () => true,
          swap: () => {
            const event: ReplicaEvent = { kind: "snapshot", type, ...versions, records, options };
            const refused = target.refuse?.(event);
            if (refused !== undefined) throw refused;
            events.push(event);
          },
        }),
        discard: () => undefined,
      };
    },
    apply(event) {
      const refused = target.refuse?.(event);
      if (refused !== undefined) throw refused;
      events.push(event);
    },
  };
  return target;
}

/** Options for a loop whose target is a fresh recording target. */
export function withRecorder<O extends Omit<SyncLoopOptions, "replica">>(options: O): { options: O & { replica: RecordingTarget }; target: RecordingTarget } {
  const target = recordingTarget();
  return { options: { ...options, replica: target }, target };
}

/** Starts a loop and records its statuses; events come from its recording target. */
export function startRecording(loop: SyncLoop, target: RecordingTarget): { loop: SyncLoop; events: ReplicaEvent[]; statuses: SyncStatus[]; target: RecordingTarget } {
  const statuses: SyncStatus[] = [];
  loop.status$.subscribe((s) => statuses.push(s));
  loop.start();
  return { loop, events: target.events, statuses, target };
}
