/**
 * The replica: per-type tables fed by {@link ReplicaEvent}s, read synchronously.
 *
 * Invariants (each tested, most by the protocol-model property test):
 * - versions are bigint; within one server version a record never moves backwards: an incoming
 *   record replaces the held one only when its version is higher; a tombstone it applied is
 *   remembered (above the scope's floor), so an older upsert replayed later never brings the
 *   record back; a change at or below the floor is settled and ignored;
 * - the position only comes from the server (a snapshot's latest_record_version, a change's
 *   version) and never moves back: a snapshot behind it (a lagging instance) is merged under the
 *   held versions, and what it lists that the replica saw deleted stays out;
 * - nothing the replica hands out aliases its memory or can be changed by a reader;
 * - readiness is sticky: a resync builds new tables on the side and swaps them in one step, then
 *   emits one "resync" batch per type holding only the real differences; a superseded or
 *   discarded snapshot leaves the held tables serving and nothing of itself behind;
 * - no step is proportional to a table's size: snapshots arrive in chunks (beginSnapshot) and
 *   complete in slices (finishInSteps), the tables are sharded maps (no big rehash), a snapshot's
 *   lists of records grow in chunks (record-list.ts: no array copied whole as it grows), and the
 *   records' bytes live in shared slabs (byte-slab.ts), so a large load never stalls reads;
 * - listeners run after the state is consistent; a throwing listener cannot break the replica.
 *
 * This class is the façade: the reads go straight to the tables (table-map.ts); the rest lives in
 * rooms, each stating its own invariants: change-ingest.ts (Sync's changes and options);
 * snapshot-build.ts, snapshot-finish.ts, snapshot-diff.ts, pending-snapshots.ts (snapshots built
 * on the side, diffed in slices, swapped in); sync-scopes.ts (versions, floor, remembered
 * deletions, readiness); slab-accounting.ts (the records' bytes, compaction); record-intake.ts
 * and index-catalog.ts (what is kept of a record; the index definitions).
 */
import type { JsonObject, Message } from "@bufbuild/protobuf";
import type { Struct } from "@bufbuild/protobuf/wkt";
import type { Options, QueryResponse } from "../../gen/databroker/databroker_pb.js";
import { SessionSchema, type Session } from "../../gen/session/session_pb.js";
import { ServiceAccountSchema, UserSchema, type ServiceAccount, type User } from "../../gen/user/user_pb.js";
import type { Clock } from "../records/clock.js";
import { serviceAccountInvalidAfterMs, sessionInvalidAfterMs } from "../records/validity.js";
import type { CachedRecord } from "./cached-record.js";
import type { ChangeBatch, ChangeListener } from "./change-batch.js";
import { applyChange, applyOptions } from "./change-ingest.js";
import { DEFAULT_DECODED_MESSAGE_LIMIT, DecodedMessages } from "./decoded-messages.js";
import { IndexBuildScheduler } from "./index-build.js";
import { IndexCatalog } from "./index-catalog.js";
import type { IndexFunction } from "./index-definitions.js";
import { EMPTY_IDS } from "./key-index.js";
import { queryTables } from "./local-query.js";
import { PendingSnapshots } from "./pending-snapshots.js";
import { RecordIntake, type MalformedRecord } from "./record-intake.js";
import type { ReplicaEvent, SnapshotEvent } from "./replica-events.js";
import type { ReplicaParts } from "./replica-parts.js";
import { SlabAccounting } from "./slab-accounting.js";
import { drain } from "./sliced-work.js";
import { SnapshotBuild, snapshotBuilder, type SnapshotBuilder } from "./snapshot-build.js";
import { SyncScopes, type ReplicaVersions } from "./sync-scopes.js";
import { TableMap } from "./table-map.js";
import { TypeTable } from "./type-table.js";

export type { MalformedRecord } from "./record-intake.js";
export type { SnapshotBuilder, SnapshotCompletion } from "./snapshot-build.js";
export type { ReplicaVersions } from "./sync-scopes.js";

