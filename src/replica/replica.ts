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
 *   complete in slices (finishInSteps), the tables are sharded maps (no big rehash), and the
 *   records' bytes live in shared slabs (byte-slab.ts), so a large load never stalls reads;
 * - listeners run after the state is consistent; a throwing listener cannot break the replica.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { JsonObject, Message } from "@bufbuild/protobuf";
import type { Struct } from "@bufbuild/protobuf/wkt";
import type { Options, QueryResponse } from "../../gen/databroker/databroker_pb.js";
import { SessionSchema, type Session } from "../../gen/session/session_pb.js";
import { ServiceAccountSchema, UserSchema, type ServiceAccount, type User } from "../../gen/user/user_pb.js";
import type { Clock } from "../records/clock.js";
import { serviceAccountInvalidAfterMs, sessionInvalidAfterMs } from "../records/validity.js";
import type { ByteSlab, SlabWriter } from "./byte-slab.js";
import { moveRecordBytes, recordBytes, recordSlab, sameBytes, type CachedRecord } from "./cached-record.js";
import type { ChangeBatch, ChangeListener } from "./change-batch.js";
import { IndexBuildScheduler } from "./index-build.js";
import { IndexCatalog } from "./index-catalog.js";
import type { IndexFunction } from "./index-definitions.js";
import { EMPTY_IDS } from "./key-index.js";
import { queryTables } from "./local-query.js";
import { RecordIntake, type MalformedRecord } from "./record-intake.js";
import { RecentDeletions } from "./recent-deletions.js";
import type { ChangeEvent, FloorEvent, OptionsEvent, RawRecord, ReplicaEvent, SnapshotEvent } from "./replica-events.js";
import { TableMap } from "./table-map.js";
import { createRecord, reuseRecord, SlabAccounting } from "./slab-accounting.js";
import { rememberDeletion, SyncScopes, type ReplicaVersions, type SyncScope } from "./sync-scopes.js";
import { TypeTable } from "./type-table.js";

export type { MalformedRecord } from "./record-intake.js";
export type { ReplicaVersions } from "./sync-scopes.js";

/** A snapshot being built on the side; see {@link Replica.beginSnapshot}. */
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

interface SnapshotBuilderState {
  add(records: readonly RawRecord[]): void;
  finish(serverVersion: bigint, recordVersion: bigint, options: ReadonlyMap<string, Options>): Generator<Slice, ChangeBatch[], void>;
  discard(): void;
  readonly pending: PendingSnapshot;
}

/** A snapshot in progress; "superseded" by a newer overlapping one, "discarded" by its stream. */
interface PendingSnapshot {
  readonly type: string;
  status: "building" | "finishing" | "finished" | "superseded" | "discarded";
  /** A covered live table changed meanwhile: the swap recomputes the diff. */
  dirty: boolean;
  /** The highest version listed (0 when none): the listing reflects the server at least that far. */
  maxListed: bigint;
}

/**
 * How a completed snapshot relates to what the replica knows of the same server version.
 * `lagging`: its latest_record_version is behind the held position (a lagging instance, a
 * standby): the held tables know more, so records it lists that the replica saw deleted, or
 * that are at or below the floor and not held, are stale and stay out.
 */
interface SnapshotMerge {
  readonly serverVersion: bigint;
  /** max(latest_record_version, highest listed version): held records at or below it that the listing lacks were deleted. */
  readonly horizon: bigint;
  readonly lagging: SyncScope | undefined;
}

/** One type's table on the side, with the held table it will replace and what differs from it. */
interface SideTable {
  readonly table: TypeTable;
  old: TypeTable | undefined;
  /** Added records that are not the held object, in order; `exact` unless an id came twice. */
  upserts: CachedRecord[];
  exact: boolean;
}

interface BuiltTable {
  readonly table: TypeTable;
  readonly old: TypeTable | undefined;
  /** Held records the snapshot cannot know about (newer than its versions): put back at the swap. */
  readonly keeps: readonly CachedRecord[];
  readonly upserts: CachedRecord[];
  readonly deletes: CachedRecord[];
  /** Bytes of held records the swap drops, per slab. */
  readonly dead: ReadonlyMap<ByteSlab, number>;
}

/** Slices of finishing work are checked against the clock every 256 records. */
const SLICE_MASK = 255;

