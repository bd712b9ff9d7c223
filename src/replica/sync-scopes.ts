/**
 * The SyncLatest scopes the replica's tables are synced under, and its lifecycle: per held type,
 * the server version and position it is at, the floor below which everything is settled, and the
 * deletions it remembers above the floor.
 *
 * Invariants:
 * - versions are bigint; the position only comes from the server (a snapshot's
 *   latest_record_version, a change's version) and, within one server version, never moves back;
 * - the floor only rises and never passes the position (a floor event beyond it is clamped);
 *   deletions at or below it are forgotten, since changes there are settled and never applied;
 * - a scope remembers at most MAX_REMEMBERED_DELETIONS deletions; past the cap the oldest go and
 *   the floor rises over them (always safe: see the constant);
 * - readiness is sticky: "ready" is entered by the first snapshot swapped in and never left;
 *   scopes are replaced by later snapshots, never removed.
 */
import type { FloorEvent, RawRecord } from "./replica-events.js";
import type { RecentDeletions } from "./recent-deletions.js";

/** The versions a table is synced to: its stream's server version and position. */
export interface ReplicaVersions {
  readonly serverVersion: bigint;
  readonly recordVersion: bigint;
}

/**
 * One SyncLatest scope ("" = every type): the types it covers share its versions.
 *
 * Knowledge horizons (the rules every event obeys, see `Replica` in replica.ts):
 * - `recordVersion` (the position): the tables reflect every change up to it that the server
 *   streamed in version order, and it only grows within a server version;
 * - `floor` <= position: changes at or below it are settled and never applied again;
 * - `deletions`: every deletion above the floor the replica has seen, so a replayed older upsert
 *   of a deleted record is recognised as stale.
 */
export interface SyncScope {
  readonly type: string;
  readonly serverVersion: bigint;
  recordVersion: bigint;
  floor: bigint;
  readonly deletions: RecentDeletions;
}

/**
 * The most deletions a scope remembers above its floor. The sync loop's periodic re-read keeps it
 * far lower (a couple of minutes of deletions); the cap bounds a replica nobody floors. Raising
 * the floor is always safe: changes at or below it are then taken as settled.
 */
const MAX_REMEMBERED_DELETIONS = 1 << 20;

/** Remembers a deletion above the floor; past the cap, the oldest go and the floor rises over them. */
export function rememberDeletion(scope: SyncScope, raw: RawRecord): void {
  scope.deletions.remember(raw.type, raw.id, raw.version);
  if (scope.deletions.size <= MAX_REMEMBERED_DELETIONS) return;
  const forgotten = scope.deletions.forgetOldest(MAX_REMEMBERED_DELETIONS / 2);
  if (forgotten !== undefined && forgotten > scope.floor) scope.floor = forgotten;
}

/** Explicit lifecycle: "ready" is entered by the first snapshot and never left. */
type ReplicaState = "empty" | "ready";

/** The scope of each held type, the all-types scope, and whether any snapshot is in. */
export class SyncScopes {
  #state: ReplicaState = "empty";
  readonly #scopeOf = new Map<string, SyncScope>();
  #allTypesScope: SyncScope | undefined;

  /** True once any snapshot is in; with a type, once a snapshot covering that type is in. */
  isReady(type?: string): boolean {
    if (this.#state !== "ready") return false;
    if (type === undefined) return true;
    return this.#scopeOf.has(type) || this.#allTypesScope !== undefined;
  }

  /** The scope events of `type` fall under: its table's, else the all-types one; undefined when no snapshot covers it. */
  scopeFor(type: string): SyncScope | undefined {
    return this.#scopeOf.get(type) ?? this.#allTypesScope;
  }

  /** The scope of the table held for `type`, if any (not the all-types fallback). */
  held(type: string): SyncScope | undefined {
    return this.#scopeOf.get(type);
  }

  /** The scope named by a SyncLatest type: "" the all-types one, else the type's (or the all-types) one. */
  named(type: string): SyncScope | undefined {
    return type === "" ? this.#allTypesScope : (this.#scopeOf.get(type) ?? this.#allTypesScope);
  }

  /** A table of `type` is now held under `scope`. */
  cover(type: string, scope: SyncScope): void {
    this.#scopeOf.set(type, scope);
  }

  /** A snapshot of `type` ("" every type) swapped its tables in under `scope`: the replica is ready. */
  snapshotSwapped(type: string, scope: SyncScope): void {
    if (type === "") this.#allTypesScope = scope;
    this.#state = "ready";
  }

  /** See `Replica.versions`. */
  versions(type: string): ReplicaVersions | undefined {
    const scope = this.named(type);
    return scope === undefined ? undefined : { serverVersion: scope.serverVersion, recordVersion: scope.recordVersion };
  }

  /** See `Replica.resumePoint`. */
  resumePoint(type: string): ReplicaVersions | undefined {
    const scope = this.named(type);
    return scope === undefined ? undefined : { serverVersion: scope.serverVersion, recordVersion: scope.floor };
  }

  /** Raises a scope's floor (never past its position) and forgets the deletions at or below it. */
  applyFloor(event: FloorEvent): void {
    const scope = event.type === "" ? this.#allTypesScope : this.#scopeOf.get(event.type);
    if (scope === undefined || scope.serverVersion !== event.serverVersion) return;
    const floor = event.recordVersion < scope.recordVersion ? event.recordVersion : scope.recordVersion;
    if (floor <= scope.floor) return;
    scope.floor = floor;
    scope.deletions.forgetThrough(floor);
  }
}
