/** Starts a sync loop and records everything it emits, for assertions. */
import type { ReplicaEvent } from "../../src/replica/replica-events.js";
import type { SyncLoop, SyncStatus } from "../../src/sync/sync-loop.js";

export function startRecording(loop: SyncLoop): { loop: SyncLoop; events: ReplicaEvent[]; statuses: SyncStatus[] } {
  const events: ReplicaEvent[] = [];
  const statuses: SyncStatus[] = [];
  loop.events$.subscribe((e) => events.push(e));
  loop.status$.subscribe((s) => statuses.push(s));
  loop.start();
  return { loop, events, statuses };
}
