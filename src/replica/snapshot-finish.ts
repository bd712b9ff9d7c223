/**
 * Completing a snapshot built on the side (snapshot-build.ts): the work proportional to the table
 * sizes in slices (sliced-work.ts), then the swap in one short synchronous step.
 *
 * Invariants:
 * - readiness is sticky: the swap replaces the held tables in one step, and until then reads see
 *   the held tables only; a superseded or discarded snapshot is never swapped (its caller stops
 *   stepping) and leaves the held tables serving and nothing of itself behind;
 * - within one server version the position never moves back: a snapshot behind the held
 *   position (a lagging instance) is merged under the held versions (position, floor,
 *   remembered deletions) instead of replacing them; any other starts from its own
 *   latest_record_version, below which everything is settled;
 * - the diff computed in slices is only used when no covered live table changed meanwhile
 *   (overlapping streams); otherwise the swap recomputes it in one go;
 * - a swapped-in table has every index the host added, also those added while it streamed in;
 * - one batch per covered type ("snapshot" for a new table, "resync" for a replaced one), even
 *   when nothing changed, holding only the real differences;
 * - held records the snapshot keeps stay in their slabs, except those in a slab the swap would
 *   leave below half live, which are re-copied into the snapshot's slabs first; the bytes of the
 *   records it drops are released at the swap, so a slab left with nothing live is let go and
 *   every other one stays at least half live;
 * - before the swap, a bounded number of records of types this process has not warmed yet are
 *   decoded and dropped (read-warm-up.ts), which nothing a reader sees depends on.
 */
import type { Options } from "../../gen/databroker/databroker_pb.js";
import type { ByteSlab, SlabWriter } from "./byte-slab.js";
import type { CachedRecord } from "./cached-record.js";
import { listedBatch, type ChangeBatch } from "./change-batch.js";
import type { PendingSnapshot } from "./pending-snapshots.js";
import { warmUpReads } from "./read-warm-up.js";
import { RecordList } from "./record-list.js";
import { RecentDeletions } from "./recent-deletions.js";
import type { ReplicaParts } from "./replica-parts.js";
import { drain, SWAP_NEXT, type Slice } from "./sliced-work.js";
import { evacuateSparseSlabs } from "./slab-accounting.js";
import { diffSteps, type BuiltTable, type SideTable, type SnapshotMerge } from "./snapshot-diff.js";
import type { SyncScope } from "./sync-scopes.js";
import { TypeTable } from "./type-table.js";

/**
 * Completes a snapshot: everything proportional to the table sizes (indexes added meanwhile,
 * a field re-index for changed options, the scan of the held table for deletes and kept
 * records, the upsert filter) runs in slices (each `yield` is a point to pause at), then
 * the swap and the batches in one short synchronous step.
 */