export interface ReplicaOptions {
  /**
   * Time source for validity checks, read on every getSession/getServiceAccount. Default: a
   * coarse Date.now() read once per synchronous job and at most every 4,096 reads, so a hot read
   * allocates nothing (records/clock.ts); pass `{ now: () => Date.now() }` for a reading per call.
   */
  readonly clock?: Clock;
  /** Where listener exceptions go (default: rethrown in a microtask, like an unhandled error). */
  readonly onListenerError?: (error: unknown) => void;
  /**
   * Called for each record skipped because its data is malformed (see {@link MalformedRecord});
   * for logs and metrics. Exceptions go to `onListenerError`.
   */
  readonly onMalformedRecord?: (record: MalformedRecord) => void;
  /**
   * Called once per live record before it is stored, after the malformed check; returns the
   * bytes to keep (may be the same array). If it throws, the record is treated as malformed
   * (counted, reported through `onMalformedRecord`, not held).
   */
  readonly projectData?: (typeUrl: string, data: Uint8Array) => Uint8Array;
  /**
   * How many records' decoded messages the replica keeps (decoded-messages.ts; default
   * {@link DEFAULT_DECODED_MESSAGE_LIMIT}): the most recently decoded ones. A positive integer.
   */
  readonly decodedMessageLimit?: number;
  /** Size of the slabs the records' bytes are copied into (byte-slab.ts); a tuning knob for tests. */
  readonly slabBytes?: number;
  /**
   * How long one slice of re-indexing a live table runs (index-build.ts; default 4 ms); a tuning
   * knob for tests (0: one slice of 256 records per event-loop turn).
   */
  readonly indexBuildSliceMs?: number;
}

export interface ValidityOptions {
  /** Return the record even when it fails its type's validity rule (expired). */
  readonly includeInvalid?: boolean;
}

/** A local Query, with the fields of databroker.QueryRequest. */
export interface LocalQueryRequest {
  /** A google.protobuf.Struct filter, as a message or as its JSON object. */
  readonly filter?: Struct | JsonObject;
  /** Free-text match, case-insensitive. */
  readonly query?: string;
  readonly offset?: bigint | number;
  /**
   * At most this many records. Omitted: every match. Given, it pages as the server does, so an
   * explicit 0 returns no records, only total_count.
   */
  readonly limit?: bigint | number;
}

const SESSION_TYPE_NAME = SessionSchema.typeName;
const USER_TYPE_NAME = UserSchema.typeName;
const SERVICE_ACCOUNT_TYPE_NAME = ServiceAccountSchema.typeName;
const neverInvalid = (): number => Number.POSITIVE_INFINITY;

export class Replica {
  /** The held tables by type: the reads' one lookup (table-map.ts); also in `#parts`. */
  readonly #tables = new TableMap();
  /** The state the change ingest and the snapshot build work on (replica-parts.ts). */
  readonly #parts: ReplicaParts;
  readonly #listeners = new Set<ChangeListener>();
  /** Undefined: the coarse system clock (records/clock.ts). */
  readonly #clock: Clock | undefined;
  readonly #onListenerError: (error: unknown) => void;
  /** Re-indexing of live tables (options changes, addIndex), in slices (index-build.ts). */
  readonly #indexBuilds: IndexBuildScheduler;

  constructor(options: ReplicaOptions = {}) {
    this.#clock = options.clock;
    this.#onListenerError =
      options.onListenerError ??
      ((error) =>
        queueMicrotask(() => {
          throw error;
        }));
    const onError = (error: unknown): void => this.#onListenerError(error);
    // A message the bound lets go must not stay alive in the read front of the record's table.
    const decoded = new DecodedMessages(options.decodedMessageLimit ?? DEFAULT_DECODED_MESSAGE_LIMIT, (record) => this.#tables.get(record.type)?.dropMessage(record));
    this.#parts = {
      tables: this.#tables,
      scopes: new SyncScopes(),
      indexes: new IndexCatalog(onError),
      intake: new RecordIntake({ onMalformedRecord: options.onMalformedRecord, projectData: options.projectData, onListenerError: onError }),
      slabs: new SlabAccounting(this.#tables, options.slabBytes, decoded),
      pending: new PendingSnapshots(),
    };
    this.#indexBuilds = new IndexBuildScheduler(
      (build) => this.#tables.get(build.table.type) === build.table,
      onError,
      options.indexBuildSliceMs,
    );
  }

