/**
 * The diff of a snapshot against the held tables: which held records it deletes, which it keeps
 * (newer than anything it can know of), and which of the records it lists are real differences
 * (the upserts a subscriber sees). Runs in slices (sliced-work.ts), before the swap.
 *
 * Invariants:
 * - within one server version a record never moves backwards: a held record the snapshot lacks,
 *   or lists at a lower or equal version, is kept when the same server holds it newer than what
 *   the listing can know of (its horizon), and put back at the swap;
 * - what a lagging snapshot lists that the replica saw deleted stays out: a record it lists but
 *   the replica does not hold is stale when remembered deleted at or after its version, or at or
 *   below the floor (every change up to the floor is reflected, so a live record there would be
 *   held);
 * - only real differences are reported: a listed record with the held content is no upsert;
 * - every held record the swap drops has its bytes counted per slab (`dead`), for the release.
 */
import type { ByteSlab } from "./byte-slab.js";
import { compareVersion, recordSlab, sameRecordBytes, type CachedRecord } from "./cached-record.js";
import { filterList, RecordList } from "./record-list.js";
import { SLICE_MASK } from "./sliced-work.js";
import type { SyncScope } from "./sync-scopes.js";
import type { TypeTable } from "./type-table.js";

/**
 * How a completed snapshot relates to what the replica knows of the same server version.
 * `lagging`: its latest_record_version is behind the held position (a lagging instance, a
 * standby): the held tables know more, so records it lists that the replica saw deleted, or
 * that are at or below the floor and not held, are stale and stay out.
 */
export interface SnapshotMerge {
  readonly serverVersion: bigint;
  /** max(latest_record_version, highest listed version): held records at or below it that the listing lacks were deleted. */
  readonly horizon: bigint;
  readonly lagging: SyncScope | undefined;
}

/** One type's table on the side, with the held table it will replace and what differs from it. */
export interface SideTable {
  readonly table: TypeTable;
  old: TypeTable | undefined;
  /** Added records that are not the held object, in order; `exact` unless an id came twice. */
  upserts: RecordList;
  exact: boolean;
}

export interface BuiltTable {
  readonly table: TypeTable;
  readonly old: TypeTable | undefined;
  /** Held records the snapshot cannot know about (newer than its versions): put back at the swap. */
  readonly keeps: RecordList;
  /** The batch's upserts and deletes, as lists (change-batch.ts makes the arrays when read). */
  readonly upserts: RecordList;
  readonly deletes: RecordList;
  /** Bytes of held records the swap drops, per slab. */
  readonly dead: ReadonlyMap<ByteSlab, number>;
}

/**
 * The differences between a side table and the held one, in slices: held records the
 * snapshot lacks are deletes, unless the same server holds them newer than the listing's
 * horizon (then kept, like a held record at or above the incoming version); and for a lagging
 * snapshot, listed records the replica knows to be deleted (remembered, or at or below its
 * floor and not held) stay out.
 * @param heldScope the scope of the held table of that type (its server version decides "same server")
 */
export function* diffSteps(s: SideTable, merge: SnapshotMerge, heldScope: SyncScope | undefined): Generator<void, BuiltTable, void> {
  const { table, old } = s;
  const { horizon, lagging } = merge;
  const sameServer = old !== undefined && heldScope?.serverVersion === merge.serverVersion;
  // Lists, not arrays: a resync can drop or keep a whole table (record-list.ts).
  const keeps = new RecordList();
  const deleted = new RecordList();
  let replaced: Set<string> | undefined;
  // Bytes the swap drops, per slab (consecutive records mostly share one).
  const dead = new Map<ByteSlab, number>();
  let deadSlab: ByteSlab | undefined;
  let deadBytes = 0;
  const drop = (record: CachedRecord): void => {
    const slab = recordSlab(record);
    if (slab !== deadSlab) {
      if (deadSlab !== undefined) dead.set(deadSlab, (dead.get(deadSlab) ?? 0) + deadBytes);
      deadSlab = slab;
      deadBytes = 0;
    }
    deadBytes += record.dataLength;
  };
  if (old !== undefined) {
    let n = 0;
    for (const previous of old.values()) {
      if ((++n & SLICE_MASK) === 0) yield;
      const next = table.peek(previous.id);
      if (next === undefined) {
        if (sameServer && compareVersion(previous, horizon) > 0) keeps.push(previous);
        else {
          deleted.push(previous);
          drop(previous);
        }
      } else if (next !== previous) {
        if (sameServer && compareVersion(previous, next) >= 0) {
          keeps.push(previous);
          (replaced ??= new Set()).add(previous.id);
        } else {
          drop(previous);
        }
      }
    }
    if (deadSlab !== undefined) dead.set(deadSlab, (dead.get(deadSlab) ?? 0) + deadBytes);
  }
  const filter = !s.exact || replaced !== undefined || lagging !== undefined;
  const upserts = yield* filterList(
    s.upserts,
    filter
      ? (record) => {
          if (table.peek(record.id) !== record || replaced?.has(record.id) === true) return false;
          const before = old?.peek(record.id);
          if (before === record || (before !== undefined && sameContentAs(before, record))) return false;
          if (lagging !== undefined && before === undefined && staleForLaggingSnapshot(lagging, record)) {
            table.delete(record.id);
            const slab = recordSlab(record);
            dead.set(slab, (dead.get(slab) ?? 0) + record.dataLength);
            return false;
          }
          return true;
        }
      : undefined,
  );
  return { table, old, keeps, upserts, deletes: deleted, dead };
}

/**
 * A record a lagging snapshot lists but the replica does not hold is stale when the replica has
 * seen it deleted at or after its version, or when its version is at or below the floor (every
 * change up to the floor is reflected, so a live record there would be held).
 */
function staleForLaggingSnapshot(scope: SyncScope, record: CachedRecord): boolean {
  if (compareVersion(record, scope.floor) <= 0) return true;
  const deletedAt = scope.deletions.deletedAt(record.type, record.id);
  return deletedAt !== undefined && compareVersion(record, deletedAt) <= 0;
}

/** Same type and same bytes: what a subscriber could see of the record is the same. */
function sameContentAs(a: CachedRecord, b: CachedRecord): boolean {
  return a.typeUrl === b.typeUrl && sameRecordBytes(a, b);
}
