/**
 * A snapshot in progress: SyncLatest records go into tables built on the side, while reads keep
 * seeing the held tables; finishing it (snapshot-finish.ts) diffs and swaps them in.
 *
 * A snapshot builds its tables on the side. While it does, the live tables of the types it
 * covers do not change (their stream is busy with this SyncLatest), so the diff against them is
 * computed in slices before the swap; a change or options event for a covered type meanwhile
 * (only possible when overlapping streams feed one replica) marks it dirty and the swap then
 * recomputes the diff in one go. A newer snapshot of an overlapping scope supersedes this one.
 *
 * Invariants:
 * - nothing of a snapshot is visible before its swap; a superseded or discarded one leaves the
 *   held tables serving and nothing of itself behind (its side tables and slabs are let go);
 * - a snapshot's lifecycle only moves forward (pending-snapshots.ts): building, then finishing,
 *   then finished; superseded or discarded from either of the first two. Every call out of turn
 *   throws: FailedPrecondition (finished, or records after finishing began), Aborted
 *   (superseded, discarded);
 * - only real differences are reported: a record listed with the content already held
 *   (renumbered under another server version, or re-read from a saved snapshot) takes its new
 *   version silently, and when its version is the same too, the held record itself is kept;
 * - a record's bytes are copied into the snapshot's own slabs (slab-accounting.ts).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Options } from "../../gen/databroker/databroker_pb.js";
import type { SlabWriter } from "./byte-slab.js";
import { compareVersion, sameBytes } from "./cached-record.js";
import type { ChangeBatch } from "./change-batch.js";
import type { PendingSnapshot } from "./pending-snapshots.js";
import { RecordList } from "./record-list.js";
import type { RawRecord } from "./replica-events.js";
import type { ReplicaParts } from "./replica-parts.js";
import { createRecord } from "./slab-accounting.js";
import { drain, SWAP_NEXT, type Slice } from "./sliced-work.js";
import type { SideTable } from "./snapshot-diff.js";
import { finishSnapshot } from "./snapshot-finish.js";
import type { ReplicaVersions } from "./sync-scopes.js";
import { TypeTable } from "./type-table.js";

/** A snapshot being built on the side; see `Replica.beginSnapshot`. */
export interface SnapshotBuilder {
  /** Adds SyncLatest records (data bytes already copied); may be called any number of times. */
  add(records: readonly RawRecord[]): void;
  /** Completes the snapshot with the final Versions and the options seen; swaps and emits. */
  finish(versions: ReplicaVersions, options?: ReadonlyMap<string, Options>): readonly ChangeBatch[];
  /**
   * Completes the snapshot like `finish`, in slices, so a large table never blocks the event
   * loop: call `prepare(budgetMs)` (yielding to the event loop in between) until it returns
   * true, then `swap()`, which swaps the tables in and emits (a short step). Reads see the held
   * tables until the swap. Both throw ConnectError Aborted once the snapshot is superseded or
   * discarded (nothing swapped).
   */
  finishInSteps(versions: ReplicaVersions, options?: ReadonlyMap<string, Options>): SnapshotCompletion;
  /** Drops the snapshot (its stream failed): the held tables stay; later calls throw Aborted. */
  discard(): void;
}

/** The slices of a finishing snapshot; see {@link SnapshotBuilder.finishInSteps}. */
export interface SnapshotCompletion {
  /** Works for about `budgetMs`; true once only the swap is left. */
  prepare(budgetMs: number): boolean;
  /** Swaps the snapshot in and emits its batches (doing in one go what prepare has not); idempotent. */
  swap(): readonly ChangeBatch[];
}

/** One snapshot's side tables and slabs, from its first records to its finish. */
export class SnapshotBuild {
  readonly pending: PendingSnapshot;
  readonly #parts: ReplicaParts;
  #side = new Map<string, SideTable>();
  readonly #writer: SlabWriter;

  /** Starts a snapshot of `type` ("" every type), superseding the overlapping ones in progress. */
  constructor(parts: ReplicaParts, type: string) {
    this.#parts = parts;
    this.pending = parts.pending.start(type);
    this.#writer = parts.slabs.snapshotWriter();
  }