  // ---- input ----

  /**
   * Applies one event, notifies listeners, and returns the batches it produced (one per type
   * touched; a snapshot gives one per covered type even when nothing changed).
   * @throws ConnectError FailedPrecondition for a change whose server version differs from the
   *   held snapshot's (the sync loop must resync first); nothing is applied then.
   */
  apply(event: ReplicaEvent): readonly ChangeBatch[] {
    let batches: ChangeBatch[];
    switch (event.kind) {
      case "snapshot":
        batches = this.#applySnapshot(event);
        break;
      case "change":
        batches = applyChange(this.#parts, event);
        break;
      case "options": {
        // New indexable_fields re-index the live table in slices (index-build.ts).
        const build = applyOptions(this.#parts, event);
        if (build !== undefined) this.#indexBuilds.start(build);
        batches = [];
        break;
      }
      case "floor":
        this.#parts.scopes.applyFloor(event);
        batches = [];
        break;
    }
    this.#emit(batches);
    return batches;
  }

  /**
   * Starts a snapshot that is fed in pieces as SyncLatest streams (records first, options and
   * versions last), so a large load never blocks the event loop in one go and the records need
   * not be collected in one array. Reads keep seeing the current tables until `finish`, which
   * swaps the new ones in and emits the batches, exactly like `apply` of a whole snapshot event.
   * Starting another snapshot (or applying a snapshot event) supersedes this one: its `add` and
   * `finish` then throw ConnectError Aborted.
   * @param type the SyncLatest type; "" for every type
   */
  beginSnapshot(type: string): SnapshotBuilder {
    return snapshotBuilder(new SnapshotBuild(this.#parts, type), (batches) => this.#emit(batches));
  }

  /** Registers a listener for change batches; returns the function that removes it. */
  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Adds a named index for a type; it is filled from the records held now and kept up to date
   * through changes and resyncs. `byIndex(type, name, key)` reads it. On a table already held it
   * is built in slices (index-build.ts; a small table at once): until then byIndex of that name
   * throws ConnectError Unavailable (see {@link isBuildingIndexes}). If `keys` throws for a
   * record, that record gets no key and the error goes to `onListenerError`.
   * @throws ConnectError AlreadyExists when the type already has an index of that name
   */
  addIndex(type: string, name: string, keys: IndexFunction): void {
    const def = this.#parts.indexes.add(type, name, keys);
    const table = this.#tables.get(type);
    if (table !== undefined) this.#indexBuilds.start(table.beginIndex(def));
  }

  /**
   * True while a held table of `type` (any type when omitted) is being re-indexed in slices: an
   * index added with addIndex, or the field indexes after indexable_fields changed.
   */
  isBuildingIndexes(type?: string): boolean {
    return this.#indexBuilds.isBuilding(type);
  }

  /**
   * Stops scheduling: clears the timer of any index build in progress (builds not finished stay
   * unfinished; reads keep answering from the indexes in place). Reads keep working. Idempotent.
   */
  close(): void {
    this.#indexBuilds.close();
  }

  // ---- reads: synchronous, never throw ----

  /** True once any snapshot is in; with a type, once a snapshot covering that type is in. */
  isReady(type?: string): boolean {
    return this.#parts.scopes.isReady(type);
  }

  get(type: string, id: string): CachedRecord | undefined {
    return this.#tables.get(type)?.get(id);
  }

  /** The session, or undefined when absent, not a Session, or invalid (expired) unless asked. */
  getSession(id: string, options?: ValidityOptions): Readonly<Session> | undefined {
    // Same rule as isSessionValid, with the limit computed once per record version.
    return this.#tables.sessions?.getTyped(id, SESSION_TYPE_NAME, sessionInvalidAfterMs, options?.includeInvalid === true, this.#clock) as Readonly<Session> | undefined;
  }

  getUser(id: string): Readonly<User> | undefined {
    return this.#tables.users?.getTyped(id, USER_TYPE_NAME, neverInvalid, true, this.#clock) as Readonly<User> | undefined;
  }

  /** The service account, or undefined when absent or expired (unless asked). */
  getServiceAccount(id: string, options?: ValidityOptions): Readonly<ServiceAccount> | undefined {
    return this.#tables.serviceAccounts?.getTyped(id, SERVICE_ACCOUNT_TYPE_NAME, serviceAccountInvalidAfterMs, options?.includeInvalid === true, this.#clock) as
      | Readonly<ServiceAccount>
      | undefined;
  }

  /** The decoded data of a record, or undefined (absent, unknown type URL, malformed). */
  getMessage(type: string, id: string): Readonly<Message> | undefined {
    return this.#tables.get(type)?.get(id)?.message;
  }

  /**
   * Ids under `key` in a named index (built-in: sessions and service accounts by "user_id",
   * users by "email"; or added with addIndex), else in the index of a server indexable field of
   * that name. A live read-only view (not a Set: nothing can add to or delete from it): read it
   * now, copy it to keep it. Empty for an index name the type does not have (yet), as for a key
   * nothing is under: the server's indexable fields are known only once its records are.
   * @throws ConnectError Unavailable while an index added to a held table is still being built
   */
  byIndex(type: string, indexName: string, key: string): ReadonlySet<string> {
    return this.#tables.get(type)?.byIndex(indexName, key) ?? EMPTY_IDS;
  }

  size(type: string): number {
    return this.#tables.get(type)?.size ?? 0;
  }

  /** How many records were skipped as malformed since the replica was created (snapshots and changes). */
  get malformedRecords(): number {
    return this.#parts.intake.malformedRecords;
  }

  /** The types the replica holds a table for. */
  types(): string[] {
    return [...this.#tables.keys()];
  }

  /** All records of a type (no copy; do not hold the iterator across events). */
  values(type: string): IterableIterator<CachedRecord> {
    return (this.#tables.get(type) ?? EMPTY_TABLE).values();
  }

  /**
   * The versions a type is synced to; with "" (the default) the versions of an all-types snapshot.
   * Undefined before a covering snapshot.
   */
  versions(type = ""): ReplicaVersions | undefined {
    return this.#parts.scopes.versions(type);
  }

  /**
   * Where a saved copy of the type's tables may resume Sync from: the held server version and
   * the floor (every change at or below it is settled: the sync loop never re-reads below it).
   * Resuming there replays what came after, which the replica recognises by version; resuming
   * from the position itself could miss a commit that became visible late under it.
   */
  resumePoint(type = ""): ReplicaVersions | undefined {
    return this.#parts.scopes.resumePoint(type);
  }

  /**
   * The options held for a type (from the last snapshot or options event), frozen. While new
   * indexable_fields are being indexed, the options the field indexes still answer by.
   */
  options(type: string): Options | undefined {
    return this.#tables.get(type)?.options;
  }

  /**
   * What the server's Query returns for the same data: the filter language, free-text match and
   * offset/limit of spec 6, with file/memory semantics (indexed-field equality needs the field in
   * the type's indexable_fields; "" queries every type).
   * @throws ConnectError InvalidArgument (bad filter, negative offset/limit), Unimplemented
   *   (unsupported operator, $not)
   */
  query(type: string, request: LocalQueryRequest = {}): QueryResponse {
    const versions = this.versions(type) ?? this.versions("");
    return queryTables(
      {
        table: (t) => this.#tables.get(t),
        types: () => [...this.#tables.keys()],
      },
      type,
      request,
      versions ?? { serverVersion: 0n, recordVersion: 0n },
    );
  }

  // ---- event handling ----

  #applySnapshot(event: SnapshotEvent): ChangeBatch[] {
    const build = new SnapshotBuild(this.#parts, event.type);
    build.add(event.records);
    return drain(build.finish(event.serverVersion, event.recordVersion, event.options));
  }

  #emit(batches: readonly ChangeBatch[]): void {
    for (const batch of batches) {
      for (const listener of this.#listeners) {
        try {
          listener(batch);
        } catch (error) {
          this.#onListenerError(error);
        }
      }
    }
  }
}

const EMPTY_TABLE = new TypeTable("", [], undefined);
