/** What the replica emits after each event: per type, the net difference it made. */
import type { CachedRecord } from "./cached-record.js";
import type { RecordList } from "./record-list.js";

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

/** The lists behind the batches made by {@link listedBatch}. */
const listsOf = new WeakMap<ChangeBatch, { readonly upserts: RecordList; readonly deletes: RecordList }>();

/**
 * A batch whose `upserts` and `deletes` are made from record lists when first read, frozen, and
 * the same arrays on every later read. A snapshot's batch lists a whole table, and its flat array
 * is 8 MB of fresh memory per million records, allocated in one step: a batch nobody reads (no
 * subscriber) never pays for it, and a subscriber pays for it when its delivery first reads it,
 * outside the sync loop. The arrays are enumerable own properties (getters), so spreading,
 * comparing or serialising the batch sees them like any other field.
 */
export function listedBatch(kind: ChangeBatchKind, type: string, serverVersion: bigint, recordVersion: bigint, upserts: RecordList, deletes: RecordList): ChangeBatch {
  let upsertArray: readonly CachedRecord[] | undefined;
  let deleteArray: readonly CachedRecord[] | undefined;
  const batch: ChangeBatch = {
    kind,
    type,
    serverVersion,
    recordVersion,
    get upserts() {
      return (upsertArray ??= Object.freeze(upserts.toArray()));
    },
    get deletes() {
      return (deleteArray ??= Object.freeze(deletes.toArray()));
    },
  };
  listsOf.set(batch, { upserts, deletes });
  return batch;
}

/**
 * Freezes a batch before subscribers share it: the batch, and its arrays unless they are made on
 * first read (already frozen then, and not made here).
 */
export function freezeBatch(batch: ChangeBatch): void {
  if (!listsOf.has(batch)) {
    Object.freeze(batch.upserts);
    Object.freeze(batch.deletes);
  }
  Object.freeze(batch);
}

/** Calls `fn` with each upsert and then each delete, without making the batch's arrays. */
export function forEachBatchRecord(batch: ChangeBatch, fn: (record: CachedRecord) => void): void {
  const lists = listsOf.get(batch);
  if (lists === undefined) {
    for (const record of batch.upserts) fn(record);
    for (const record of batch.deletes) fn(record);
    return;
  }
  lists.upserts.forEach(fn);
  lists.deletes.forEach(fn);
}
