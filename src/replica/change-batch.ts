/** What the replica emits after each event: per type, the net difference it made. */
import type { CachedRecord } from "./cached-record.js";

export type ChangeBatchKind = "snapshot" | "change" | "resync";

/**
 * The net effect of one event on one type's table: `upserts` are records that are new or whose
 * version or bytes changed (their final state), `deletes` the records that are gone (as they were
 * last held). A "snapshot" batch is a type's first load; a "resync" batch replaces a table that
 * was already served and holds only the real differences.
 */
export interface ChangeBatch {
  readonly kind: ChangeBatchKind;
  readonly type: string;
  readonly serverVersion: bigint;
  readonly recordVersion: bigint;
  readonly upserts: readonly CachedRecord[];
  readonly deletes: readonly CachedRecord[];
}

/** Called synchronously after the replica has applied an event; reads already see the new state. */
export type ChangeListener = (batch: ChangeBatch) => void;
