/**
 * Applying Sync's events to the held tables: changes (upserts and tombstones) and options.
 *
 * Invariants:
 * - a bad event changes nothing: every record's server version is checked before any applies;
 * - versions are bigint; within one server version a record never moves backwards: an incoming
 *   record replaces the held one only when its version is higher; a tombstone it applied is
 *   remembered (above the scope's floor, sync-scopes.ts), so an older upsert replayed later never
 *   brings the record back; a change at or below the floor is settled and ignored;
 * - the position only comes from the server (a change's version) and never moves back: a change
 *   at or below it is a replay, applied only when newer than the record held or remembered
 *   deleted;
 * - a malformed update is not usable: it removes what was held, like a delete (record-intake.ts);
 * - the batches hold only net differences, one per type touched, with the scope's versions;
 * - a change or options event for a type a snapshot in progress covers marks that snapshot dirty
 *   (pending-snapshots.ts); every byte a record stops using is released and at most one sparse
 *   slab is compacted per event (slab-accounting.ts);
 * - new indexable_fields re-index the live table in slices; reads use the old indexes meanwhile.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { compareVersion, recordSlab, type CachedRecord } from "./cached-record.js";
import type { ChangeBatch } from "./change-batch.js";
import type { IndexBuild } from "./index-build.js";
import type { ChangeEvent, OptionsEvent } from "./replica-events.js";
import type { ReplicaParts } from "./replica-parts.js";
import { createRecord } from "./slab-accounting.js";
import { rememberDeletion, type SyncScope } from "./sync-scopes.js";
import { TypeTable } from "./type-table.js";

/**
 * Applies a change event to the held tables and returns one batch per type with net differences.
 * @throws ConnectError FailedPrecondition for a change whose server version differs from the
 *   held snapshot's (the sync loop must resync first); nothing is applied then.
 */
export function applyChange(parts: ReplicaParts, event: ChangeEvent): ChangeBatch[] {
  const { tables, scopes, pending, intake, slabs } = parts;
  // Check everything first so a bad event changes nothing.
  for (const raw of event.records) {
    const scope = scopes.scopeFor(raw.type);
    if (scope !== undefined && scope.serverVersion !== event.serverVersion) {
      throw new ConnectError(
        `change for server version ${event.serverVersion} but the replica holds server version ${scope.serverVersion} for ${raw.type}: a snapshot must come first`,
        Code.FailedPrecondition,
      );
    }
  }
  // The state of each touched record before this event, to report only net differences.
  const before = new Map<string, Map<string, CachedRecord | undefined>>();
  for (const raw of event.records) {
    const scope = scopes.scopeFor(raw.type);
    if (scope === undefined) continue; // a type no snapshot covers
    if (raw.version <= scope.floor) continue; // settled: a replay from before the floor
    const replay = raw.version <= scope.recordVersion;
    if (!replay) scope.recordVersion = raw.version;
    if (pending.size > 0) pending.touchedLive(raw.type);
    let table = tables.get(raw.type);
    const held = table?.peek(raw.id);
    // Per record, only a newer version applies: what is held, or the deletion remembered.
    if (held !== undefined) {
      if (compareVersion(held, raw.version) >= 0) continue;
    } else if (replay) {
      const deletedAt = scope.deletions.deletedAt(raw.type, raw.id);
      if (deletedAt !== undefined && raw.version <= deletedAt) continue;
    }
    // A malformed update is not usable: it removes what was held, like a delete (a replay of
    // one is not reported again).
    const data = raw.deletedAt !== undefined ? undefined : intake.keptData(raw, !replay);
    const removes = data === undefined;
    if (removes) rememberDeletion(scope, raw);
    if (removes && held === undefined) continue; // tombstone for an unknown id
    if (table === undefined) {
      // A new type under an all-types snapshot.
      table = new TypeTable(raw.type, parts.indexes.definitions(raw.type), undefined);
      tables.set(raw.type, table);
      scopes.cover(raw.type, scope);
    }
    let touched = before.get(raw.type);
    if (touched === undefined) before.set(raw.type, (touched = new Map()));
    if (!touched.has(raw.id)) touched.set(raw.id, held);
    if (removes) table.delete(raw.id);
    else table.put(createRecord(raw, table.type, intake.typeUrl(raw.typeUrl), data, slabs.changeWriter));
    if (held !== undefined) slabs.released(recordSlab(held), held.dataLength);
  }

  slabs.compactOne();
  const batches: ChangeBatch[] = [];
  for (const [type, touched] of before) {
    const table = tables.get(type) as TypeTable;
    const upserts: CachedRecord[] = [];
    const deletes: CachedRecord[] = [];
    for (const [id, previous] of touched) {
      const now = table.peek(id);
      if (now === previous) continue;
      if (now !== undefined) upserts.push(now);
      else if (previous !== undefined) deletes.push(previous);
    }
    if (upserts.length === 0 && deletes.length === 0) continue;
    const scope = scopes.held(type) as SyncScope;
    batches.push({ kind: "change", type, serverVersion: scope.serverVersion, recordVersion: scope.recordVersion, upserts, deletes });
  }
  return batches;
}

/**
 * Applies an options event to the held table of its type (created empty when a snapshot covers
 * the type but listed none of it). Returns the re-index of the live table when the
 * indexable_fields changed: the caller runs it in slices (index-build.ts).
 */
export function applyOptions(parts: ReplicaParts, event: OptionsEvent): IndexBuild | undefined {
  const { tables, scopes, pending } = parts;
  if (scopes.scopeFor(event.type) === undefined) return undefined;
  if (pending.size > 0) pending.touchedLive(event.type);
  let table = tables.get(event.type);
  if (table === undefined) {
    table = new TypeTable(event.type, parts.indexes.definitions(event.type), undefined);
    tables.set(event.type, table);
    scopes.cover(event.type, scopes.scopeFor(event.type) as SyncScope);
  }
  // New indexable_fields re-index the live table in slices; reads use the old indexes meanwhile.
  return table.beginOptions(event.options);
}