export function* finishSnapshot(
  parts: ReplicaParts,
  pending: PendingSnapshot,
  side: Map<string, SideTable>,
  writer: SlabWriter,
  serverVersion: bigint,
  recordVersion: bigint,
  options: ReadonlyMap<string, Options>,
): Generator<Slice, ChangeBatch[], void> {
  const { tables, scopes, indexes, slabs } = parts;
  const type = pending.type;
  const coveredTypes = (): Set<string> => {
    const covered = new Set<string>();
    if (type === "") {
      for (const t of tables.keys()) covered.add(t);
      for (const t of side.keys()) covered.add(t);
      for (const t of options.keys()) covered.add(t);
    } else {
      covered.add(type);
    }
    return covered;
  };
  const sideFor = (t: string): SideTable => {
    let s = side.get(t);
    if (s === undefined) {
      const old = tables.get(t);
      side.set(t, (s = { table: new TypeTable(t, indexes.definitions(t), old?.options), old, upserts: new RecordList(), exact: true }));
    }
    return s;
  };

  // Within one server version the position never moves back: a snapshot behind the held
  // position (a lagging instance) is merged under the held versions instead of replacing them.
  const previous = scopes.named(type);
  const lagging = previous !== undefined && previous.serverVersion === serverVersion && previous.recordVersion > recordVersion ? previous : undefined;
  const merge: SnapshotMerge = {
    serverVersion,
    horizon: pending.maxListed > recordVersion ? pending.maxListed : recordVersion,
    lagging,
  };
  let covered = coveredTypes();
  let built: BuiltTable[] = [];
  for (const t of covered) {
    const s = sideFor(t);
    const table = s.table;
    // Indexes added by the host while the snapshot streamed in; options as sent last.
    for (const def of indexes.definitions(t)) if (!table.hasNamedIndex(def.name)) yield* table.addIndexSteps(def);
    yield* table.setOptionsSteps(options.get(t));
    built.push(yield* diffSteps(s, merge, scopes.held(t)));
    // Warms the first-read path of types this process has not warmed yet (read-warm-up.ts).
    yield* warmUpReads(table.values());
  }
  // Slabs the swap would leave below half live give up the records it keeps (slab-accounting.ts).
  yield* evacuateSparseSlabs(deadBytesPerSlab(built), keptBySwap(built, tables), writer);

  yield SWAP_NEXT;
  // The swap. A live table that changed meanwhile (overlapping streams) invalidates the diff.
  if (pending.dirty || [...coveredTypes()].some((t) => !covered.has(t) || tables.get(t) !== side.get(t)?.old)) {
    covered = coveredTypes();
    built = [];
    for (const t of covered) {
      const s = sideFor(t);
      s.old = tables.get(t);
      s.exact = false;
      s.upserts = RecordList.of(s.table.values());
      built.push(drain(diffSteps(s, merge, scopes.held(t))));
    }
  }
  for (const { table } of built) {
    for (const def of indexes.definitions(table.type)) if (!table.hasNamedIndex(def.name)) table.addIndex(def);
  }

  // A lagging snapshot keeps the held versions (position, floor, remembered deletions); any
  // other starts from its own latest_record_version, below which everything is settled.
  const scope: SyncScope = lagging ?? { type, serverVersion, recordVersion, floor: recordVersion, deletions: new RecentDeletions() };
  for (const { table, keeps, dead } of built) {
    keeps.forEach((previous) => table.put(previous));
    tables.set(table.type, table);
    scopes.cover(table.type, scope);
    for (const [slab, bytes] of dead) slabs.released(slab, bytes);
  }
  // Change records start a fresh slab: the one being filled may hold records just dropped.
  slabs.restartChangeWriter();
  writer.restart();
  scopes.snapshotSwapped(type, scope);
  pending.status = "finished";
  parts.pending.end(pending);
  // The side tables are live now; their lists of records (one entry per record) are not needed.
  side.clear();

  // The batches carry the lists; their arrays are made when a subscriber first reads them.
  return built.map(({ table, old, upserts, deletes }) => listedBatch(old === undefined ? "snapshot" : "resync", table.type, scope.serverVersion, scope.recordVersion, upserts, deletes));
}

/** The bytes the swap drops, per slab, over every table it replaces (slabs hold several types). */
function deadBytesPerSlab(built: readonly BuiltTable[]): ReadonlyMap<ByteSlab, number> {
  if (built.length === 1) return (built[0] as BuiltTable).dead;
  const dead = new Map<ByteSlab, number>();
  for (const t of built) for (const [slab, bytes] of t.dead) dead.set(slab, (dead.get(slab) ?? 0) + bytes);
  return dead;
}

/**
 * Whether the swap keeps a record: for a type it replaces, when the new table holds it or it is
 * put back (a held record newer than the listing); for any other type, when its table holds it.
 */
function keptBySwap(built: readonly BuiltTable[], tables: ReplicaParts["tables"]): (record: CachedRecord) => boolean {
  const byType = new Map<string, BuiltTable>();
  for (const t of built) byType.set(t.table.type, t);
  const putBack = new Set<CachedRecord>();
  for (const t of built) t.keeps.forEach((record) => putBack.add(record));
  return (record) => {
    const t = byType.get(record.type);
    if (t === undefined) return tables.get(record.type)?.peek(record.id) === record;
    return t.table.peek(record.id) === record || putBack.has(record);
  };
}