/** Two SyncLatest scopes overlap when either covers every type or they name the same type. */
function overlaps(a: string, b: string): boolean {
  return a === "" || b === "" || a === b;
}

/** What a sliced computation yields: a point to pause at; SWAP_NEXT: only the swap is left. */
type Slice = void | typeof SWAP_NEXT;
const SWAP_NEXT = "swap-next";

/** Runs a sliced computation to its end. */
function drain<T>(steps: Generator<Slice, T, void>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

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
  readonly #tables = new TableMap();
  readonly #scopes = new SyncScopes();
  /** The index definitions per type, built-in and host-added (index-catalog.ts). */
  readonly #indexes: IndexCatalog;
  readonly #pending = new Set<PendingSnapshot>();
  /** Where the records' bytes go, and their compaction (slab-accounting.ts). */
  readonly #slabs: SlabAccounting;
  readonly #listeners = new Set<ChangeListener>();
  /** Undefined: the coarse system clock (records/clock.ts). */
  readonly #clock: Clock | undefined;
  readonly #onListenerError: (error: unknown) => void;
  /** What is kept of each incoming record: checked, projected data; shared type URLs (record-intake.ts). */
  readonly #intake: RecordIntake;
  /** Re-indexing of live tables (options changes, addIndex), in slices (index-build.ts). */
  readonly #indexBuilds: IndexBuildScheduler;

  constructor(options: ReplicaOptions = {}) {
    this.#clock = options.clock;
    this.#slabs = new SlabAccounting(this.#tables, options.slabBytes);
    this.#onListenerError =
      options.onListenerError ??
      ((error) =>
        queueMicrotask(() => {
          throw error;
        }));
    this.#intake = new RecordIntake({
      onMalformedRecord: options.onMalformedRecord,
      projectData: options.projectData,
      onListenerError: (error) => this.#onListenerError(error),
    });
    this.#indexes = new IndexCatalog((error) => this.#onListenerError(error));
    this.#indexBuilds = new IndexBuildScheduler(
      (build) => this.#tables.get(build.table.type) === build.table,
      (error) => this.#onListenerError(error),
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
        batches = this.#applyChange(event);
        break;
      case "options":
        this.#applyOptions(event);
        batches = [];
        break;
      case "floor":
        this.#scopes.applyFloor(event);
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
    const state = this.#startSnapshot(type);
    return {
      add: (records) => state.add(records),
      finish: (versions, options = new Map()) => {
        const batches = drain(state.finish(versions.serverVersion, versions.recordVersion, options));
        this.#emit(batches);
        return batches;
      },
      finishInSteps: (versions, options = new Map()) => {
        const steps = state.finish(versions.serverVersion, versions.recordVersion, options);
        let prepared = false;
        let batches: ChangeBatch[] | undefined;
        const live = (): void => {
          if (state.pending.status === "superseded" || state.pending.status === "discarded") {
            steps.return([]);
            throw new ConnectError(`snapshot ${state.pending.status}`, Code.Aborted);
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
            this.#emit(batches);
            return batches;
          },
        };
      },
      discard: () => state.discard(),
    };
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
    const def = this.#indexes.add(type, name, keys);
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
    return this.#scopes.isReady(type);
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
   * now, copy it to keep it.
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
    return this.#intake.malformedRecords;
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
    return this.#scopes.versions(type);
  }

  /**
   * Where a saved copy of the type's tables may resume Sync from: the held server version and
   * the floor (every change at or below it is settled: the sync loop never re-reads below it).
   * Resuming there replays what came after, which the replica recognises by version; resuming
   * from the position itself could miss a commit that became visible late under it.
   */
  resumePoint(type = ""): ReplicaVersions | undefined {
    return this.#scopes.resumePoint(type);
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
    const builder = this.#startSnapshot(event.type);
    builder.add(event.records);
    return drain(builder.finish(event.serverVersion, event.recordVersion, event.options));
  }

  /**
   * A snapshot builds its tables on the side. While it does, the live tables of the types it
   * covers do not change (their stream is busy with this SyncLatest), so the diff against them is
   * computed in slices before the swap; a change or options event for a covered type meanwhile
   * (only possible when overlapping streams feed one replica) marks it dirty and the swap then
   * recomputes the diff in one go. A newer snapshot of an overlapping scope supersedes this one.
   */
  #startSnapshot(type: string): SnapshotBuilderState {
    for (const p of this.#pending) {
      if (overlaps(p.type, type)) {
        p.status = "superseded";
        this.#pending.delete(p);
      }
    }
    const pending: PendingSnapshot = { type, status: "building", dirty: false, maxListed: 0n };
    this.#pending.add(pending);
    let side = new Map<string, SideTable>();
    const writer = this.#slabs.snapshotWriter();
    const check = (): void => {
      if (pending.status === "finished") throw new ConnectError("snapshot already finished", Code.FailedPrecondition);
      if (pending.status === "superseded") throw new ConnectError("snapshot superseded by a newer one", Code.Aborted);
      if (pending.status === "discarded") throw new ConnectError("snapshot discarded", Code.Aborted);
    };
    const add = (records: readonly RawRecord[]): void => {
      check();
      if (pending.status !== "building") throw new ConnectError("snapshot is finishing: no more records", Code.FailedPrecondition);
      for (const raw of records) {
        // SyncLatest never sends tombstones or other types; ignore any that slip through.
        if (raw.deletedAt !== undefined) continue;
        if (type !== "" && raw.type !== type) continue;
        if (raw.version > pending.maxListed) pending.maxListed = raw.version;
        const data = this.#intake.keptData(raw);
        if (data === undefined) continue;
        let s = side.get(raw.type);
        if (s === undefined) {
          const old = this.#tables.get(raw.type);
          // Start with the held options: when they stay the same, field indexes fill as records come.
          const table = new TypeTable(raw.type, this.#indexes.definitions(raw.type), old?.options);
          side.set(raw.type, (s = { table, old, upserts: [], exact: true }));
        }
        const held = s.table.get(raw.id);
        if (held !== undefined) {
          if (raw.version <= held.version) continue;
          s.exact = false; // the earlier one is in upserts: filtered at finish
        }
        const before = s.old?.get(raw.id);
        const typeUrl = this.#intake.typeUrl(raw.typeUrl);
        const sameContent = before !== undefined && before.typeUrl === typeUrl && sameBytes(before, data);
        const record = sameContent && before.version === raw.version ? reuseRecord(before, writer) : createRecord(raw, s.table.type, typeUrl, data, writer);
        s.table.put(record);
        // Only real differences are reported: a record listed with the content already held
        // (renumbered under another server version, e.g. by a new cluster leader, or re-read
        // from a saved snapshot) takes its new version silently.
        if (!sameContent) s.upserts.push(record);
      }
    };
    const finish = (serverVersion: bigint, recordVersion: bigint, options: ReadonlyMap<string, Options>): Generator<Slice, ChangeBatch[], void> => {
      check();
      if (pending.status !== "building") throw new ConnectError("snapshot already finishing", Code.FailedPrecondition);
      pending.status = "finishing";
      return this.#finishSnapshot(pending, side, writer, serverVersion, recordVersion, options);
    };
    const discard = (): void => {
      if (pending.status === "building" || pending.status === "finishing") {
        pending.status = "discarded";
        this.#pending.delete(pending);
        side = new Map();
        writer.restart();
      }
    };
    return { add, finish, discard, pending };
  }

  /** Marks snapshots in progress over `type` dirty: the live table changed under them. */
  #touchedLive(type: string): void {
    for (const p of this.#pending) if (overlaps(p.type, type)) p.dirty = true;
  }

  /**
   * Completes a snapshot: everything proportional to the table sizes (indexes added meanwhile,
   * a field re-index for changed options, the scan of the held table for deletes and kept
   * records, the upsert filter) runs in slices (each `yield` is a point to pause at), then
   * the swap and the batches in one short synchronous step.
   */
  *#finishSnapshot(
    pending: PendingSnapshot,
    side: Map<string, SideTable>,
    writer: SlabWriter,
    serverVersion: bigint,
    recordVersion: bigint,
    options: ReadonlyMap<string, Options>,
  ): Generator<Slice, ChangeBatch[], void> {
    const type = pending.type;
    const coveredTypes = (): Set<string> => {
      const covered = new Set<string>();
      if (type === "") {
        for (const t of this.#tables.keys()) covered.add(t);
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
        const old = this.#tables.get(t);
        side.set(t, (s = { table: new TypeTable(t, this.#indexes.definitions(t), old?.options), old, upserts: [], exact: true }));
      }
      return s;
    };

    // Within one server version the position never moves back: a snapshot behind the held
    // position (a lagging instance) is merged under the held versions instead of replacing them.
    const previous = this.#scopes.named(type);
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
      for (const def of this.#indexes.definitions(t)) if (!table.hasNamedIndex(def.name)) yield* table.addIndexSteps(def);
      yield* table.setOptionsSteps(options.get(t));
      built.push(yield* this.#diffSteps(s, merge));
    }

    yield SWAP_NEXT;
    // The swap. A live table that changed meanwhile (overlapping streams) invalidates the diff.
    if (pending.dirty || [...coveredTypes()].some((t) => !covered.has(t) || this.#tables.get(t) !== side.get(t)?.old)) {
      covered = coveredTypes();
      built = [];
      for (const t of covered) {
        const s = sideFor(t);
        s.old = this.#tables.get(t);
        s.exact = false;
        s.upserts = [...s.table.values()];
        built.push(drain(this.#diffSteps(s, merge)));
      }
    }
    for (const { table } of built) {
      for (const def of this.#indexes.definitions(table.type)) if (!table.hasNamedIndex(def.name)) table.addIndex(def);
    }

    // A lagging snapshot keeps the held versions (position, floor, remembered deletions); any
    // other starts from its own latest_record_version, below which everything is settled.
    const scope: SyncScope = lagging ?? { type, serverVersion, recordVersion, floor: recordVersion, deletions: new RecentDeletions() };
    for (const { table, keeps, dead } of built) {
      for (const previous of keeps) {
        // Re-copied with the snapshot's bytes, so the previous generation of slabs is let go.
        moveRecordBytes(previous, writer);
        table.put(previous);
      }
      this.#tables.set(table.type, table);
      this.#scopes.cover(table.type, scope);
      for (const [slab, bytes] of dead) this.#slabs.released(slab, bytes);
    }
    // Change records start a fresh slab: the one being filled may hold records just dropped.
    this.#slabs.restartChangeWriter();
    writer.restart();
    this.#scopes.snapshotSwapped(type, scope);
    pending.status = "finished";
    this.#pending.delete(pending);

    return built.map(({ table, old, upserts, deletes }) => ({
      kind: old === undefined ? "snapshot" : "resync",
      type: table.type,
      serverVersion: scope.serverVersion,
      recordVersion: scope.recordVersion,
      upserts,
      deletes,
    }));
  }

  /**
   * The differences between a side table and the held one, in slices: held records the
   * snapshot lacks are deletes, unless the same server holds them newer than the listing's
   * horizon (then kept, like a held record at or above the incoming version); and for a lagging
   * snapshot, listed records the replica knows to be deleted (remembered, or at or below its
   * floor and not held) stay out.
   */
  *#diffSteps(s: SideTable, merge: SnapshotMerge): Generator<void, BuiltTable, void> {
    const { table, old } = s;
    const { horizon, lagging } = merge;
    const sameServer = old !== undefined && this.#scopes.held(table.type)?.serverVersion === merge.serverVersion;
    const keeps: CachedRecord[] = [];
    const deletes: CachedRecord[] = [];
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
        const next = table.get(previous.id);
        if (next === undefined) {
          if (sameServer && previous.version > horizon) keeps.push(previous);
          else {
            deletes.push(previous);
            drop(previous);
          }
        } else if (next !== previous) {
          if (sameServer && previous.version >= next.version) {
            keeps.push(previous);
            (replaced ??= new Set()).add(previous.id);
          } else {
            drop(previous);
          }
        }
      }
      if (deadSlab !== undefined) dead.set(deadSlab, (dead.get(deadSlab) ?? 0) + deadBytes);
    }
    let upserts = s.upserts;
    if (!s.exact || replaced !== undefined || lagging !== undefined) {
      const filtered: CachedRecord[] = [];
      let n = 0;
      for (const record of upserts) {
        if ((++n & SLICE_MASK) === 0) yield;
        if (table.get(record.id) !== record || replaced?.has(record.id) === true) continue;
        const before = old?.get(record.id);
        if (before === record || (before !== undefined && sameContentAs(before, record))) continue;
        if (lagging !== undefined && old?.get(record.id) === undefined && staleForLaggingSnapshot(lagging, record)) {
          table.delete(record.id);
          const slab = recordSlab(record);
          dead.set(slab, (dead.get(slab) ?? 0) + record.dataLength);
          continue;
        }
        filtered.push(record);
      }
      upserts = filtered;
    }
    return { table, old, keeps, upserts, deletes, dead };
  }

  #applyChange(event: ChangeEvent): ChangeBatch[] {
    // Check everything first so a bad event changes nothing.
    for (const raw of event.records) {
      const scope = this.#scopes.scopeFor(raw.type);
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
      const scope = this.#scopes.scopeFor(raw.type);
      if (scope === undefined) continue; // a type no snapshot covers
      if (raw.version <= scope.floor) continue; // settled: a replay from before the floor
      const replay = raw.version <= scope.recordVersion;
      if (!replay) scope.recordVersion = raw.version;
      if (this.#pending.size > 0) this.#touchedLive(raw.type);
      let table = this.#tables.get(raw.type);
      const held = table?.get(raw.id);
      // Per record, only a newer version applies: what is held, or the deletion remembered.
      if (held !== undefined) {
        if (raw.version <= held.version) continue;
      } else if (replay) {
        const deletedAt = scope.deletions.deletedAt(raw.type, raw.id);
        if (deletedAt !== undefined && raw.version <= deletedAt) continue;
      }
      // A malformed update is not usable: it removes what was held, like a delete (a replay of
      // one is not reported again).
      const data = raw.deletedAt !== undefined ? undefined : this.#intake.keptData(raw, !replay);
      const removes = data === undefined;
      if (removes) rememberDeletion(scope, raw);
      if (removes && held === undefined) continue; // tombstone for an unknown id
      if (table === undefined) {
        // A new type under an all-types snapshot.
        table = new TypeTable(raw.type, this.#indexes.definitions(raw.type), undefined);
        this.#tables.set(raw.type, table);
        this.#scopes.cover(raw.type, scope);
      }
      let touched = before.get(raw.type);
      if (touched === undefined) before.set(raw.type, (touched = new Map()));
      if (!touched.has(raw.id)) touched.set(raw.id, held);
      if (removes) table.delete(raw.id);
      else table.put(createRecord(raw, table.type, this.#intake.typeUrl(raw.typeUrl), data, this.#slabs.changeWriter));
      if (held !== undefined) this.#slabs.released(recordSlab(held), held.dataLength);
    }

    this.#slabs.compactOne();
    const batches: ChangeBatch[] = [];
    for (const [type, touched] of before) {
      const table = this.#tables.get(type) as TypeTable;
      const upserts: CachedRecord[] = [];
      const deletes: CachedRecord[] = [];
      for (const [id, previous] of touched) {
        const now = table.get(id);
        if (now === previous) continue;
        if (now !== undefined) upserts.push(now);
        else if (previous !== undefined) deletes.push(previous);
      }
      if (upserts.length === 0 && deletes.length === 0) continue;
      const scope = this.#scopes.held(type) as SyncScope;
      batches.push({ kind: "change", type, serverVersion: scope.serverVersion, recordVersion: scope.recordVersion, upserts, deletes });
    }
    return batches;
  }

  #applyOptions(event: OptionsEvent): void {
    if (this.#scopes.scopeFor(event.type) === undefined) return;
    if (this.#pending.size > 0) this.#touchedLive(event.type);
    let table = this.#tables.get(event.type);
    if (table === undefined) {
      table = new TypeTable(event.type, this.#indexes.definitions(event.type), undefined);
      this.#tables.set(event.type, table);
      this.#scopes.cover(event.type, this.#scopes.scopeFor(event.type) as SyncScope);
    }
    // New indexable_fields re-index the live table in slices; reads use the old indexes meanwhile.
    const build = table.beginOptions(event.options);
    if (build !== undefined) this.#indexBuilds.start(build);
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

/**
 * A record a lagging snapshot lists but the replica does not hold is stale when the replica has
 * seen it deleted at or after its version, or when its version is at or below the floor (every
 * change up to the floor is reflected, so a live record there would be held).
 */
function staleForLaggingSnapshot(scope: SyncScope, record: CachedRecord): boolean {
  if (record.version <= scope.floor) return true;
  const deletedAt = scope.deletions.deletedAt(record.type, record.id);
  return deletedAt !== undefined && record.version <= deletedAt;
}

/** Same type and same bytes: what a subscriber could see of the record is the same. */
function sameContentAs(a: CachedRecord, b: CachedRecord): boolean {
  return a.typeUrl === b.typeUrl && sameBytes(a, recordBytes(b));
}