  /** Puts SyncLatest records into the side tables. */
  add(records: readonly RawRecord[]): void {
    const pending = this.pending;
    this.#check();
    if (pending.status !== "building") throw new ConnectError("snapshot is finishing: no more records", Code.FailedPrecondition);
    const type = pending.type;
    const side = this.#side;
    const writer = this.#writer;
    const { tables, indexes, intake } = this.#parts;
    for (const raw of records) {
      // SyncLatest never sends tombstones or other types; ignore any that slip through.
      if (raw.deletedAt !== undefined) continue;
      if (type !== "" && raw.type !== type) continue;
      if (raw.version > pending.maxListed) pending.maxListed = raw.version;
      const data = intake.keptData(raw);
      if (data === undefined) continue;
      let s = side.get(raw.type);
      if (s === undefined) {
        const old = tables.get(raw.type);
        // Start with the held options: when they stay the same, field indexes fill as records come.
        const table = new TypeTable(raw.type, indexes.definitions(raw.type), old?.options);
        side.set(raw.type, (s = { table, old, upserts: new RecordList(), exact: true }));
      }
      const held = s.table.peek(raw.id);
      if (held !== undefined) {
        if (compareVersion(held, raw.version) >= 0) continue;
        s.exact = false; // the earlier one is in upserts: filtered at finish
      }
      const before = s.old?.peek(raw.id);
      const typeUrl = intake.typeUrl(raw.typeUrl);
      const sameContent = before !== undefined && before.typeUrl === typeUrl && sameBytes(before, data);
      // Listed unchanged: the held record itself, its bytes left where they are (slab-accounting.ts).
      const record = sameContent && compareVersion(before, raw.version) === 0 ? before : createRecord(raw, s.table.type, typeUrl, data, writer);
      s.table.put(record);
      // Only real differences are reported: a record listed with the content already held
      // (renumbered under another server version, e.g. by a new cluster leader, or re-read
      // from a saved snapshot) takes its new version silently.
      if (!sameContent) s.upserts.push(record);
    }
  }

  /** Starts finishing: the slices of snapshot-finish.ts, the swap last (nothing is emitted). */
  finish(serverVersion: bigint, recordVersion: bigint, options: ReadonlyMap<string, Options>): Generator<Slice, ChangeBatch[], void> {
    this.#check();
    if (this.pending.status !== "building") throw new ConnectError("snapshot already finishing", Code.FailedPrecondition);
    this.pending.status = "finishing";
    return finishSnapshot(this.#parts, this.pending, this.#side, this.#writer, serverVersion, recordVersion, options);
  }

  /** Drops the snapshot if it is still in progress: the held tables stay. */
  discard(): void {
    const pending = this.pending;
    if (pending.status === "building" || pending.status === "finishing") {
      pending.status = "discarded";
      this.#parts.pending.end(pending);
      this.#side = new Map();
      this.#writer.restart();
    }
  }

  #check(): void {
    const pending = this.pending;
    if (pending.status === "finished") throw new ConnectError("snapshot already finished", Code.FailedPrecondition);
    if (pending.status === "superseded") throw new ConnectError("snapshot superseded by a newer one", Code.Aborted);
    if (pending.status === "discarded") throw new ConnectError("snapshot discarded", Code.Aborted);
  }
}

/**
 * The handle `Replica.beginSnapshot` returns for a build: `finish` drains it, `finishInSteps`
 * steps it within time budgets; both hand the batches to `emit` once swapped.
 */
export function snapshotBuilder(build: SnapshotBuild, emit: (batches: readonly ChangeBatch[]) => void): SnapshotBuilder {
  return {
    add: (records) => build.add(records),
    finish: (versions, options = new Map()) => {
      const batches = drain(build.finish(versions.serverVersion, versions.recordVersion, options));
      emit(batches);
      return batches;
    },
    finishInSteps: (versions, options = new Map()) => {
      const steps = build.finish(versions.serverVersion, versions.recordVersion, options);
      let prepared = false;
      let batches: ChangeBatch[] | undefined;
      const live = (): void => {
        if (build.pending.status === "superseded" || build.pending.status === "discarded") {
          steps.return([]);
          throw new ConnectError(`snapshot ${build.pending.status}`, Code.Aborted);
        }
      };
      return {
        prepare: (budgetMs) => {
          if (prepared || batches !== undefined) return true;
          const deadline = performance.now() + budgetMs;
          for (;;) {
            live();
            const r = steps.next();
            if (r.done === true) throw new Error("unreachable: the swap is announced before it runs");
            if (r.value === SWAP_NEXT) return (prepared = true);
            if (performance.now() >= deadline) return false;
          }
        },
        swap: () => {
          if (batches !== undefined) return batches;
          for (;;) {
            live();
            const r = steps.next();
            if (r.done === true) {
              batches = r.value;
              break;
            }
          }
          emit(batches);
          return batches;
        },
      };
    },
    discard: () => build.discard(),
  };
}
